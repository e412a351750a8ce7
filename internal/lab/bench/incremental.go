package bench

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/bootstrap"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/store/schema"
)

// IncrementalReport compares the two ways of bringing the lists up to date
// with a new day of events: applying that day through the pipeline, on a
// state that already holds everything before it, or rebuilding every list
// from all the events with the batch oracle (`alsobought bootstrap`).
type IncrementalReport struct {
	Dataset       string `json:"dataset"`
	Events        int    `json:"events"`
	HistoryEvents int    `json:"history_events"`  // before the last day
	LastDayEvents int    `json:"last_day_events"` // the last 24 hours of event time
	Customers     int    `json:"customers"`
	Items         int    `json:"items"`

	// Batch: oracle.Build of every event, State.Write, RescoreAll, into an
	// empty prefix, timed in this process.
	BatchSeconds        float64 `json:"batch_seconds"`
	BatchBuildSeconds   float64 `json:"batch_build_seconds"`
	BatchWriteSeconds   float64 `json:"batch_write_seconds"`
	BatchRescoreSeconds float64 `json:"batch_rescore_seconds"`
	BatchLists          int     `json:"batch_lists"`
	BatchCPUSeconds     float64 `json:"batch_cpu_seconds"` // this process
	BatchRedisCmds      float64 `json:"batch_redis_cmds"`
	// Redis's own CPU (used_cpu_sys + used_cpu_user), which neither
	// process's CPU counts: a change that moves work into Redis shows here.
	BatchRedisCPUSeconds float64 `json:"batch_redis_cpu_seconds"`

	// Incremental: the last day produced as fast as the broker takes it
	// and applied by serve, to zero lag and no dirty list.
	IncrementalSeconds        float64 `json:"incremental_seconds"`
	IncrementalAppliedSeconds float64 `json:"incremental_applied_seconds"`
	IncrementalCPUSeconds     float64 `json:"incremental_cpu_seconds"` // serve process
	IncrementalRedisCmds      float64 `json:"incremental_redis_cmds"`
	IncrementalRedisCPUSecs   float64 `json:"incremental_redis_cpu_seconds"`
	IncrementalListsRescored  float64 `json:"incremental_lists_rescored"`

	// Ratios: batch over incremental (how many times cheaper the
	// incremental way is).
	WallRatio     Figure `json:"wall_ratio"`
	CPURatio      Figure `json:"cpu_ratio"`
	RedisCmdRatio Figure `json:"redis_cmd_ratio"`

	// Setting up the incremental side (not part of the comparison): the
	// state of the history, built like the batch.
	BootstrapSeconds float64 `json:"bootstrap_seconds"`
	FeedOff          bool    `json:"feed_off"` // both sides run with the change feed off

	// Other clients of the same Redis (see Report): their command rate
	// before and after, and whether it distorts the Redis command counts.
	RedisOtherCmdsPerSecBefore float64 `json:"redis_other_cmds_per_sec_before"`
	RedisOtherCmdsPerSecAfter  float64 `json:"redis_other_cmds_per_sec_after"`
	RedisShared                bool    `json:"redis_shared"`
}

// LastDay is the span of event time streamed incrementally.
const LastDay = 24 * time.Hour

// SplitLastDay cuts time-sorted events into those before the last 24 hours
// of event time and those within it.
func SplitLastDay(evs []event.Event) (history, last []event.Event) {
	if len(evs) == 0 {
		return nil, nil
	}
	cut := evs[len(evs)-1].Time.Add(-LastDay)
	i := len(evs)
	for i > 0 && evs[i-1].Time.After(cut) {
		i--
	}
	return evs[:i], evs[i:]
}

