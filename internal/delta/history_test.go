package delta

import (
	"slices"
	"testing"
	"time"
)

func TestHistoryTouch(t *testing.T) {
	tests := []struct {
		name        string
		start       []string
		item        string
		capacity    int
		want        []string
		wantAdded   bool
		wantEvicted string
	}{
		{"new item into empty", nil, "a", 3, []string{"a"}, true, ""},
		{"new item appended as most recent", []string{"a", "b"}, "c", 3, []string{"a", "b", "c"}, true, ""},
		{"repeat only refreshes recency", []string{"a", "b", "c"}, "a", 3, []string{"b", "c", "a"}, false, ""},
		{"repeat of most recent changes nothing", []string{"a", "b"}, "b", 3, []string{"a", "b"}, false, ""},
		{"full history evicts least recent", []string{"a", "b", "c"}, "d", 3, []string{"b", "c", "d"}, true, "a"},
		{"capacity one replaces", []string{"a"}, "b", 1, []string{"b"}, true, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := History{Items: slices.Clone(tc.start)}
			added, evicted := h.Touch(tc.item, 1_700_000_000_000, tc.capacity)
			if !slices.Equal(h.Items, tc.want) || added != tc.wantAdded || evicted != tc.wantEvicted {
				t.Fatalf("Touch(%q) on %v = %v added=%v evicted=%q; want %v added=%v evicted=%q",
					tc.item, tc.start, h.Items, added, evicted, tc.want, tc.wantAdded, tc.wantEvicted)
			}
			if got, err := DecodeHistory(h.Encode()); err != nil || !slices.Equal(got.Items, h.Items) || !slices.Equal(got.Times, h.Times) {
				t.Fatalf("encode/decode round trip: %v at %v != %v at %v (%v)", got.Items, got.Times, h.Items, h.Times, err)
			}
		})
	}
}

// TestHistoryEntryTimes: a new entry takes its event's time, a repeat keeps
// the later of its old time and the event's (a late event does not make an
// entry older), and eviction drops the evicted entry's time with it.
func TestHistoryEntryTimes(t *testing.T) {
	var h History
	h.Touch("a", 100, 3)
	h.Touch("b", 200, 3)
	h.Touch("a", 150, 3) // late repeat: recency moves, the time stays 150 > 100
	h.Touch("b", 120, 3) // later repeat, earlier time: b keeps 200
	h.Touch("c", 300, 3)
	h.Touch("d", 400, 3) // evicts a (least recent)
	if want := []string{"b", "c", "d"}; !slices.Equal(h.Items, want) || !slices.Equal(h.Times, []int64{200, 300, 400}) {
		t.Fatalf("history %v at %v, want %v at [200 300 400]", h.Items, h.Times, want)
	}
}

// TestHistoryAge: an event at time t holds the entries of time t - age or
// later; the others leave, the rest keep their order.
func TestHistoryAge(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	at := time.UnixMilli(10 * hour)
	tests := []struct {
		name  string
		times []int64
		age   time.Duration
		gone  []string
		kept  []string
	}{
		{"ageing off keeps everything", []int64{0, hour, 9 * hour}, 0, nil, []string{"a", "b", "c"}},
		{"entry exactly at t - age is held", []int64{8 * hour, 9 * hour, 10 * hour}, 2 * time.Hour, nil, []string{"a", "b", "c"}},
		{"entry 1 ms before t - age leaves", []int64{8*hour - 1, 9 * hour, 10 * hour}, 2 * time.Hour, []string{"a"}, []string{"b", "c"}},
		{"out-of-order times: only the old ones leave", []int64{9 * hour, hour, 10 * hour}, 2 * time.Hour, []string{"b"}, []string{"a", "c"}},
		{"everything aged", []int64{0, hour, 2 * hour}, time.Hour, []string{"a", "b", "c"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := History{Items: []string{"a", "b", "c"}, Times: slices.Clone(tc.times)}
			gone := h.Age(at, tc.age)
			if !slices.Equal(gone, tc.gone) || !slices.Equal(h.Items, tc.kept) || len(h.Times) != len(h.Items) {
				t.Fatalf("Age: gone %v, kept %v at %v; want gone %v, kept %v", gone, h.Items, h.Times, tc.gone, tc.kept)
			}
		})
	}
}
