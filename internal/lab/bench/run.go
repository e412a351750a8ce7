package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/obs"
)

// Report is the outcome of Run. Rates are per second of wall time; costs
// are per event. JSON names carry their unit.
type Report struct {
	Dataset    string `json:"dataset"`
	Events     int    `json:"events"`
	Purchases  int    `json:"purchases"`
	Customers  int    `json:"customers"`
	Items      int    `json:"items"`
	Partitions int    `json:"partitions"`
	Topic      string `json:"topic"`  // deleted at the end
	Prefix     string `json:"prefix"` // deleted at the end

	// Sustained phase: the first events, produced as fast as the broker
	// takes them.
	SustainedEvents     int     `json:"sustained_events"`
	ProduceSeconds      float64 `json:"produce_seconds"`
	AppliedSeconds      float64 `json:"applied_seconds"`   // produce start to zero applied lag
	CaughtUpSeconds     float64 `json:"caught_up_seconds"` // produce start to zero lag and no dirty list
	EventsPerSec        Figure  `json:"events_per_sec"`    // sustained_events / caught_up_seconds
	AppliedEventsPerSec Figure  `json:"applied_events_per_sec"`
	EventsApplied       float64 `json:"events_applied"` // serve's alsobought_events_applied_total, both phases
	EventsDeadLettered  float64 `json:"events_dead_lettered"`

	RedisCmdsPerEvent        Figure `json:"redis_cmds_per_event"` // total_commands_processed: commands inside scripts count
	RedisScriptCallsPerEvent Figure `json:"redis_script_calls_per_event"`
	RedisBytesPerEvent       Figure `json:"redis_bytes_per_event"` // total_net_input_bytes
	RedisOutBytesPerEvent    Figure `json:"redis_out_bytes_per_event"`
	// used_cpu_sys + used_cpu_user: the server's own time, scripts and all.
	// (commandstats' usec cannot stand in: it counts a command a script
	// calls both in that command and in the script's EVALSHA.)
	RedisCPUSecPerMillion Figure             `json:"redis_cpu_sec_per_million"`
	RedisCommands         map[string]float64 `json:"redis_commands_per_event_by_name"`
	// Forks of Redis in each phase (INFO's total_forks: AOF rewrites and
	// RDB saves). Each fork's child writes the whole dataset on another
	// core, which used_cpu does not count: on a machine shared with serve
	// and the bench, a phase with many is slower and less fresh than one
	// without (docs/BENCHMARKS.md, "Sixteenth pass").
	RedisForks      float64 `json:"redis_forks"`
	PacedRedisForks float64 `json:"paced_redis_forks"`
	// Other clients of the same Redis: their command rate in the second
	// before serve starts and in the second after it stops, and whether
	// it was large enough (over 1% of the sustained phase's rate) to
	// distort the server-wide counters above.
	RedisOtherCmdsPerSecBefore float64 `json:"redis_other_cmds_per_sec_before"`
	RedisOtherCmdsPerSecAfter  float64 `json:"redis_other_cmds_per_sec_after"`
	RedisOtherClients          float64 `json:"redis_other_clients"` // connected before serve started, besides the bench
	RedisShared                bool    `json:"redis_shared"`
	StateChangesPerEvent       Figure  `json:"state_changes_per_event"` // counter changes (delta.Batch.Changes)
	ListsRescoredPerEvent      Figure  `json:"lists_rescored_per_event"`
	ConsumerCPUSecPerMillion   Figure  `json:"consumer_cpu_sec_per_million"` // the serve process: consumer, re-scorer, HTTP
	ProducerCPUSecPerMillion   Figure  `json:"producer_cpu_sec_per_million"` // the bench process: producer and polls

	// A Redis Cluster's masters, each (sustained phase; none for a single
	// Redis), and the ratio of the busiest master's commands to the least
	// busy's, in the sustained and the paced phase: the state's keys
	// spread over the masters when it is near 1 (docs/SCALING.md).
	RedisMasters              []MasterLoad `json:"redis_masters,omitempty"`
	RedisMasterCmdsRatio      Figure       `json:"redis_master_cmds_ratio,omitempty"`
	PacedRedisMasterCmdsRatio Figure       `json:"paced_redis_master_cmds_ratio,omitempty"`
	PacedRedisMasters         []MasterLoad `json:"paced_redis_masters,omitempty"`

	// Paced phase: the latest events at a fixed offered load.
	PacedEvents          int     `json:"paced_events"`
	OfferedEventsPerSec  Figure  `json:"offered_events_per_sec"`
	AchievedEventsPerSec Figure  `json:"achieved_events_per_sec"` // paced_events / produce time
	PacedBacklogSeconds  float64 `json:"paced_backlog_seconds"`   // from the last event produced to zero lag and no dirty list
	PacedSaturated       bool    `json:"paced_saturated"`         // the pipeline fell behind the paced load: freshness includes queueing
	FreshnessP50Ms       Figure  `json:"freshness_p50_ms"`
	FreshnessP99Ms       Figure  `json:"freshness_p99_ms"`
	// The bucket that holds p99: the true p99 lies between these bounds
	// whatever the interpolation inside it says.
	FreshnessP99LowMs         Figure  `json:"freshness_p99_low_ms"`
	FreshnessP99HighMs        Figure  `json:"freshness_p99_high_ms"`
	FreshnessMeanMs           Figure  `json:"freshness_mean_ms"` // exact: histogram sum / count
	FreshnessSamples          float64 `json:"freshness_samples"` // lists re-scored in the phase
	FreshnessBuckets          string  `json:"freshness_buckets"` // the histogram's resolution
	PacedRedisCmdsPerEvent    Figure  `json:"paced_redis_cmds_per_event"`
	PacedConsumerCPUSecPerMil Figure  `json:"paced_consumer_cpu_sec_per_million"`
	// Redis's CPU per paced event: since one command changes many fields
	// of a hash, commands per event compare the phases' work less well
	// than Redis's own time does.
	PacedRedisCPUSecPerMillion Figure `json:"paced_redis_cpu_sec_per_million"`
	PacedListsRescoredPerEvt   Figure `json:"paced_lists_rescored_per_event"` // a list dirtied again after its re-score is re-scored again
	// PacedRedisCommands is RedisCommands of the paced phase: compared by
	// name with the full batches', it shows where small batches cost more.
	PacedRedisCommands        map[string]float64 `json:"paced_redis_commands_per_event_by_name"`
	PacedStateChangesPerEvent Figure             `json:"paced_state_changes_per_event"`
	// Redis commands per counter change, in each phase: the paced phase
	// takes the latest events, whose histories are longer (more changes
	// per event), so commands per event compare the phases' data as much
	// as their batches; commands per change compare the batches.
	RedisCmdsPerChange      Figure `json:"redis_cmds_per_change"`
	PacedRedisCmdsPerChange Figure `json:"paced_redis_cmds_per_change"`
	// Events per consumed batch (alsobought_batch_messages), in each phase.
	EventsPerBatch      Figure `json:"events_per_batch"`
	PacedEventsPerBatch Figure `json:"paced_events_per_batch"`
	// Events per write to Redis (alsobought_batch_write_batches): a write
	// merges the partitions' thin batches that are ready at once. Null
	// for a serve older than that metric.
	EventsPerWrite      Figure `json:"events_per_write"`
	PacedEventsPerWrite Figure `json:"paced_events_per_write"`

	// Memory of the whole state after both phases.
	RedisBytesPerCustomer     Figure  `json:"redis_bytes_per_customer"`
	RedisBytesPerItem         Figure  `json:"redis_bytes_per_item"`
	RedisCustomerKeys         int     `json:"redis_customer_keys"`
	RedisItemKeys             int     `json:"redis_item_keys"`
	RedisStateBytes           int64   `json:"redis_state_bytes"`
	RedisGlobalBytes          int64   `json:"redis_global_bytes"`
	RedisUsedMemoryDeltaBytes float64 `json:"redis_used_memory_delta_bytes"`
	MemoryMethod              string  `json:"memory_method"`

	// Hide is the hide phase's figures (Config.Hides), nil without it.
	Hide *HideReport `json:"hide,omitempty"`
}

