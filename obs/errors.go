// Package obs holds the metrics that several components share: failed
// calls to Redis and to Kafka, whichever component made them.
package obs

import "github.com/prometheus/client_golang/prometheus"

// Errors counts failed calls to the services. A nil *Errors counts nothing.
type Errors struct{ redis, kafka prometheus.Counter }

// NewErrors registers the counters on reg.
func NewErrors(reg prometheus.Registerer) *Errors {
	e := &Errors{
		redis: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "alsobought", Name: "redis_errors_total",
			Help: "Failed Redis round trips (retried), from the consumer and the re-scorer."}),
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

// Kafka counts a failed Kafka call.
func (e *Errors) Kafka() {
	if e != nil {
		e.kafka.Inc()
	}
}
