package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/store"
)

// SweepStore is what the consumer needs of forgetting's state
// (store.Sweeps).
type SweepStore interface {
	ReadClock(ctx context.Context) (store.Clock, error)
	MarkIdle(ctx context.Context, partition int) error
	Due(ctx context.Context, partition int, cut int64, limit int) (age, erase []string, oldest int64, err error)
	Apply(ctx context.Context, plan store.SweepPlan, planRecorded bool, b *delta.Batch, customers []store.CustomerUpdate, recorded int64, tombstoneTTL time.Duration) error
}

// DefaultSweepInterval is how often a partition looks for customers to age
// out or erase.
const DefaultSweepInterval = 10 * time.Second

// sweepLimit is how many customers one sweep takes, and sweepRounds how
// many sweeps run back to back before the partition returns to its events:
// a backlog of due customers is worked off between batches without
// holding the events back for long.
const (
	sweepLimit  = 500
	sweepRounds = 4
)

// partitionSweeper is one partition's sweep schedule (docs/DESIGN.md
// section 10): the owner of a partition ages the customers of that
// partition's age index and erases those whose erasure was requested,
// between its batches, so a sweep never races the partition's own events.
type partitionSweeper struct {
	partition int
	last      time.Time // when the sweeps last ran
	idle      bool      // the idle mark is set
	// lateBefore: an event older than this (unix ms) is late: a sweep may
	// have removed entries it would have held (0: none is).
	lateBefore int64
}

// due reports whether the partition should sweep now.
func (s *partitionSweeper) due(interval time.Duration) bool {
	return time.Since(s.last) >= interval
}

// sweep runs up to sweepRounds sweeps of the partition: first the one a
// previous owner left unfinished, if any, then new ones while customers are
// due. recorded is the partition's acknowledged progress, as for a batch.
func (c *Consumer) sweep(ctx context.Context, s *partitionSweeper, recorded int64) error {
	age := c.cfg.HistoryMaxAge.Milliseconds()
	lateness := c.cfg.AllowedLateness.Milliseconds()
	for round := 0; round < sweepRounds; round++ {
		clock, err := c.sweeps.ReadClock(ctx)
		if err != nil {
			return err
		}
		w, ok := clock.Watermark()
		if ok && age > 0 {
			s.lateBefore = w - lateness
		}
		plan, pending := clock.Plans[s.partition]
		if a, ok := clock.Attempted[s.partition]; ok && !pending && a > recorded {
			// A batch was cut short by a crash: some of its customers have
			// their counter changes in and their state not. Ageing them now
			// would retract from a state their replay no longer matches;
			// the sweep waits until the batches have passed that point.
			return nil
		}
		if !pending {
			var cut int64
			if ok && age > 0 {
				cut = w - age - lateness
			}
			ids, erase, oldest, err := c.sweeps.Due(ctx, s.partition, cut, sweepLimit)
			if err != nil {
				return err
			}
			if round == 0 && cut != 0 {
				// Where the sweeps stand before this interval's work: how
				// much older than the cut the oldest held entry is.
				c.metrics.observeSweepBehind(s.partition, cut, oldest)
			}
			if len(ids)+len(erase) == 0 {
				return nil
			}
			plan = store.SweepPlan{Seq: clock.Sweeps[s.partition] + 1, Watermark: w, Cut: cut, Customers: ids, Erase: erase}
		}
		if err := c.applySweep(ctx, s.partition, plan, pending, recorded); err != nil {
			return err
		}
		if !pending && len(plan.Customers) < sweepLimit && len(plan.Erase) < sweepLimit {
			return nil
		}
	}
	return nil
}

// applySweep ages or erases the customers of a plan and writes the result.
// A customer the plan's sequence has reached already (a sweep finished
// after a crash) is left as it is.
func (c *Consumer) applySweep(ctx context.Context, partition int, plan store.SweepPlan, pending bool, recorded int64) error {
	bs, err := c.apply.store.LoadState(ctx, partition, plan.All())
	if err != nil {
		return err
	}
	if bs.Progress < recorded {
		return &store.ProgressLostError{Partition: partition, Stored: bs.Progress, Recorded: recorded}
	}
	erase := make(map[string]bool, len(plan.Erase))
	for _, id := range plan.Erase {
		erase[id] = true
	}
	b := delta.NewBatch(partition)
	b.Bins, b.MinSupport = c.apply.bins, c.apply.minSupport
	updates := make([]store.CustomerUpdate, 0, len(bs.Customers))
	var aged, erased, deleted int
	for _, id := range plan.All() {
		cu := bs.Customers[id]
		if cu.SweptBy(partition, plan.Seq) {
			continue
		}
		u := store.CustomerUpdate{ID: id, Purchases: cu.Purchases, Views: cu.Views, Recent: cu.Recent,
			Offset: plan.Seq, IndexAge: c.cfg.HistoryMaxAge > 0}
		if erase[id] {
			b.Erase(&u.Purchases, &u.Views, plan.Seq)
			erased++
		} else {
			b.Sweep(&u.Purchases, &u.Views, plan.Cut, plan.Seq)
			aged++
		}
		if len(u.Purchases.Items) == 0 && len(u.Views.Items) == 0 {
			// Deleted: what is left is the tombstone of its fences.
			u.Recent = delta.Recent{}
			deleted++
		}
		updates = append(updates, u)
	}
	if err := c.sweeps.Apply(ctx, plan, pending, b, updates, recorded, c.cfg.TombstoneTTL); err != nil {
		return err
	}
	c.metrics.observeSweep(aged, erased, deleted, b.Changes)
	return nil
}

// sweepIfDue runs the partition's sweeps when their interval has passed.
// The partition's events wait while it fails: a sweep left half written
// must be finished before any batch, and a Redis that fails the sweep fails
// batches too.
func (c *Consumer) sweepIfDue(ctx context.Context, s *partitionSweeper, recorded int64) error {
	if !s.due(c.cfg.SweepInterval) {
		return nil
	}
	if err := c.sweep(ctx, s, recorded); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	s.last = time.Now()
	c.stats.swept.Store(s.partition, s.last)
	return nil
}

// markIdle records, once per idle spell, that the partition has applied
// everything it holds, so that it does not hold the watermark back.
func (c *Consumer) markIdle(ctx context.Context, s *partitionSweeper) {
	if s.idle || c.cfg.HistoryMaxAge <= 0 {
		return
	}
	if err := c.sweeps.MarkIdle(ctx, s.partition); err != nil {
		c.countFailure(err)
		return
	}
	s.idle = true
}