// freshnessMetric is serve's histogram of the time from a change's Kafka
// record to the re-scored list that reflects it.
const freshnessMetric = "alsobought_freshness_seconds"

// Run measures one stream, events sorted by time, end to end.
func Run(ctx context.Context, cfg Config, dataset string, evs []event.Event) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if len(evs) < 2 {
		return Report{}, fmt.Errorf("bench needs at least 2 events, got %d", len(evs))
	}
	rep := Report{Dataset: dataset, Events: len(evs), Partitions: cfg.Partitions,
		MemoryMethod: "MEMORY USAGE <key> SAMPLES 0 of every key of the prefix; per item: every key that is not a customer's, over the distinct items"}
	rep.Customers, rep.Items, rep.Purchases = distinct(evs)
	paced := max(1, min(len(evs)-1, int(math.Round(float64(len(evs))*cfg.PacedShare))))
	rep.SustainedEvents, rep.PacedEvents = len(evs)-paced, paced

	s, err := newState(ctx, &cfg, "e2e")
	if err != nil {
		return rep, err
	}
	rep.Topic, rep.Prefix = s.Topic, s.Prefix
	defer s.cleanup()
	rdb := s.Store.Client()
	// Other clients: what Redis runs while the bench sends nothing.
	atStart, before, err := otherLoad(ctx, rdb)
	if err != nil {
		return rep, err
	}
	rep.RedisOtherCmdsPerSecBefore = before
	rep.RedisOtherClients = max(0, atStart.clients-1) // all but the bench's own connection
	cfg.logf("starting serve on topic %s, prefix %s", s.Topic, s.Prefix)
	c, err := s.serve(ctx, true)
	if err != nil {
		return rep, err
	}
	defer c.stop()

	cfg.logf("sustained: producing %d events as fast as the broker takes them", rep.SustainedEvents)
	ph1, err := s.phase(ctx, c, evs[:rep.SustainedEvents], 0)
	if err != nil {
		return rep, err
	}
	rep.ProduceSeconds = ph1.produce.Seconds()
	rep.AppliedSeconds = ph1.applied.Seconds()
	rep.CaughtUpSeconds = ph1.caughtUp.Seconds()
	n := float64(rep.SustainedEvents)
	rep.EventsPerSec = ratio(n, rep.CaughtUpSeconds)
	rep.AppliedEventsPerSec = ratio(n, rep.AppliedSeconds)
	r := ph1.redis
	rep.RedisCmdsPerEvent = ratio(r.commands, n)
	rep.RedisScriptCallsPerEvent = ratio(r.calls["evalsha"]+r.calls["eval"], n)
	rep.RedisBytesPerEvent = ratio(r.netIn, n)
	rep.RedisOutBytesPerEvent = ratio(r.netOut, n)
	rep.RedisCPUSecPerMillion = perMillion(r.cpu, rep.SustainedEvents)
	rep.RedisCommands = perEvent(r.calls, n)
	rep.RedisForks = r.forks
	rep.EventsPerBatch = ratio(ph1.batchMessages, ph1.batches)
	rep.EventsPerWrite = ratio(ph1.batchMessages, ph1.writes)
	rep.RedisMasters, rep.RedisMasterCmdsRatio = masterLoads(r, n)
	rep.ConsumerCPUSecPerMillion = perMillion(ph1.serveCPU, rep.SustainedEvents)
	rep.ProducerCPUSecPerMillion = perMillion(ph1.selfCPU, rep.SustainedEvents)
	rep.StateChangesPerEvent = ratio(ph1.changes, n)
	rep.ListsRescoredPerEvent = ratio(ph1.rescored, n)

	rate := cfg.PacedRate
	if rate == 0 {
		rate = cfg.PacedLoad * float64(rep.EventsPerSec)
	}
	rep.OfferedEventsPerSec = Figure(rate)
	cfg.logf("paced: producing %d events at %.0f events/s", rep.PacedEvents, rate)
	ph2, err := s.phase(ctx, c, evs[rep.SustainedEvents:], rate)
	if err != nil {
		return rep, err
	}
	p := float64(rep.PacedEvents)
	rep.AchievedEventsPerSec = ratio(p, ph2.produce.Seconds())
	rep.PacedBacklogSeconds = (ph2.caughtUp - ph2.produce).Seconds()
	// Below saturation, the last lists are written one re-score interval
	// (the longest gather, 1 s by default) and a poll after the last
	// event; much later means work queued up during the phase.
	rep.PacedSaturated = rep.PacedBacklogSeconds > 3*cfg.MinRescoreWait.Seconds()
	fresh := ph2.freshness
	rep.FreshnessSamples = float64(fresh.GetSampleCount())
	rep.FreshnessP50Ms = Figure(1000 * quantile(0.5, fresh))
	p99 := obs.HistogramQuantile(0.99, fresh)
	rep.FreshnessP99Ms = Figure(1000 * p99.Value)
	rep.FreshnessP99LowMs, rep.FreshnessP99HighMs = Figure(1000*p99.Lower), Figure(1000*p99.Upper)
	rep.FreshnessMeanMs = Figure(1000 * mean(fresh))
	rep.FreshnessBuckets = describeBuckets(fresh)
	rep.PacedRedisCmdsPerEvent = ratio(ph2.redis.commands, p)
	rep.PacedConsumerCPUSecPerMil = perMillion(ph2.serveCPU, rep.PacedEvents)
	rep.PacedRedisCPUSecPerMillion = perMillion(ph2.redis.cpu, rep.PacedEvents)
	rep.PacedRedisMasters, rep.PacedRedisMasterCmdsRatio = masterLoads(ph2.redis, p)
	rep.PacedListsRescoredPerEvt = ratio(ph2.rescored, p)
	rep.PacedRedisCommands = perEvent(ph2.redis.calls, p)
	rep.PacedRedisForks = ph2.redis.forks
	rep.PacedEventsPerBatch = ratio(ph2.batchMessages, ph2.batches)
	rep.PacedEventsPerWrite = ratio(ph2.batchMessages, ph2.writes)
	rep.PacedStateChangesPerEvent = ratio(ph2.changes, p)
	rep.RedisCmdsPerChange = ratio(r.commands, ph1.changes)
	rep.PacedRedisCmdsPerChange = ratio(ph2.redis.commands, ph2.changes)
	rep.EventsApplied = ph1.appliedEvents + ph2.appliedEvents
	rep.EventsDeadLettered = ph1.deadLettered + ph2.deadLettered

	if cfg.Hides > 0 {
		cfg.logf("hide: hiding the %d items the most lists hold, one at a time", cfg.Hides)
		hide, err := s.hideMostListed(ctx, cfg.Hides)
		if err != nil {
			return rep, err
		}
		rep.Hide = &hide
	}

	cfg.logf("memory: MEMORY USAGE of every key of %s", s.Prefix)
	mem, err := measureMemory(ctx, rdb, s.Prefix)
	if err != nil {
		return rep, err
	}
	atEnd, err := readRedisStats(ctx, rdb)
	if err != nil {
		return rep, err
	}
	rep.RedisUsedMemoryDeltaBytes = atEnd.usedMemory - atStart.usedMemory
	c.stop()
	if _, rep.RedisOtherCmdsPerSecAfter, err = otherLoad(ctx, rdb); err != nil {
		return rep, err
	}
	rep.RedisShared = max(rep.RedisOtherCmdsPerSecBefore, rep.RedisOtherCmdsPerSecAfter) > 0.01*r.commands/ph1.caughtUp.Seconds()
	rep.RedisCustomerKeys, rep.RedisItemKeys = mem.customerKeys, mem.itemKeys
	rep.RedisStateBytes = mem.customerBytes + mem.itemBytes + mem.globalBytes
	rep.RedisGlobalBytes = mem.globalBytes
	if mem.customerKeys > 0 {
		rep.RedisBytesPerCustomer = ratio(float64(mem.customerBytes), float64(mem.customerKeys))
	}
	rep.RedisBytesPerItem = ratio(float64(mem.itemBytes+mem.globalBytes), float64(rep.Items))
	c.removeLog()
	return rep, nil
}