// RunIncremental measures both ways on the same events. Both run with the
// list change feed off: publishing is not what is compared, and a rebuild
// would publish every list.
func RunIncremental(ctx context.Context, cfg Config, dataset string, evs []event.Event) (IncrementalReport, error) {
	if err := cfg.Validate(); err != nil {
		return IncrementalReport{}, err
	}
	if len(evs) < 2 {
		return IncrementalReport{}, fmt.Errorf("bench needs at least 2 events, got %d", len(evs))
	}
	history, last := SplitLastDay(evs)
	rep := IncrementalReport{Dataset: dataset, Events: len(evs), HistoryEvents: len(history), LastDayEvents: len(last), FeedOff: true}
	rep.Customers, rep.Items, _ = distinct(evs)
	if len(history) == 0 || len(last) == 0 {
		return rep, fmt.Errorf("the events span %s: need events before and within the last %s", evs[len(evs)-1].Time.Sub(evs[0].Time), LastDay)
	}

	s, err := newState(ctx, &cfg, "inc")
	if err != nil {
		return rep, err
	}
	defer s.cleanup()
	if _, rep.RedisOtherCmdsPerSecBefore, err = otherLoad(ctx, s.Store.Client()); err != nil {
		return rep, err
	}
	cfg.logf("batch: rebuilding from all %d events (oracle, write, re-score every list)", len(evs))
	if err := runBatch(ctx, &cfg, evs, &rep); err != nil {
		return rep, err
	}

	cfg.logf("incremental: bootstrapping %d events before the last day into %s", len(history), s.Prefix)
	boot, err := rebuild(ctx, &cfg, s, history)
	if err != nil {
		return rep, err
	}
	rep.BootstrapSeconds = boot.Took().Seconds()
	c, err := s.serve(ctx, false)
	if err != nil {
		return rep, err
	}
	defer c.stop()
	cfg.logf("incremental: streaming the last day, %d events", len(last))
	ph, err := s.phase(ctx, c, last, 0)
	if err != nil {
		return rep, err
	}
	rep.IncrementalSeconds = ph.caughtUp.Seconds()
	rep.IncrementalAppliedSeconds = ph.applied.Seconds()
	rep.IncrementalCPUSeconds = ph.serveCPU
	rep.IncrementalRedisCmds = ph.redis.commands
	rep.IncrementalRedisCPUSecs = ph.redis.cpu
	rep.IncrementalListsRescored = ph.rescored
	rep.WallRatio = ratio(rep.BatchSeconds, rep.IncrementalSeconds)
	rep.CPURatio = ratio(rep.BatchCPUSeconds, rep.IncrementalCPUSeconds)
	rep.RedisCmdRatio = ratio(rep.BatchRedisCmds, rep.IncrementalRedisCmds)
	c.stop()
	if _, rep.RedisOtherCmdsPerSecAfter, err = otherLoad(ctx, s.Store.Client()); err != nil {
		return rep, err
	}
	others := max(rep.RedisOtherCmdsPerSecBefore, rep.RedisOtherCmdsPerSecAfter)
	rep.RedisShared = others*rep.BatchSeconds > 0.01*rep.BatchRedisCmds || others*rep.IncrementalSeconds > 0.01*rep.IncrementalRedisCmds
	c.removeLog()
	return rep, nil
}

// runBatch times the rebuild from scratch into a fresh state.
func runBatch(ctx context.Context, cfg *Config, evs []event.Event, rep *IncrementalReport) error {
	s, err := newState(ctx, cfg, "batch")
	if err != nil {
		return err
	}
	defer s.cleanup()
	r0, err := readRedisStats(ctx, s.Store.Client())
	if err != nil {
		return err
	}
	cpu0 := selfCPU()
	res, err := rebuild(ctx, cfg, s, evs)
	if err != nil {
		return err
	}
	rep.BatchCPUSeconds = selfCPU() - cpu0
	r1, err := readRedisStats(ctx, s.Store.Client())
	if err != nil {
		return err
	}
	rep.BatchRedisCmds = r0.to(r1).commands
	rep.BatchRedisCPUSeconds = r0.to(r1).cpu
	rep.BatchBuildSeconds, rep.BatchWriteSeconds, rep.BatchRescoreSeconds = res.Build.Seconds(), res.Write.Seconds(), res.Rescore.Seconds()
	rep.BatchSeconds = res.Took().Seconds()
	rep.BatchLists = res.Lists
	return nil
}

// rebuild does what `alsobought bootstrap` does into s's empty prefix
// (with the outbox off, as the feed is off).
func rebuild(ctx context.Context, cfg *Config, s *state, evs []event.Event) (bootstrap.Result, error) {
	settings := maps.Clone(cfg.StateSettings)
	settings[schema.MetaTopic], settings[schema.MetaCatalogueTopic] = s.Topic, s.CatalogueTopic
	if err := s.Store.Meta.EnsureWithRowIndexes(ctx, settings, cfg.RowIndexSupport); err != nil {
		return bootstrap.Result{}, err
	}
	rs, err := rescore.New(rescore.Config{Method: cfg.Method, Rules: cfg.Rules}, rescore.StateOf(s.Store), zerolog.Nop(), nil)
	if err != nil {
		return bootstrap.Result{}, err
	}
	return bootstrap.Run(ctx, evs, cfg.Oracle, s.Store, rs)
}
