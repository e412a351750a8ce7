package consumer

import "sync/atomic"

// Stats are the consumer's totals since it was built: what the status page
// shows, read from the consumer rather than back from the metrics registry.
// They count what alsobought_events_consumed_total,
// alsobought_events_applied_total and
// alsobought_events_dead_lettered_total count, summed over their labels.
type Stats struct {
	Consumed     uint64 // messages read, valid or not
	Applied      uint64 // events that changed the state
	DeadLettered uint64 // events written to the dead-letter topic
}

// stats are the totals of Stats, updated as batches are processed.
type stats struct {
	consumed, applied, deadLettered atomic.Uint64
}

func (s *stats) observeBatch(consumed int, res BatchResult) {
	s.consumed.Add(uint64(consumed))
	var applied int
	for _, n := range res.Applied {
		applied += n
	}
	s.applied.Add(uint64(applied))
	s.deadLettered.Add(uint64(len(res.Rejected)))
}

// Stats returns the consumer's totals so far.
func (c *Consumer) Stats() Stats {
	return Stats{Consumed: c.stats.consumed.Load(), Applied: c.stats.applied.Load(), DeadLettered: c.stats.deadLettered.Load()}
}
