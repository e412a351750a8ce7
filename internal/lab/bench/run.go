package bench

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/event"
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
	EventsPerSec        float64 `json:"events_per_sec"`    // sustained_events / caught_up_seconds
	AppliedEventsPerSec float64 `json:"applied_events_per_sec"`
	EventsApplied       float64 `json:"events_applied"` // serve's alsobought_events_applied_total, both phases
	EventsDeadLettered  float64 `json:"events_dead_lettered"`

	RedisCmdsPerEvent        float64            `json:"redis_cmds_per_event"` // total_commands_processed: commands inside scripts count
	RedisScriptCallsPerEvent float64            `json:"redis_script_calls_per_event"`
	RedisBytesPerEvent       float64            `json:"redis_bytes_per_event"` // total_net_input_bytes
	RedisOutBytesPerEvent    float64            `json:"redis_out_bytes_per_event"`
	RedisCPUSecPerMillion    float64            `json:"redis_cpu_sec_per_million"` // used_cpu_sys + used_cpu_user
	RedisUsecPerEvent        float64            `json:"redis_usec_per_event"`      // commandstats time of top-level commands
	RedisCommands            map[string]float64 `json:"redis_commands_per_event_by_name"`
	// Other clients of the same Redis: their command rate in the second
	// before serve starts and in the second after it stops, and whether
	// it was large enough (over 1% of the sustained phase's rate) to
	// distort the server-wide counters above.
	RedisOtherCmdsPerSecBefore float64 `json:"redis_other_cmds_per_sec_before"`
	RedisOtherCmdsPerSecAfter  float64 `json:"redis_other_cmds_per_sec_after"`
	RedisOtherClients          float64 `json:"redis_other_clients"` // connected before serve started, besides the bench
	RedisShared                bool    `json:"redis_shared"`
	StateChangesPerEvent       float64 `json:"state_changes_per_event"` // counter changes (delta.Batch.Changes)
	ListsRescoredPerEvent      float64 `json:"lists_rescored_per_event"`
	ConsumerCPUSecPerMillion   float64 `json:"consumer_cpu_sec_per_million"` // the serve process: consumer, re-scorer, HTTP
	ProducerCPUSecPerMillion   float64 `json:"producer_cpu_sec_per_million"` // the bench process: producer and polls

	// Paced phase: the latest events at a fixed offered load.
	PacedEvents               int     `json:"paced_events"`
	OfferedEventsPerSec       float64 `json:"offered_events_per_sec"`
	AchievedEventsPerSec      float64 `json:"achieved_events_per_sec"` // paced_events / produce time
	PacedBacklogSeconds       float64 `json:"paced_backlog_seconds"`   // from the last event produced to zero lag and no dirty list
	PacedSaturated            bool    `json:"paced_saturated"`         // the pipeline fell behind the paced load: freshness includes queueing
	FreshnessP50Ms            float64 `json:"freshness_p50_ms"`
	FreshnessP99Ms            float64 `json:"freshness_p99_ms"`
	FreshnessMeanMs           float64 `json:"freshness_mean_ms"` // exact: histogram sum / count
	FreshnessSamples          float64 `json:"freshness_samples"` // lists re-scored in the phase
	FreshnessBuckets          string  `json:"freshness_buckets"` // the histogram's resolution
	PacedRedisCmdsPerEvent    float64 `json:"paced_redis_cmds_per_event"`
	PacedConsumerCPUSecPerMil float64 `json:"paced_consumer_cpu_sec_per_million"`
	PacedListsRescoredPerEvt  float64 `json:"paced_lists_rescored_per_event"` // a list dirtied again after its re-score is re-scored again

	// Memory of the whole state after both phases.
	RedisBytesPerCustomer     float64 `json:"redis_bytes_per_customer"`
	RedisBytesPerItem         float64 `json:"redis_bytes_per_item"`
	RedisCustomerKeys         int     `json:"redis_customer_keys"`
	RedisItemKeys             int     `json:"redis_item_keys"`
	RedisStateBytes           int64   `json:"redis_state_bytes"`
	RedisGlobalBytes          int64   `json:"redis_global_bytes"`
	RedisUsedMemoryDeltaBytes float64 `json:"redis_used_memory_delta_bytes"`
	MemoryMethod              string  `json:"memory_method"`
}

// freshnessMetric is serve's histogram of the time from a change's Kafka
// record to the re-scored list that reflects it.
const freshnessMetric = "alsobought_freshness_seconds"

