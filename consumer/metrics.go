package consumer

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
)

// Metrics of the consumer, registered on an injected registry.
type Metrics struct {
	consumed     prometheus.Counter
	applied      *prometheus.CounterVec
	skipped      prometheus.Counter
	deduplicated *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	// catalogueRecords: valid catalogue records applied, and those that
	// changed an item's record.
	catalogueRecords, catalogueChanges prometheus.Counter
	changes                            prometheus.Counter
	batchSize                          prometheus.Histogram
	batchSeconds                       prometheus.Histogram
	writeBatches                       prometheus.Histogram
	appliedOff                         *prometheus.GaugeVec
	eventTimeLag                       prometheus.Gauge
	rewinds                            *prometheus.CounterVec
	dlqMinimal                         *prometheus.CounterVec
	dlqLost                            *prometheus.CounterVec
	late                               prometheus.Counter
	swept                              *prometheus.CounterVec
	sweepChanges                       prometheus.Counter
	sweepBehind                        *prometheus.GaugeVec
}

// NewMetrics registers the consumer's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "alsobought"
	m := &Metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_consumed_total",
			Help: "Messages read from the events topic, valid or not."}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_applied_total",
			Help: "Events applied to the state, by type."}, []string{"type"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_skipped_total",
			Help: "Events skipped because their offset was already applied (redelivery or replay)."}),
		deduplicated: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_deduplicated_total",
			Help: "Events skipped because the customer had recently applied an event with the same id (producer retries), by type."}, []string{"type"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_dead_lettered_total",
			Help: "Events, and catalogue records, written to the dead-letter topic, by reason."}, []string{"reason"}),
		catalogueRecords: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "catalogue_records_applied_total",
			Help: "Valid catalogue records applied (a record already applied is skipped, not counted)."}),
		catalogueChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "catalogue_records_changed_total",
			Help: "Catalogue records that changed an item's record."}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "state_changes_total",
			Help: "Counter changes computed from applied events."}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_messages",
			Help: "Messages per consumed batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_duration_seconds",
			Help: "Time to validate and apply one batch to Redis.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		writeBatches: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "batch_write_batches",
			Help: "Partitions' batches per write to Redis: the batches of the partitions a consumer owns that are ready at once go in one write.", Buckets: prometheus.ExponentialBuckets(1, 2, 7)}),
		appliedOff: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "applied_offset",
			Help: "Offset of the last message applied to Redis, per partition."}, []string{"partition"}),
		eventTimeLag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "event_time_lag_seconds",
			Help: "Now minus the Kafka timestamp of the last applied message (replayed data is old by design)."}),
		rewinds: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "progress_rewinds_total",
			Help: "Times a partition was re-read because Redis came back with an older progress than was acknowledged (lost writes), per partition."}, []string{"partition"}),
		dlqMinimal: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dead_letters_minimal_total",
			Help: "Dead letters written as a minimal record (no key, no value) because the broker refused the bounded record for good, by Kafka error."}, []string{"error"}),
		dlqLost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dead_letters_lost_total",
			Help: "Dead letters the broker refused even as a minimal record: not in the dead-letter topic, the partition moved on, by Kafka error."}, []string{"error"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "events_late_total",
			Help: "Events applied although older than the watermark less the allowed lateness: a sweep may have aged entries they would have held (docs/DESIGN.md section 10)."}),
		swept: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "customers_swept_total",
			Help: "Customers the sweeps handled, by action: aged (entries past the age removed), erased (on request), deleted (nothing left: only a tombstone of fences remains)."}, []string{"action"}),
		sweepChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sweep_changes_total",
			Help: "Counter changes written by sweeps (retractions of aged or erased entries)."}),
		sweepBehind: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "sweep_behind_seconds",
			Help: "With -history-max-age, how much older than the sweeps' cut (watermark less the age and the allowed lateness) the oldest entry a partition holds is, when its sweeps start: 0 while they keep up."}, []string{"partition"}),
	}
	// Every known label value is present at zero from the first scrape, so
	// that rate() and absence alerts can tell zero from missing before
	// anything has happened once. (The Kafka error labels of dlqMinimal and
	// dlqLost, and the partitions, are not known in advance.)
	for _, a := range []string{"aged", "erased", "deleted"} {
		m.swept.WithLabelValues(a)
	}
	for _, r := range event.Reasons() {
		m.deadLettered.WithLabelValues(string(r))
	}
	for _, t := range []event.Type{event.Purchase, event.View} {
		m.applied.WithLabelValues(string(t))
		m.deduplicated.WithLabelValues(string(t))
	}
	reg.MustRegister(m.late, m.swept, m.sweepChanges, m.sweepBehind, m.consumed, m.applied, m.skipped, m.deduplicated, m.deadLettered, m.catalogueRecords, m.catalogueChanges, m.changes, m.batchSize, m.batchSeconds, m.writeBatches, m.appliedOff, m.eventTimeLag, m.rewinds, m.dlqMinimal, m.dlqLost)
	return m
}