// otherLoad measures the command rate of Redis over one second in which
// the bench sends nothing but two INFOs: the load of other clients.
func otherLoad(ctx context.Context, rdb redis.UniversalClient) (redisStats, float64, error) {
	a, err := readRedisStats(ctx, rdb)
	if err != nil {
		return a, 0, err
	}
	select {
	case <-ctx.Done():
		return a, 0, ctx.Err()
	case <-time.After(time.Second):
	}
	b, err := readRedisStats(ctx, rdb)
	if err != nil {
		return a, 0, err
	}
	d := a.to(b)
	return a, max(0, d.commands-1) / d.seconds, nil // minus the first INFO
}

// phaseResult is what one phase cost.
type phaseResult struct {
	produce, applied, caughtUp  time.Duration
	redis                       redisDelta
	serveCPU, selfCPU           float64
	changes, rescored           float64
	batches, batchMessages      float64 // batches consumed and their messages
	writes                      float64 // the writes that took the batches
	appliedEvents, deadLettered float64
	freshness                   *dto.Histogram
}

// phase produces evs at rate, waits until they are applied and re-scored,
// and returns what that cost Redis and the serve process.
func (s *state) phase(ctx context.Context, c *child, evs []event.Event, rate float64) (phaseResult, error) {
	var res phaseResult
	m0, err := c.metrics(ctx)
	if err != nil {
		return res, err
	}
	r0, err := readRedisStats(ctx, s.Store.Client())
	if err != nil {
		return res, err
	}
	cpu0 := selfCPU()
	start := time.Now()
	stats, err := s.produce(ctx, evs, rate)
	if err != nil {
		return res, err
	}
	res.produce = stats.Duration
	at, err := s.waitCaughtUp(ctx, c)
	if err != nil {
		return res, err
	}
	res.applied, res.caughtUp = at.Applied.Sub(start), at.Rescored.Sub(start)
	res.selfCPU = selfCPU() - cpu0
	r1, err := readRedisStats(ctx, s.Store.Client())
	if err != nil {
		return res, err
	}
	m1, err := c.metrics(ctx)
	if err != nil {
		return res, err
	}
	res.redis = r0.to(r1)
	delta := func(name string) float64 { return m1.sum(name) - m0.sum(name) }
	res.serveCPU = delta("process_cpu_seconds_total")
	res.changes = delta("alsobought_state_changes_total")
	res.rescored = delta("alsobought_items_rescored_total")
	res.appliedEvents = delta("alsobought_events_applied_total") + delta("alsobought_events_deduplicated_total")
	res.deadLettered = delta("alsobought_events_dead_lettered_total")
	res.freshness = histogramDelta(m0, m1, freshnessMetric)
	b0, b1 := m0.histogram(batchMessagesMetric), m1.histogram(batchMessagesMetric)
	res.batches = float64(b1.GetSampleCount()) - float64(b0.GetSampleCount())
	res.batchMessages = b1.GetSampleSum() - b0.GetSampleSum()
	w0, w1 := m0.histogram(batchWritesMetric), m1.histogram(batchWritesMetric)
	res.writes = float64(w1.GetSampleCount()) - float64(w0.GetSampleCount())
	return res, nil
}

// batchWritesMetric is serve's histogram of batches per write to Redis.
const batchWritesMetric = "alsobought_batch_write_batches"

// batchMessagesMetric is serve's histogram of messages per consumed batch.
const batchMessagesMetric = "alsobought_batch_messages"

// perEvent divides each command's calls by n events.
func perEvent(calls map[string]float64, n float64) map[string]float64 {
	out := make(map[string]float64, len(calls))
	for cmd, c := range calls {
		out[cmd] = c / n
	}
	return out
}
