package verify

import (
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/store"
)

// TestCompareStateSeesTheEverBoughtSet: a stored state equal to the
// oracle's passes; one whose ever-bought set differs (an item more, or
// the set lost) fails, though its history is the same.
func TestCompareStateSeesTheEverBoughtSet(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []event.Event
	for i, it := range []string{"a", "b", "c", "d"} {
		evs = append(evs, event.Event{ID: strconv.Itoa(i), Type: event.Purchase, CustomerID: "ann", ItemID: it,
			Time: t0.Add(time.Duration(i) * time.Minute)})
	}
	want := oracle.Build(evs, oracle.Settings{HistorySize: 2})
	if got := want.Histories["ann"].Ever; got.Len() != 2 || len(want.Ever["ann"]) != 2 || !got.Contains("a") || !got.Contains("b") {
		t.Fatalf("the oracle's ever-bought set of ann holds %d items (exact %v), want a and b", got.Len(), want.Ever["ann"])
	}
	if r := CompareState(want, want.Snapshot()); !r.OK() {
		t.Fatalf("the oracle's own snapshot differs:\n%s", r)
	}
	for name, corrupt := range map[string]func(h *delta.History){
		"an item more": func(h *delta.History) { h.Ever.Add("z", 0) },
		"lost":         func(h *delta.History) { h.Ever.Reset() },
		"newer":        func(h *delta.History) { h.Ever.Newest++ },
	} {
		snap := want.Snapshot()
		h := snap.Histories["ann"]
		corrupt(&h)
		snap.Histories["ann"] = h
		r := CompareState(want, snap)
		if r.HistoryMismatches != 1 || !strings.Contains(r.String(), "ever-bought set of customer ann") {
			t.Errorf("ever-bought set %s: %d history mismatches, report:\n%s", name, r.HistoryMismatches, r)
		}
	}
}

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