// Run measures one stream, events sorted by time, end to end.
func Run(ctx context.Context, cfg Config, dataset string, evs []event.Event) (Report, error) {
	cfg.defaults()
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
	rep.Topic, rep.Prefix = s.topic, s.prefix
	defer func() {
		if cerr := s.cleanup(true); cerr != nil {
			cfg.logf("cleanup: %v", cerr)
		}
	}()
	rdb := s.st.Client()
	// Other clients: what Redis runs while the bench sends nothing.
	atStart, before, err := otherLoad(ctx, rdb)
	if err != nil {
		return rep, err
	}
	rep.RedisOtherCmdsPerSecBefore = before
	rep.RedisOtherClients = max(0, atStart.clients-1) // all but the bench's own connection
	cfg.logf("starting serve on topic %s, prefix %s", s.topic, s.prefix)
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
	rep.EventsPerSec = float64(rep.SustainedEvents) / rep.CaughtUpSeconds
	rep.AppliedEventsPerSec = float64(rep.SustainedEvents) / rep.AppliedSeconds
	n := rep.SustainedEvents
	r := ph1.redis
	rep.RedisCmdsPerEvent = r.commands / float64(n)
	rep.RedisScriptCallsPerEvent = (r.calls["evalsha"] + r.calls["eval"]) / float64(n)
	rep.RedisBytesPerEvent = r.netIn / float64(n)
	rep.RedisOutBytesPerEvent = r.netOut / float64(n)
	rep.RedisCPUSecPerMillion = perMillion(r.cpu, n)
	rep.RedisCommands = map[string]float64{}
	for cmd, calls := range r.calls {
		rep.RedisCommands[cmd] = calls / float64(n)
	}
	rep.RedisUsecPerEvent = topLevelUsec(r) / float64(n)
	rep.ConsumerCPUSecPerMillion = perMillion(ph1.serveCPU, n)
	rep.ProducerCPUSecPerMillion = perMillion(ph1.selfCPU, n)
	rep.StateChangesPerEvent = ph1.changes / float64(n)
	rep.ListsRescoredPerEvent = ph1.rescored / float64(n)

	rate := cfg.PacedRate
	if rate == 0 {
		rate = cfg.PacedLoad * rep.EventsPerSec
	}
	rep.OfferedEventsPerSec = rate
	cfg.logf("paced: producing %d events at %.0f events/s", rep.PacedEvents, rate)
	ph2, err := s.phase(ctx, c, evs[rep.SustainedEvents:], rate)
	if err != nil {
		return rep, err
	}
	rep.AchievedEventsPerSec = float64(rep.PacedEvents) / ph2.produce.Seconds()
	rep.PacedBacklogSeconds = (ph2.caughtUp - ph2.produce).Seconds()
	// Below saturation, the last lists are written one re-score interval
	// (the per-row rate limit, 1 s by default) and a poll after the last
	// event; much later means work queued up during the phase.
	rep.PacedSaturated = rep.PacedBacklogSeconds > 3*cfg.MinRescoreWait.Seconds()
	fresh := ph2.freshness
	rep.FreshnessSamples = fresh.count()
	rep.FreshnessP50Ms = 1000 * fresh.quantile(0.5)
	rep.FreshnessP99Ms = 1000 * fresh.quantile(0.99)
	rep.FreshnessMeanMs = 1000 * fresh.mean()
	rep.FreshnessBuckets = describeBuckets(fresh)
	rep.PacedRedisCmdsPerEvent = ph2.redis.commands / float64(rep.PacedEvents)
	rep.PacedConsumerCPUSecPerMil = perMillion(ph2.serveCPU, rep.PacedEvents)
	rep.PacedListsRescoredPerEvt = ph2.rescored / float64(rep.PacedEvents)
	rep.EventsApplied = ph1.appliedEvents + ph2.appliedEvents
	rep.EventsDeadLettered = ph1.deadLettered + ph2.deadLettered

	cfg.logf("memory: MEMORY USAGE of every key of %s", s.prefix)
	mem, err := measureMemory(ctx, rdb, s.prefix)
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
		rep.RedisBytesPerCustomer = float64(mem.customerBytes) / float64(mem.customerKeys)
	}
	rep.RedisBytesPerItem = float64(mem.itemBytes+mem.globalBytes) / float64(rep.Items)
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
	appliedEvents, deadLettered float64
	freshness                   histogram
}

// phase produces evs at rate, waits until they are applied and re-scored,
// and returns what that cost Redis and the serve process.
func (s *state) phase(ctx context.Context, c *child, evs []event.Event, rate float64) (phaseResult, error) {
	var res phaseResult
	m0, err := c.metrics(ctx)
	if err != nil {
		return res, err
	}
	r0, err := readRedisStats(ctx, s.st.Client())
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
	res.applied, res.caughtUp = at.applied.Sub(start), at.rescored.Sub(start)
	res.selfCPU = selfCPU() - cpu0
	r1, err := readRedisStats(ctx, s.st.Client())
	if err != nil {
		return res, err
	}
	m1, err := c.metrics(ctx)
	if err != nil {
		return res, err
	}
	res.redis = r0.to(r1)
	delta := func(name string) float64 { return m1.sums[name] - m0.sums[name] }
	res.serveCPU = delta("process_cpu_seconds_total")
	res.changes = delta("alsobought_state_changes_total")
	res.rescored = delta("alsobought_items_rescored_total")
	res.appliedEvents = delta("alsobought_events_applied_total") + delta("alsobought_events_deduplicated_total")
	res.deadLettered = delta("alsobought_events_dead_lettered_total")
	res.freshness = histogramDelta(m0, m1, freshnessMetric)
	return res, nil
}

// scriptInner are commands our scripts call; commandstats counts them
// inside a script's own time, so summing their usec with EVALSHA's would
// count that time twice.
var scriptInner = map[string]bool{"hincrby": true, "hset": true, "hdel": true, "hget": true, "zadd": true, "zrem": true, "hsetnx": true}

// topLevelUsec is the Redis execution time of the commands clients sent:
// scripts (their inner calls included) and plain commands.
func topLevelUsec(d redisDelta) float64 {
	var sum float64
	for cmd, us := range d.usec {
		if !scriptInner[cmd] {
			sum += us
		}
	}
	return sum
}

// describeBuckets states the resolution of a histogram: its finite bounds.
func describeBuckets(h histogram) string {
	var finite []float64
	for _, b := range h.bounds {
		if !math.IsInf(b, 0) {
			finite = append(finite, b)
		}
	}
	if len(finite) == 0 {
		return "no histogram"
	}
	sort.Float64s(finite)
	return fmt.Sprintf("%d buckets from %gs to %gs, each twice the one before; quantiles interpolated within a bucket", len(finite), finite[0], finite[len(finite)-1])
}
