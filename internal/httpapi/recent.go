package httpapi

import (
	"context"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/alsobought/alsobought/consumer"
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
	mu      sync.Mutex
	samples []figures // oldest first
}

// figures are the status page's readings at one time.
type figures struct {
	at        time.Time
	totals    map[string]float64 // by metric name
	freshness *dto.Histogram     // nil: no re-scorer
	// The components' figures the totals come from, for the page's other
	// panels (nil: no such component).
	consumer *consumer.Stats
	rescorer *rescore.Stats
}

// NewRecent returns a Recent of what opts reads (its Consumer, Rescorer and
// Errors), with a first sample taken now. Run keeps sampling.
func NewRecent(opts Options) *Recent {
	r := &Recent{opts: opts}
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
	f := readFigures(r.opts, now)
	r.mu.Lock()
	defer r.mu.Unlock()
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

// readFigures reads the totals of the consumer, the re-scorer and the
// error counters of opts, and the freshness histogram.
func readFigures(o Options, at time.Time) figures {
	f := figures{at: at, totals: map[string]float64{}}
	if c := o.Consumer; c != nil {
		st := c.Stats()
		f.consumer = &st
		f.totals[metricConsumed] = float64(st.Consumed)
		f.totals[metricApplied] = float64(st.Applied)
		f.totals[metricDeadLettered] = float64(st.DeadLettered)
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
	return f
}
