package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alsobought/alsobought/event"
)

// GrowthReport is the outcome of RunGrowth: how the state grows as a long
// stream is applied, sampled at every interval of event time (issue 17:
// bounded state must stop growing after the age horizon).
type GrowthReport struct {
	Dataset string `json:"dataset"`
	// Label names the run in a plot of several (the command gives its
	// -history-max-age).
	Label      string `json:"label"`
	Events     int    `json:"events"`
	Customers  int    `json:"customers"`
	Items      int    `json:"items"`
	Partitions int    `json:"partitions"`
	Topic      string `json:"topic"`  // deleted at the end
	Prefix     string `json:"prefix"` // deleted at the end
	// SampleEverySeconds is the interval of event time between samples.
	SampleEverySeconds float64 `json:"sample_every_seconds"`
	WallSeconds        float64 `json:"wall_seconds"` // from serve ready to the last sample

	// What the pipeline cost over the whole stream: the sum over the
	// intervals of produce, apply and re-score, the samples left out.
	RedisCmdsPerEvent     Figure  `json:"redis_cmds_per_event"`
	RedisCPUSecPerMillion Figure  `json:"redis_cpu_sec_per_million"`
	ServeCPUSecPerMillion Figure  `json:"serve_cpu_sec_per_million"`
	StateChangesPerEvent  Figure  `json:"state_changes_per_event"`
	ListsRescoredPerEvent Figure  `json:"lists_rescored_per_event"`
	EventsApplied         float64 `json:"events_applied"`
	EventsDeadLettered    float64 `json:"events_dead_lettered"`

	// used_memory is server-wide: its value before serve started is the
	// baseline of other clients' keys, and other clients' rate before and
	// after the run says whether they moved it meanwhile (see Report).
	RedisUsedMemoryAtStartBytes float64 `json:"redis_used_memory_at_start_bytes"`
	RedisOtherCmdsPerSecBefore  float64 `json:"redis_other_cmds_per_sec_before"`
	RedisOtherCmdsPerSecAfter   float64 `json:"redis_other_cmds_per_sec_after"`
	RedisShared                 bool    `json:"redis_shared"`
	MemoryMethod                string  `json:"memory_method"`

	Samples []GrowthSample `json:"samples"`
}

// GrowthSample is the state once every event before Until is applied and
// no list is dirty.
type GrowthSample struct {
	Day             float64   `json:"day"` // event time since the first interval's start, in days
	Until           time.Time `json:"until"`
	Events          int       `json:"events"`                  // produced and applied so far
	UsedMemoryBytes float64   `json:"redis_used_memory_bytes"` // INFO memory, the whole server
	StateBytes      int64     `json:"redis_state_bytes"`       // MEMORY USAGE of every key of the prefix
	Keys            int       `json:"keys"`                    // of the prefix
	CustomerKeys    int       `json:"customer_keys"`
	ItemKeys        int       `json:"item_keys"`
	WallSeconds     float64   `json:"wall_seconds"` // since serve was ready
	// SampleSeconds is the time this sample took to read (the SCAN and
	// MEMORY USAGE of every key grow with the state); the rest of an
	// interval's wall time is producing, applying and re-scoring.
	SampleSeconds float64 `json:"sample_seconds"`
}

// interval is the events of one sampling interval of event time, all
// before until.
type interval struct {
	until time.Time
	evs   []event.Event
}

// intervals cuts time-sorted events at every multiple of every (from the
// zero time, so a day is a UTC day), from the one at or before the first
// event to the first after the last. An interval without events is kept:
// its sample says what time alone did.
func intervals(evs []event.Event, every time.Duration) []interval {
	if len(evs) == 0 {
		return nil
	}
	var out []interval
	until := evs[0].Time.Truncate(every).Add(every)
	for i := 0; i < len(evs); until = until.Add(every) {
		j := i
		for j < len(evs) && evs[j].Time.Before(until) {
			j++
		}
		out = append(out, interval{until: until, evs: evs[i:j]})
		i = j
	}
	return out
}

