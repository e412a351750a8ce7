package verify

import (
	"maps"
	"testing"

	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/store"
)

// TestCompareRebuy: an item's purchase statistics must equal the oracle's,
// except that an item some purchase history lost in the replay (which the
// stream may have forgotten with its row) may count fewer, never more;
// erasure's comparison leaves them out (anonymous aggregates).
func TestCompareRebuy(t *testing.T) {
	stats := func(p int64, gaps ...int64) store.Rebuy {
		r := store.Rebuy{Purchases: p}
		copy(r.Gaps[:], gaps)
		return r
	}
	want := &oracle.State{
		Rebuy: map[string]store.Rebuy{"kept": stats(5, 2, 1), "lost": stats(5, 2, 1)},
		Left:  map[string]bool{"lost": true},
	}
	for _, tc := range []struct {
		name string
		got  map[string]store.Rebuy
		ok   bool
	}{
		{"equal", map[string]store.Rebuy{"kept": stats(5, 2, 1), "lost": stats(5, 2, 1)}, true},
		{"a lost item forgotten and bought again counts fewer", map[string]store.Rebuy{"kept": stats(5, 2, 1), "lost": stats(2, 0, 1)}, true},
		{"a lost item forgotten", map[string]store.Rebuy{"kept": stats(5, 2, 1)}, true},
		{"a lost item counting more", map[string]store.Rebuy{"kept": stats(5, 2, 1), "lost": stats(5, 3, 1)}, false},
		{"a kept item counting fewer", map[string]store.Rebuy{"kept": stats(4, 2, 1), "lost": stats(5, 2, 1)}, false},
		{"a kept item missing", map[string]store.Rebuy{"lost": stats(5, 2, 1)}, false},
		{"an item the oracle never saw bought", map[string]store.Rebuy{"kept": stats(5, 2, 1), "lost": stats(5, 2, 1), "new": stats(1)}, false},
	} {
		snap := store.NewSnapshot()
		snap.Rebuy = tc.got
		r := CompareState(want, snap)
		if r.OK() != tc.ok {
			t.Errorf("%s: OK %v, want %v\n%s", tc.name, r.OK(), tc.ok, r)
		}
		if fewer := r.OK() && !maps.Equal(want.Rebuy, tc.got); (r.RebuyFewer == 1) != fewer {
			t.Errorf("%s: %d items said to count fewer", tc.name, r.RebuyFewer)
		}
		if r := compareState(want, snap, true); !r.OK() {
			t.Errorf("%s: the attributable comparison compared the statistics\n%s", tc.name, r)
		}
	}
}
