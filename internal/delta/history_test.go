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
			added, evicted := h.Touch(tc.item, 1_700_000_000_000, 9, tc.capacity)
			if !slices.Equal(h.Items, tc.want) || added != tc.wantAdded || evicted != tc.wantEvicted {
				t.Fatalf("Touch(%q) on %v = %v added=%v evicted=%q; want %v added=%v evicted=%q",
					tc.item, tc.start, h.Items, added, evicted, tc.want, tc.wantAdded, tc.wantEvicted)
			}
			if got, err := DecodeHistory(h.Encode()); err != nil || !slices.Equal(got.Items, h.Items) || !slices.Equal(got.Times, h.Times) || !slices.Equal(got.Seqs, h.Seqs) || !slices.Equal(got.Counts, h.Counts) {
				t.Fatalf("encode/decode round trip: %v at %v seq %v count %v != %v at %v seq %v count %v (%v)",
					got.Items, got.Times, got.Seqs, got.Counts, h.Items, h.Times, h.Seqs, h.Counts, err)
			}
		})
	}
}

// TestHistoryEntryTimes: a new entry takes its event's time and sequence
// number, a repeat keeps the later of its old time and the event's (a late
// event does not make an entry older) and its sequence number, and eviction
// drops the evicted entry's time and number with it.
func TestHistoryEntryTimes(t *testing.T) {
	var h History
	h.Touch("a", 100, 1, 3)
	h.Touch("b", 200, 2, 3)
	h.Touch("a", 150, 3, 3) // late repeat: recency moves, the time stays 150 > 100, the seq 1
	h.Touch("b", 120, 4, 3) // later repeat, earlier time: b keeps 200 and seq 2
	h.Touch("c", 300, 5, 3)
	h.Touch("d", 400, 6, 3) // evicts a (least recent)
	if want := []string{"b", "c", "d"}; !slices.Equal(h.Items, want) || !slices.Equal(h.Times, []int64{200, 300, 400}) || !slices.Equal(h.Seqs, []int64{2, 5, 6}) {
		t.Fatalf("history %v at %v seq %v, want %v at [200 300 400] seq [2 5 6]", h.Items, h.Times, h.Seqs, want)
	}
	if !slices.Equal(h.Counts, []int64{2, 1, 1}) {
		t.Fatalf("counts %v, want [2 1 1]", h.Counts)
	}
}

// TestHistoryCounts: an entry counts its events while it is held; one that
// left (evicted or aged) and comes back starts again at 1, and the counts
// survive the stored form.
func TestHistoryCounts(t *testing.T) {
	var h History
	for i, it := range []string{"a", "a", "b", "a", "c", "b", "b"} {
		h.Touch(it, int64(100*(i+1)), int64(i+1), 3)
	}
	if !slices.Equal(h.Items, []string{"a", "c", "b"}) || !slices.Equal(h.Counts, []int64{3, 1, 3}) {
		t.Fatalf("history %v count %v, want [a c b] count [3 1 3]", h.Items, h.Counts)
	}
	h.Touch("d", 800, 8, 3) // evicts a with its count
	h.Touch("a", 900, 9, 3) // a comes back new, evicting c
	if !slices.Equal(h.Items, []string{"b", "d", "a"}) || !slices.Equal(h.Counts, []int64{3, 1, 1}) {
		t.Fatalf("history %v count %v, want [b d a] count [3 1 1]", h.Items, h.Counts)
	}
	if gone := h.Age(time.UnixMilli(1000), 150*time.Millisecond); !slices.Equal(gone, []string{"b", "d"}) || !slices.Equal(h.Counts, []int64{1}) {
		t.Fatalf("aged %v, left count %v", gone, h.Counts)
	}
	got, err := DecodeHistory(h.Clone().Encode())
	if err != nil || !slices.Equal(got.Counts, h.Counts) {
		t.Fatalf("round trip counts %v, want %v (%v)", got.Counts, h.Counts, err)
	}
}

// TestNextSeq: the next entry sequence number is one more than any entry
// of either history holds, so a new entry is ordered after every retained
// one whichever history it enters; empty histories start at 1.
func TestNextSeq(t *testing.T) {
	tests := []struct {
		name string
		h, v *History
		want int64
	}{
		{"both empty", &History{}, &History{}, 1},
		{"nil view history", &History{Items: []string{"a"}, Seqs: []int64{4}}, nil, 5},
		{"the view history holds the newest", &History{Items: []string{"a", "b"}, Seqs: []int64{7, 2}}, &History{Items: []string{"x"}, Seqs: []int64{9}}, 10},
		{"the purchase history holds the newest, out of recency order", &History{Items: []string{"a", "b"}, Seqs: []int64{7, 2}}, &History{Items: []string{"x"}, Seqs: []int64{3}}, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextSeq(tc.h, tc.v); got != tc.want {
				t.Fatalf("NextSeq = %d, want %d", got, tc.want)
			}
		})
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
