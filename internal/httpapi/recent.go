package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/rescore"
)

// RecentWindow is how far back the status page's "now" figures look: the
// window of the freshness objective (deploy/prometheus/alerts.yml) and of
// the error alerts' rates.
const RecentWindow = 5 * time.Minute

// recentInterval is how often Recent samples the figures.
const recentInterval = 10 * time.Second

// Recent samples the figures the status page shows (counter totals, the
// freshness histogram) every recentInterval and keeps RecentWindow of them,
// so that the page can say what happens now (rates, errors and freshness
// over the last 5 minutes) beside the totals since the process started: a
// backlog an hour ago no longer colours today's freshness, and rates are
// right on the first view, computed against the oldest sample.
type Recent struct {
	opts    Options
	metrics prometheus.Gatherer // may be nil
	mu      sync.Mutex
	samples []figures // oldest first
	clock   ruleClock // since when the alert rules the page shows have held
}

// figures are the status page's readings at one time.
type figures struct {
	at        time.Time
	totals    map[string]float64 // by metric name
	freshness *dto.Histogram     // nil: no re-scorer
	// deadLetters are the dead letters since start by reason; nil when
	// this process counts none (no consumer, no such metric exported).
	deadLetters map[event.Reason]uint64
	// The components' figures the totals come from, for the page's other
	// panels (nil: no such component).
	consumer *consumer.Stats
	rescorer *rescore.Stats
	// rules are the gauges of the alert rules the page evaluates, by rule
	// (absent: not exported by this process).
	rules map[string]ruleReading
}

// NewRecent returns a Recent of what opts reads (its Consumer, Rescorer and
// Errors) and, for the counters none of them reports, of metrics (the
// registry /metrics serves; nil: none), with a first sample taken now. Run
// keeps sampling.
func NewRecent(opts Options, metrics prometheus.Gatherer) *Recent {
	r := &Recent{opts: opts, metrics: metrics}
	r.sample(time.Now())
	return r
}

// Run samples every recentInterval until ctx ends.
func (r *Recent) Run(ctx context.Context) error {
	t := time.NewTicker(recentInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			r.sample(now)
		}
	}
}

// sample records the figures at now and forgets those no window needs:
// it keeps the newest sample at least RecentWindow old, as the base of a
// window that reaches back exactly that far.
func (r *Recent) sample(now time.Time) {
	f := readFigures(r.opts, r.metrics, now)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock.observe(f.at, f.rules)
	r.samples = append(r.samples, f)
	drop := 0
	for drop+1 < len(r.samples) && now.Sub(r.samples[drop+1].at) >= RecentWindow {
		drop++
	}
	r.samples = r.samples[drop:]
}

// base is the sample a window ending at now starts from: the newest at
// least RecentWindow old, or the oldest there is while the process is
// younger than that.
func (r *Recent) base(now time.Time) figures {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.samples[0]
	for _, s := range r.samples[1:] {
		if now.Sub(s.at) < RecentWindow {
			break
		}
		b = s
	}
	return b
}

// alerts records the alert rules' gauges of f, a reading of now, and
// returns the rules as they stand then; runbookURL is where NOT OK links.
// Page views count as readings too, so that a handler no one samples for
// still sees a wait from one view to the next.
func (r *Recent) alerts(f figures, runbookURL string) []alertView {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clock.observe(f.at, f.rules)
	return r.clock.views(f.at, f.rules, runbookURL)
}

// readFigures reads the totals of the consumer, the re-scorer and the
// error counters of opts, and the freshness histogram; then, from metrics,
// the totals of the page's counters that no component of opts reported,
// and the gauges of the alert rules.
func readFigures(o Options, metrics prometheus.Gatherer, at time.Time) figures {
	f := figures{at: at, totals: map[string]float64{}}
	if c := o.Consumer; c != nil {
		st := c.Stats()
		f.consumer = &st
		f.totals[metricConsumed] = float64(st.Consumed)
		f.totals[metricApplied] = float64(st.Applied)
		f.totals[metricDeadLettered] = float64(st.DeadLettered)
		f.deadLetters = st.DeadLetteredBy
	}
	if r := o.Rescorer; r != nil {
		st := r.Stats()
		f.rescorer = &st
		f.totals[metricRescored] = float64(st.Rescored)
		f.totals[metricRescoreErrors] = float64(st.Errors)
		f.totals[metricFeedErrors] = float64(st.FeedErrors)
		f.freshness = st.Freshness
	}
	if o.Errors != nil {
		f.totals[metricRedisErrors], f.totals[metricKafkaErrors] = o.Errors.Counts()
	}
	readRegistered(metrics, &f)
	return f
}

// readRegistered fills in, from the metrics this process exports, the
// totals of the page's counters that no component reported, the dead
// letters by reason, and the alert rules' gauges. A serve that does not
// consume registers the consumer's counters all the same (at 0, every
// reason too): the page then says 0, as /metrics does, where "–" would
// read as "unknown"; a counter the process does not export at all keeps
// its "–". It gathers at every reading, for the alert rules' gauges, which
// only the registry has: every 10 s and per view, about half a millisecond
// each for serve's registry.
func readRegistered(metrics prometheus.Gatherer, f *figures) {
	if metrics == nil {
		return
	}
	missing := map[string]bool{}
	for _, table := range []counterTable{throughputCounters, errorCounters} {
		for _, c := range table {
			if _, ok := f.totals[c.name]; !ok {
				missing[c.name] = true
			}
		}
	}
	// On an error Gather still returns every family it could read; a
	// family it could not stays unexported on the page, as it is unknown.
	families, _ := metrics.Gather()
	for _, mf := range families {
		readAlertGauge(mf, f)
		if missing[mf.GetName()] && mf.GetType() == dto.MetricType_COUNTER {
			readCounter(mf, f)
		}
	}
}

// readCounter keeps the total of a counter's family in f, and the dead
// letters by reason when it is theirs.
func readCounter(mf *dto.MetricFamily, f *figures) {
	var total float64
	var byReason map[event.Reason]uint64
	if mf.GetName() == metricDeadLettered {
		byReason = map[event.Reason]uint64{}
	}
	for _, m := range mf.GetMetric() {
		v := m.GetCounter().GetValue()
		total += v
		if byReason != nil {
			byReason[event.Reason(labelValue(m, "reason"))] += uint64(v)
		}
	}
	f.totals[mf.GetName()] = total
	if byReason != nil {
		f.deadLetters = byReason
	}
}
