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
		Skipped: 1, Rejected: []Rejected{{}, {}}})
	c.stats.observeBatch(3, BatchResult{Applied: map[event.Type]int{event.Purchase: 3}})
	if got, want := c.Stats(), (Stats{Consumed: 9, Applied: 6, DeadLettered: 2}); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}
