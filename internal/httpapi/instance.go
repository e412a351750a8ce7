package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/internal/lag"
)

// DefaultRunbookURL is docs/runbook.md as the project publishes it: the
// base of the alert rules' runbook_url links (deploy/prometheus/alerts.yml)
// and of the status page's.
const DefaultRunbookURL = "https://github.com/alsobought/alsobought/blob/main/docs/runbook.md"

// Instance says which instance answers: its build, since when it runs, and
// the state and topics it works on, with no credential (GET /v1/status,
// the status page). On-call reads it to know what they are looking at.
type Instance struct {
	Version   string    `json:"version"`
	Commit    string    `json:"commit"`
	GoVersion string    `json:"go_version"`
	Started   time.Time `json:"started"`
	// UptimeSeconds is the time from Started to the answer; the answer sets
	// it, so that a client need not trust its own clock against Started.
	UptimeSeconds float64 `json:"uptime_seconds"`
	// Consuming is false for a serve that does not join the group (-consume=false).
	Consuming bool   `json:"consuming"`
	Topic     string `json:"topic"`
	Group     string `json:"group"`
	Prefix    string `json:"prefix"`
	RedisMode string `json:"redis_mode"`
	// RedisAddrs and Brokers are as configured, any password removed.
	RedisAddrs string   `json:"redis_addrs"`
	Brokers    []string `json:"brokers"`
	// Recorded are the settings recorded with the state (a new value needs a
	// new state or a rewrite of the lists), as this instance runs them.
	Recorded map[string]string `json:"recorded_settings"`
	// MemberID and Partitions are this instance's place in the consumer
	// group, which the answer sets from the consumer, as the status page
	// shows it: they tell which of the lag report's group_members this
	// instance is. Both are absent without a consumer; MemberID is absent
	// too until the consumer has joined, and Partitions is [] while it
	// owns none.
	MemberID   string `json:"member_id,omitempty"`
	Partitions []int  `json:"partitions,omitzero"`
}

// answering is the instance as an answer at now gives it: its uptime then,
// and its place in the group from the consumer's figures (nil: this
// process runs no consumer). The configured Instance is left as it is.
func (in *Instance) answering(now time.Time, cons *consumer.Stats) *Instance {
	if in == nil {
		return nil
	}
	out := *in
	out.UptimeSeconds = max(0, now.Sub(in.Started).Round(time.Millisecond).Seconds())
	out.MemberID, out.Partitions = "", nil
	if cons != nil {
		out.MemberID = cons.MemberID
		out.Partitions = append([]int{}, cons.Partitions...) // never nil: "owns none" is not "no consumer"
	}
	return &out
}

// Readiness is /readyz's answer, as the status carries it.
type Readiness struct {
	Status string `json:"status"`           // "ready" or "not ready"
	Reason string `json:"reason,omitempty"` // why not ready
}

// statusResponse is the body of GET /v1/status: the lag report, with
// which instance answers and whether it is ready, and the figures of the
// status page over the recent window and since the process started.
type statusResponse struct {
	lag.Report
	Readiness  Readiness      `json:"readiness"`
	Instance   *Instance      `json:"instance,omitempty"`
	Recent     recentView     `json:"recent"`
	SinceStart sinceStartView `json:"since_start"`
}

// sinceStartView is what the status page shows since the process started,
// in JSON: beside the recent window's rates, the totals they are rates of.
type sinceStartView struct {
	Totals map[string]float64 `json:"totals"` // by metric name, the counters of recent's rates
	// DeadLetters are by reason, every reason (zeros too, so that a client
	// tells "none" from "not counted"); absent when this process counts
	// none (no consumer, and no consumer metrics registered).
	DeadLetters map[string]uint64 `json:"dead_letters_by_reason,omitempty"`
}

// newSinceStartView is the JSON of a metricsView's totals.
func newSinceStartView(mv metricsView) sinceStartView {
	v := sinceStartView{Totals: map[string]float64{}}
	for _, rows := range [][]counterRow{mv.Counters, mv.Errors} {
		for _, r := range rows {
			if r.Exported {
				v.Totals[r.Name] = r.Total
			}
		}
	}
	if mv.DeadLetters != nil {
		v.DeadLetters = make(map[string]uint64, len(mv.DeadLetters))
		for _, r := range mv.DeadLetters {
			v.DeadLetters[r.Reason] = r.Count
		}
	}
	return v
}

// recentView is the recent window of the status page in JSON: rates per
// second of the counters this process exports, and the freshness.
type recentView struct {
	From    time.Time          `json:"from"`
	Seconds float64            `json:"seconds"`
	Rates   map[string]float64 `json:"rates_per_second"` // by metric name; none while the window is under a second
	// Freshness over the window (seconds), and the objective's state: OK,
	// OVER, or absent without a list re-scored in the window.
	FreshnessP50       *float64 `json:"freshness_p50_seconds,omitempty"`
	FreshnessP95       *float64 `json:"freshness_p95_seconds,omitempty"`
	FreshnessObjective string   `json:"freshness_objective,omitempty"`
}

// newRecentView is the JSON of a metricsView's recent window.
func newRecentView(mv metricsView) recentView {
	v := recentView{From: mv.From.UTC(), Seconds: mv.To.Sub(mv.From).Seconds(), Rates: map[string]float64{}}
	for _, rows := range [][]counterRow{mv.Counters, mv.Errors} {
		for _, r := range rows {
			if r.Exported && mv.HasRate {
				v.Rates[r.Name] = r.Rate
			}
		}
	}
	if mv.Recent.Count > 0 {
		p50, p95 := mv.Recent.P50.Value, mv.Recent.P95.Value
		v.FreshnessP50, v.FreshnessP95, v.FreshnessObjective = &p50, &p95, mv.Objective.State
	}
	return v
}

// readiness asks the readiness check, as /readyz does.
func (s *server) readiness(ctx context.Context) Readiness {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if why := s.ready(ctx); why != "" {
		return Readiness{Status: "not ready", Reason: why}
	}
	return Readiness{Status: "ready"}
}

// status answers with the lag status per partition and for the group, the
// readiness, the instance, and the page's figures recent and since start.
func (s *server) status(w http.ResponseWriter, r *http.Request) {
	if s.opts.Status == nil {
		writeError(w, http.StatusServiceUnavailable, "no lag monitor in this process")
		return
	}
	now := time.Now()
	mv := s.readStats(now)
	writeJSON(w, http.StatusOK, statusResponse{Report: s.opts.Status(), Readiness: s.readiness(r.Context()),
		Instance: s.opts.Instance.answering(now, mv.Consumer), Recent: newRecentView(mv), SinceStart: newSinceStartView(mv)})
}

// RegisterInfo adds the alsobought_instance_info gauge to reg: always 1,
// with what the instance works on in its labels, so that a dashboard or
// an alert can tell the instances of a job apart by their topic, group
// and state (join on instance), as alsobought_build_info tells their
// builds.
func (in *Instance) RegisterInfo(reg prometheus.Registerer) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "alsobought", Name: "instance_info",
		Help: "What this instance works on: events topic, consumer group, Redis key prefix, Redis mode, and whether it consumes (-consume). Always 1."},
		[]string{"topic", "group", "prefix", "redis_mode", "consuming"})
	g.WithLabelValues(in.Topic, in.Group, in.Prefix, in.RedisMode, strconv.FormatBool(in.Consuming)).Set(1)
	reg.MustRegister(g)
}
