package verify

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/oracle"
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
