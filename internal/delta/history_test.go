package delta

import (
	"slices"
	"testing"
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
			added, evicted := h.Touch(tc.item, tc.capacity)
			if !slices.Equal(h.Items, tc.want) || added != tc.wantAdded || evicted != tc.wantEvicted {
				t.Fatalf("Touch(%q) on %v = %v added=%v evicted=%q; want %v added=%v evicted=%q",
					tc.item, tc.start, h.Items, added, evicted, tc.want, tc.wantAdded, tc.wantEvicted)
			}
			if got := DecodeHistory(h.Encode()); !slices.Equal(got.Items, h.Items) {
				t.Fatalf("encode/decode round trip: %v != %v", got.Items, h.Items)
			}
		})
	}
}
