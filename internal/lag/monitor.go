package lag

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/obs"
)

// Defaults of the monitor.
const (
	DefaultInterval = 10 * time.Second
	DefaultSamples  = 10 // the window: 10 samples, 90 s at the default interval
)

// Monitor samples every interval, keeps a window of samples, and exports
// the evaluation as metrics and as Report.
type Monitor struct {
	sampler  *Sampler
	interval time.Duration
	size     int
	log      zerolog.Logger
	retries  zerolog.Logger // rate-limited: an outage fails every sample
	m        *metrics

	mu     sync.Mutex
	window []Sample
	report Report
}

// Config of the monitor.
type Config struct {
	Interval time.Duration // between samples; default DefaultInterval
	Samples  int           // the window; default DefaultSamples, at least 2
}

// New returns a monitor of what s samples; it registers its metrics on
// reg (nil: nowhere).
func New(cfg Config, s *Sampler, log zerolog.Logger, reg prometheus.Registerer) (*Monitor, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Samples == 0 {
		cfg.Samples = DefaultSamples
	}
	switch {
	case s == nil:
		return nil, errors.New("lag monitor: no sampler")
	case cfg.Interval < 0:
		return nil, fmt.Errorf("lag interval %s must be positive", cfg.Interval)
	case cfg.Samples < 2:
		return nil, fmt.Errorf("lag window of %d samples: at least 2 are needed to see a trend", cfg.Samples)
	}
	log = log.With().Str("component", "lag").Logger()
	return &Monitor{sampler: s, interval: cfg.Interval, size: cfg.Samples, log: log, retries: obs.Repeats(log),
		m: newMetrics(reg), report: Report{Status: Unknown, Reason: "not sampled yet", Partitions: []PartitionReport{}}}, nil
}

// Run samples until ctx ends, then returns nil: a failed sample is
// reported as UNKNOWN, not as a failure of the monitor.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.Observe(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Observe takes one sample and re-evaluates. A failed sample leaves the
// window as it was and reports UNKNOWN: the monitor cannot tell.
func (m *Monitor) Observe(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, m.interval)
	s, err := m.sampler.Sample(sctx)
	cancel()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			m.retries.Warn().Err(err).Msg("lag sample failed")
		}
		m.report = Report{Status: Unknown, Reason: "cannot sample: " + err.Error(), EvaluatedAt: time.Now().UTC(),
			Partitions: []PartitionReport{}}
		m.m.group.Set(float64(Unknown))
		return
	}
	m.window = append(m.window, s)
	if len(m.window) > m.size {
		m.window = m.window[len(m.window)-m.size:]
	}
	m.report = Evaluate(m.window, time.Now())
	m.m.observe(m.report)
	for p, n := range s.CatalogueLag {
		m.m.catalogueLag.WithLabelValues(strconv.Itoa(p)).Set(float64(n))
	}
}

// Report returns the latest evaluation.
func (m *Monitor) Report() Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.report
}

type metrics struct {
	lag, lagSeconds, appliedLag, status *prometheus.GaugeVec
	group, members                      prometheus.Gauge
	catalogueLag                        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns = "alsobought"
	byPartition := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, []string{"partition"})
	}
	m := &metrics{
		lag:        byPartition("partition_lag_messages", "Messages between the group's committed offset and the broker's end offset, per partition."),
		lagSeconds: byPartition("partition_lag_seconds", "Age of the oldest record the group has not consumed, per partition (0 when caught up)."),
		appliedLag: byPartition("partition_applied_lag_messages", "Messages between the progress stored in Redis and the broker's end offset, per partition."),
		status:     byPartition("partition_status", "Lag status per partition: 0 OK, 1 WARN (lag growing), 2 ERR (stalled), 3 unknown."),
		group: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "group_status",
			Help: "Lag status of the consumer group: 0 OK, 1 WARN, 2 ERR (a partition stalled, or no member while messages wait), 3 unknown."}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "group_members",
			Help: "Live members of the consumer group."}),
		catalogueLag: byPartition("catalogue_lag_messages", "Catalogue records not applied yet (the catalogue topic's end offset less the next offset to apply), per partition of the catalogue topic."),
	}
	if reg != nil {
		reg.MustRegister(m.lag, m.lagSeconds, m.appliedLag, m.status, m.group, m.members, m.catalogueLag)
	}
	m.group.Set(float64(Unknown))
	return m
}

func (m *metrics) observe(r Report) {
	for _, p := range r.Partitions {
		id := strconv.Itoa(p.Partition)
		m.lag.WithLabelValues(id).Set(float64(p.Lag))
		m.lagSeconds.WithLabelValues(id).Set(p.LagSeconds)
		m.appliedLag.WithLabelValues(id).Set(float64(p.AppliedLag))
		m.status.WithLabelValues(id).Set(float64(p.Status))
	}
	m.group.Set(float64(r.Status))
	m.members.Set(float64(r.Members))
}