// RunGrowth streams time-sorted events through serve one interval of
// event time (every) at a time, each produced as fast as the broker takes
// it and waited for until applied and no list is dirty (progress in Redis,
// never the clock), and then samples Redis: used_memory, and the keys of
// the state's prefix with their MEMORY USAGE. The change feed is off:
// publishing is not what is measured.
func RunGrowth(ctx context.Context, cfg Config, dataset string, evs []event.Event, every time.Duration) (GrowthReport, error) {
	if err := cfg.Validate(); err != nil {
		return GrowthReport{}, err
	}
	if every <= 0 {
		return GrowthReport{}, errors.New("growth: the sampling interval must be positive")
	}
	if len(evs) == 0 {
		return GrowthReport{}, errors.New("growth: no events")
	}
	rep := GrowthReport{Dataset: dataset, Events: len(evs), Partitions: cfg.Partitions, SampleEverySeconds: every.Seconds(),
		MemoryMethod: "used_memory from INFO memory (server-wide); keys and MEMORY USAGE <key> SAMPLES 0 of every key of the prefix (SCAN MATCH)"}
	rep.Customers, rep.Items, _ = distinct(evs)
	parts := intervals(evs, every)

	s, err := newState(ctx, &cfg, "grow")
	if err != nil {
		return rep, err
	}
	rep.Topic, rep.Prefix = s.Topic, s.Prefix
	defer s.cleanup()
	rdb := s.Store.Client()
	atStart, before, err := otherLoad(ctx, rdb)
	if err != nil {
		return rep, err
	}
	rep.RedisOtherCmdsPerSecBefore, rep.RedisUsedMemoryAtStartBytes = before, atStart.usedMemory
	cfg.logf("growth: %d events in %d intervals of %s; serve on topic %s, prefix %s", len(evs), len(parts), every, s.Topic, s.Prefix)
	c, err := s.serve(ctx, false)
	if err != nil {
		return rep, err
	}
	defer c.stop()

	start := time.Now()
	first := parts[0].until.Add(-every)
	var cost phaseResult
	var busy float64 // seconds of produce, apply and re-score: the pipeline's rate is over these
	applied := 0
	for k, part := range parts {
		if len(part.evs) > 0 {
			ph, err := s.phase(ctx, c, part.evs, 0)
			if err != nil {
				return rep, fmt.Errorf("interval to %s: %w", part.until.Format(time.RFC3339), err)
			}
			cost.add(ph)
			busy += ph.caughtUp.Seconds()
			applied += len(part.evs)
		}
		began := time.Now()
		sample, err := sampleGrowth(ctx, s, applied)
		if err != nil {
			return rep, err
		}
		sample.SampleSeconds = time.Since(began).Seconds()
		sample.Day = part.until.Sub(first).Hours() / 24
		sample.Until = part.until
		sample.WallSeconds = time.Since(start).Seconds()
		rep.Samples = append(rep.Samples, sample)
		if k%max(1, len(parts)/20) == 0 || k == len(parts)-1 {
			cfg.logf("growth: day %.0f, %d events: used_memory %.1f MB, %d keys (%d customers), state %.1f MB; %.0fs",
				sample.Day, applied, sample.UsedMemoryBytes/1e6, sample.Keys, sample.CustomerKeys, float64(sample.StateBytes)/1e6, sample.WallSeconds)
		}
	}
	rep.WallSeconds = time.Since(start).Seconds()
	n := float64(len(evs))
	rep.RedisCmdsPerEvent = ratio(cost.redis.commands, n)
	rep.RedisCPUSecPerMillion = perMillion(cost.redis.cpu, len(evs))
	rep.ServeCPUSecPerMillion = perMillion(cost.serveCPU, len(evs))
	rep.StateChangesPerEvent = ratio(cost.changes, n)
	rep.ListsRescoredPerEvent = ratio(cost.rescored, n)
	rep.EventsApplied, rep.EventsDeadLettered = cost.appliedEvents, cost.deadLettered
	c.stop()
	if _, rep.RedisOtherCmdsPerSecAfter, err = otherLoad(ctx, rdb); err != nil {
		return rep, err
	}
	rep.RedisShared = max(rep.RedisOtherCmdsPerSecBefore, rep.RedisOtherCmdsPerSecAfter) > 0.01*cost.redis.commands/busy
	c.removeLog()
	return rep, nil
}

// add sums the costs of another phase into r.
func (r *phaseResult) add(o phaseResult) {
	r.redis.commands += o.redis.commands
	r.redis.cpu += o.redis.cpu
	r.serveCPU += o.serveCPU
	r.changes += o.changes
	r.rescored += o.rescored
	r.appliedEvents += o.appliedEvents
	r.deadLettered += o.deadLettered
}

// sampleGrowth reads the state's size: used_memory, then the keys of the
// prefix and their memory.
func sampleGrowth(ctx context.Context, s *state, events int) (GrowthSample, error) {
	rdb := s.Store.Client()
	info, err := readRedisStats(ctx, rdb)
	if err != nil {
		return GrowthSample{}, err
	}
	mem, err := measureMemory(ctx, rdb, s.Prefix)
	if err != nil {
		return GrowthSample{}, err
	}
	return GrowthSample{Events: events, UsedMemoryBytes: info.usedMemory, StateBytes: mem.customerBytes + mem.itemBytes + mem.globalBytes,
		Keys: mem.customerKeys + mem.itemKeys + mem.globalKeys, CustomerKeys: mem.customerKeys, ItemKeys: mem.itemKeys}, nil
}
