package consumer

import (
	"sync"
	"sync/atomic"

	"github.com/alsobought/alsobought/event"
)

// Stats are the consumer's totals since it was built: what the status page
// shows, read from the consumer rather than back from the metrics registry.
// They count what alsobought_events_consumed_total,
// alsobought_events_applied_total and
// alsobought_events_dead_lettered_total count, summed over their labels.
type Stats struct {
	Consumed     uint64 // messages read, valid or not
	Applied      uint64 // events that changed the state
	DeadLettered uint64 // events and catalogue records written to the dead-letter topic
	// DeadLetteredBy splits DeadLettered by reason: every reason of
	// event.Reasons, at 0 when none came.
	DeadLetteredBy map[event.Reason]uint64
}

// stats are the totals of Stats, updated as batches are processed.
type stats struct {
	consumed, applied, deadLettered atomic.Uint64
	byReason                        sync.Map // event.Reason -> *atomic.Uint64
}

func (s *stats) observeBatch(consumed int, res BatchResult) {
	s.consumed.Add(uint64(consumed))
	var applied int
	for _, n := range res.Applied {
		applied += n
	}
	s.applied.Add(uint64(applied))
	s.observeDeadLetters(res.Rejected)
}

// observeDeadLetters counts dead letters, of events or catalogue records.
func (s *stats) observeDeadLetters(bad []Rejected) {
	for _, r := range bad {
		n, _ := s.byReason.LoadOrStore(r.Reason, new(atomic.Uint64))
		n.(*atomic.Uint64).Add(1)
	}
	s.deadLettered.Add(uint64(len(bad)))
}

// Stats returns the consumer's totals so far.
func (c *Consumer) Stats() Stats {
	st := Stats{Consumed: c.stats.consumed.Load(), Applied: c.stats.applied.Load(), DeadLettered: c.stats.deadLettered.Load(),
		DeadLetteredBy: map[event.Reason]uint64{}}
	for _, r := range event.Reasons() {
		st.DeadLetteredBy[r] = 0
	}
	c.stats.byReason.Range(func(r, n any) bool {
		st.DeadLetteredBy[r.(event.Reason)] = n.(*atomic.Uint64).Load()
		return true
	})
	return st
}