func (m *Metrics) observeBatch(partition int, msgs []kafka.Message, res BatchResult, took time.Duration) {
	if m == nil {
		return
	}
	m.consumed.Add(float64(len(msgs)))
	for t, n := range res.Applied {
		m.applied.WithLabelValues(string(t)).Add(float64(n))
	}
	m.skipped.Add(float64(res.Skipped))
	for t, n := range res.Dupes {
		m.deduplicated.WithLabelValues(string(t)).Add(float64(n))
	}
	for _, r := range res.Rejected {
		m.deadLettered.WithLabelValues(string(r.Reason)).Inc()
	}
	m.changes.Add(float64(res.Changes))
	m.late.Add(float64(res.Late))
	m.batchSize.Observe(float64(len(msgs)))
	m.batchSeconds.Observe(took.Seconds())
	last := msgs[len(msgs)-1]
	m.appliedOff.WithLabelValues(strconv.Itoa(partition)).Set(float64(last.Offset))
	if !last.Time.IsZero() {
		m.eventTimeLag.Set(time.Since(last.Time).Seconds())
	}
}

func (m *Metrics) observeWrite(batches int) {
	if m != nil {
		m.writeBatches.Observe(float64(batches))
	}
}

func (m *Metrics) observeCatalogue(records, changes int, bad []Rejected) {
	if m == nil {
		return
	}
	m.catalogueRecords.Add(float64(records))
	m.catalogueChanges.Add(float64(changes))
	for _, r := range bad {
		m.deadLettered.WithLabelValues(string(r.Reason)).Inc()
	}
}

func (m *Metrics) observeSweep(aged, erased, deleted, changes int) {
	if m == nil {
		return
	}
	m.swept.WithLabelValues("aged").Add(float64(aged))
	m.swept.WithLabelValues("erased").Add(float64(erased))
	m.swept.WithLabelValues("deleted").Add(float64(deleted))
	m.sweepChanges.Add(float64(changes))
}

// observeSweepBehind records how far a partition's oldest held entry
// (unix ms, 0: none) is behind the sweeps' cut.
func (m *Metrics) observeSweepBehind(partition int, cut, oldest int64) {
	if m == nil {
		return
	}
	behind := 0.0
	if oldest > 0 && oldest < cut {
		behind = float64(cut-oldest) / 1000
	}
	m.sweepBehind.WithLabelValues(strconv.Itoa(partition)).Set(behind)
}

// releasePartition drops the gauges of a partition this instance no
// longer owns: its new owner reports them, and a value left here would
// keep an alert on it (AlsoboughtAgeingSweepBehind) firing on the old
// owner and its status page saying NOT OK.
func (m *Metrics) releasePartition(partition int) {
	if m == nil {
		return
	}
	p := strconv.Itoa(partition)
	m.appliedOff.DeleteLabelValues(p)
	m.sweepBehind.DeleteLabelValues(p)
}

func (m *Metrics) observeRewind(partition int) {
	if m != nil {
		m.rewinds.WithLabelValues(strconv.Itoa(partition)).Inc()
	}
}

func (m *Metrics) observeDeadLetterFallback(cause error) {
	if m != nil {
		m.dlqMinimal.WithLabelValues(kafkaErrorLabel(cause)).Inc()
	}
}

func (m *Metrics) observeDeadLetterLost(cause error) {
	if m != nil {
		m.dlqLost.WithLabelValues(kafkaErrorLabel(cause)).Inc()
	}
}

// kafkaErrorLabel names a Kafka error for a label: its title in snake case
// (message_size_too_large), one of the protocol's few dozen codes, so the
// label stays bounded; "other" for anything else.
func kafkaErrorLabel(err error) string {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return "other"
	}
	return strings.ToLower(strings.ReplaceAll(ke.Title(), " ", "_"))
}
