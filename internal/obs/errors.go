// Package obs holds the metrics that several components share: failed
// calls to Redis and to Kafka, whichever component made them.
package obs

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

// Errors counts failed calls to the services. A nil *Errors counts nothing.
type Errors struct{ redis, kafka prometheus.Counter }

// NewErrors registers the counters on reg.
func NewErrors(reg prometheus.Registerer) *Errors {
	e := &Errors{
		redis: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "alsobought", Name: "redis_errors_total",
			Help: "Failed Redis round trips, from the consumer and the re-scorer (retried) and the HTTP API (answered 503)."}),
		kafka: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "alsobought", Name: "kafka_errors_total",
			Help: "Failed Kafka calls (retried): fetches, dead-letter and list-change writes, broker probes."}),
	}
	reg.MustRegister(e.redis, e.kafka)
	return e
}

// Redis counts a failed Redis round trip.
func (e *Errors) Redis() {
	if e != nil {
		e.redis.Inc()
	}
}

// Counts returns the failed calls counted so far, to Redis and to Kafka
// (0 and 0 for a nil *Errors).
func (e *Errors) Counts() (redis, kafka float64) {
	if e == nil {
		return 0, 0
	}
	return CounterValue(e.redis), CounterValue(e.kafka)
}

// CounterValue is a counter's value, read back from the counter itself
// (for the status page, which shows the process's own figures).
func CounterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m) // a counter's Write does not fail
	return m.GetCounter().GetValue()
}

// Kafka counts a failed Kafka call.
func (e *Errors) Kafka() {
	if e != nil {
		e.kafka.Inc()
	}
}

// Repeats returns a logger for the messages an outage repeats (a retry
// every backoff, a failure every poll): at most 3 lines per 30 s, so a
// Redis or Kafka outage does not flood the logs; the error counters above
// count every failure.
func Repeats(log zerolog.Logger) zerolog.Logger {
	return log.Sample(&zerolog.BurstSampler{Burst: 3, Period: 30 * time.Second})
}
