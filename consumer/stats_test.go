package consumer

import (
	"testing"

	"github.com/alsobought/alsobought/event"
)

// TestStatsCountEveryTypeAndReason: the status page's totals sum the
// applied events of every type and the dead letters of every reason, as
// the sums of the labelled metrics do.
func TestStatsCountEveryTypeAndReason(t *testing.T) {
	c := &Consumer{}
	c.stats.observeBatch(6, BatchResult{Applied: map[event.Type]int{event.Purchase: 2, event.View: 1},
		Skipped: 1, Rejected: []Rejected{{Reason: event.ReasonInvalidJSON}, {Reason: event.ReasonInvalidJSON}}})
	c.stats.observeBatch(3, BatchResult{Applied: map[event.Type]int{event.Purchase: 3}})
	c.stats.observeDeadLetters([]Rejected{{Reason: event.ReasonBadWindow}}) // a catalogue record
	got := c.Stats()
	if got.Consumed != 9 || got.Applied != 6 || got.DeadLettered != 3 {
		t.Fatalf("Stats() = %+v, want 9 consumed, 6 applied, 3 dead-lettered", got)
	}
	for _, r := range event.Reasons() {
		want := map[event.Reason]uint64{event.ReasonInvalidJSON: 2, event.ReasonBadWindow: 1}[r]
		if n, ok := got.DeadLetteredBy[r]; !ok || n != want {
			t.Errorf("dead-lettered %s: %d (present: %v), want %d", r, n, ok, want)
		}
	}
}
