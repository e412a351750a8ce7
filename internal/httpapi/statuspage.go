package httpapi

import (
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/store"
)

// The metrics whose totals the status page shows, by name.
const (
	metricConsumed      = "alsobought_events_consumed_total"
	metricApplied       = "alsobought_events_applied_total"
	metricDeadLettered  = "alsobought_events_dead_lettered_total"
	metricRescored      = "alsobought_items_rescored_total"
	metricRedisErrors   = "alsobought_redis_errors_total"
	metricKafkaErrors   = "alsobought_kafka_errors_total"
	metricRescoreErrors = "alsobought_rescore_errors_total"
	metricFeedErrors    = "alsobought_feed_publish_errors_total"
)

// counterTable is a table of counters on the page: the metric each row
// counts the same as (the row's data-metric), and its label.
type counterTable []struct{ name, label string }

var (
	throughputCounters = counterTable{
		{metricConsumed, "events consumed"},
		{metricApplied, "events applied"},
		{metricDeadLettered, "dead-lettered"},
		{metricRescored, "lists re-scored"},
	}
	errorCounters = counterTable{
		{metricRedisErrors, "failed Redis calls"},
		{metricKafkaErrors, "failed Kafka calls"},
		{metricRescoreErrors, "failed re-scoring rounds"},
		{metricFeedErrors, "failed feed publications"},
	}
)

// runbookSections are the runbook's sections (docs/runbook.md: an alert's
// name in lower case) for a counter that moved in the recent window.
var runbookSections = map[string]string{
	metricDeadLettered:  "alsoboughtdeadletterrate",
	metricRedisErrors:   "alsoboughtrediserrors",
	metricKafkaErrors:   "alsoboughtkafkaerrors",
	metricRescoreErrors: "alsoboughtrescorebacklog",
	metricFeedErrors:    "alsoboughtkafkaerrors",
}

// rescoreBacklogObjective is the runbook's bound on the oldest dirty mark
// (AlsoboughtRescoreBacklog).
const rescoreBacklogObjective = 120 * time.Second

// FreshnessObjective is the runbook's objective: p95 of the freshness over
// RecentWindow at most this (AlsoboughtFreshnessObjective).
const FreshnessObjective = 30 * time.Second

// ConsumerStats is the consumer as the status page reads it.
type ConsumerStats interface {
	Stats() consumer.Stats
}

// RescoreStats is the re-scorer as the status page reads it.
type RescoreStats interface {
	Stats() rescore.Stats
}

// minRateWindow is the shortest window the page computes a rate over.
const minRateWindow = time.Second

//go:embed statuspage.html
var statusPageHTML string

var statusPageTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"count":   formatCount,
	"seconds": formatSeconds,
	"offset": func(o int64) string {
		if o < 0 {
			return "none"
		}
		return strconv.FormatInt(o, 10)
	},
	"score": func(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) },
	"rate": func(f float64) string { // NaN: no window yet
		if math.IsNaN(f) {
			return "–"
		}
		return strconv.FormatFloat(f, 'f', 1, 64)
	},
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"inc":   func(i int) int { return i + 1 },
	"join":  strings.Join,
	"ints": func(ns []int) string {
		if len(ns) == 0 {
			return "none"
		}
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = strconv.Itoa(n)
		}
		return strings.Join(out, ", ")
	},
	"trimSuffix": strings.TrimSuffix,
	"listTitle": func(kind string) string {
		switch store.ListKind(kind) {
		case store.Bought:
			return "bought: customers who bought it also bought"
		case store.Viewed:
			return "viewed: customers who viewed it also viewed"
		case store.ViewedBought:
			return "viewed_bought: customers who viewed it bought"
		}
		return kind
	},
}).Parse(statusPageHTML))

// statusView is what the page shows.
type statusView struct {
	Now  time.Time
	Code int
	// Lag is the lag monitor's latest report; nil when the process has none.
	Lag *lag.Report
	// Instance is which instance this is; nil when not told.
	Instance *Instance
	// Ready is the readiness check's answer, as /readyz gives it.
	Ready Readiness
	// RunbookURL is where the runbook's sections are linked from.
	RunbookURL string
	// Member is this process's consumer in the group: its member id and
	// the partitions it owns; nil without a consumer.
	Member  *membershipView
	Metrics metricsView
	Form    statusForm
	// Error is why the lookup was not made (400) or failed (503).
	Error           string
	Related         []RelatedResponse
	Recommendations *RecommendationsResponse
}

// Runbook is the link to a section of the runbook, "" without a runbook.
func (v statusView) Runbook(section string) string {
	if v.RunbookURL == "" {
		return ""
	}
	return v.RunbookURL + "#" + section
}

// GroupRunbook is the runbook section of the group's status when it is
// not OK, "" when it is.
func (v statusView) GroupRunbook() string {
	switch {
	case v.Lag == nil:
		return ""
	case v.Lag.Status == lag.Err && v.Lag.Members == 0:
		return v.Runbook("alsoboughtnogroupmembers")
	case v.Lag.Status == lag.Err:
		return v.Runbook("alsoboughtconsumerstalled")
	case v.Lag.Status == lag.Warn:
		return v.Runbook("alsoboughtlaghighandgrowing")
	}
	return ""
}

// ReadyRunbook is the runbook section of the not-ready reason.
func (v statusView) ReadyRunbook() string {
	r := v.Ready.Reason
	switch {
	case v.Ready.Status == "ready":
		return ""
	case strings.HasPrefix(r, "redis"):
		return v.Runbook("alsoboughtrediserrors")
	case strings.HasPrefix(r, "kafka"):
		return v.Runbook("alsoboughtkafkaerrors")
	case strings.Contains(r, "evict"):
		return v.Runbook("alsoboughtredisevictions")
	}
	return v.Runbook("alsoboughtdown")
}

// BacklogOver says whether the oldest dirty mark is past the runbook's bound.
func (v statusView) BacklogOver() bool {
	return v.Metrics.DirtyAge.Exported && v.Metrics.DirtyAge.Value > rescoreBacklogObjective.Seconds()
}

type membershipView struct {
	ID         string
	Partitions []int
	// The partitions' sweeps (ageing and erasure): the oldest of their
	// last sweeps (zero: none yet), how many partitions have swept, and
	// the interval.
	OldestSweep   time.Time
	Swept         int
	SweepInterval time.Duration
}

// NextSweep is when the partition that swept longest ago sweeps next, in
// seconds from the page's time (0: due now).
func (v statusView) NextSweep() float64 {
	if v.Member == nil || v.Member.OldestSweep.IsZero() {
		return 0
	}
	return max(0, v.Member.OldestSweep.Add(v.Member.SweepInterval).Sub(v.Now).Seconds())
}

// Ago is the time from t to the page's time, in seconds.
func (v statusView) Ago(t time.Time) float64 { return max(0, v.Now.Sub(t).Seconds()) }

// Between is the time from a to b, in seconds.
func (v statusView) Between(a, b time.Time) float64 { return b.Sub(a).Seconds() }

// statusForm holds the lookup form's values, as sent.
type statusForm struct {
	Item, List, Customer, K string
}

// metricsView is what the page shows of the consumer and the re-scorer:
// totals since the process started, and the change over the recent window
// (RecentWindow, or since the start while the process is younger).
type metricsView struct {
	Counters, Errors []counterRow
	// The recent window: from the base sample to now.
	From, To   time.Time
	HasRate    bool
	Freshness  freshnessView // since start
	Recent     freshnessView // over the recent window
	Objective  objectiveView
	DirtyItems gaugeValue
	DirtyAge   gaugeValue
	// DeadLetters are the dead letters since start by reason, every
	// reason; nil when this process counts none (no consumer, and no
	// consumer metrics exported).
	DeadLetters []reasonCount
	// Rescorer and Consumer are the figures the page was made from (the
	// background work, the place in the group); nil without one.
	Rescorer *rescore.Stats
	Consumer *consumer.Stats
	// Alerts are the alert rules the page evaluates (alertRules), in order.
	Alerts []alertView
}

// AlertsOn are the alert rules of a card of the page.
func (mv metricsView) AlertsOn(card string) []alertView {
	var out []alertView
	for _, a := range mv.Alerts {
		if a.Card == card {
			out = append(out, a)
		}
	}
	return out
}

type reasonCount struct {
	Reason string
	Count  uint64
}

type counterRow struct {
	Label, Name string
	Exported    bool // false: this process has no such component
	Total       float64
	InWindow    float64 // the change over the recent window
	Rate        float64 // per second over the recent window; NaN while it is under minRateWindow
	Runbook     string  // the runbook's section, when the counter moved in the window and has one
}

// objectiveView is the freshness objective and where the recent window's
// p95 stands: "OK", "OVER", or "" without a list re-scored in the window.
type objectiveView struct {
	Seconds float64
	State   string
}

type gaugeValue struct {
	Exported bool
	Value    float64
}

type freshnessView struct {
	Exported bool
	Count    uint64
	P50, P95 obs.Quantile
}

// statusPage serves GET /status: the lag status, throughput, freshness and
// backlog of this process, and a lookup of an item's related lists and a
// customer's recommendations, as one server-rendered HTML page.
func (s *server) statusPage(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	q := r.URL.Query()
	v := statusView{Now: now.UTC(), Code: http.StatusOK,
		Form: statusForm{Item: q.Get("item"), List: q.Get("list"), Customer: q.Get("customer"), K: q.Get("k")}}
	if s.opts.Status != nil {
		rep := s.opts.Status()
		v.Lag = &rep
	}
	v.Metrics = s.readStats(now)
	v.Instance, v.Ready, v.RunbookURL = s.opts.Instance, s.readiness(r.Context()), s.opts.RunbookURL
	if st := v.Metrics.Consumer; st != nil {
		v.Member = &membershipView{ID: st.MemberID, Partitions: st.Partitions, Swept: len(st.LastSweeps), SweepInterval: st.SweepInterval}
		for _, at := range st.LastSweeps {
			if v.Member.OldestSweep.IsZero() || at.Before(v.Member.OldestSweep) {
				v.Member.OldestSweep = at
			}
		}
	}
	lk, err := parseLookup(r)
	why, authorized := s.authorized(r)
	switch {
	case err != nil:
		v.Code, v.Error = http.StatusBadRequest, err.Error()
	case lk.customer != "" && s.opts.Routes == AllRoutes && !authorized:
		// On the API's port, the lookup of a customer is as personal as
		// GET /v1/customers/{id}/recommendations; on the operators' own
		// port it is the operators' (docs/http-api.md, "Authentication").
		s.challenge(w, why)
		v.Code, v.Error = http.StatusUnauthorized, "customer lookup: "+why+", or use the status page on the operators' port (-ops-http)"
	default:
		if err := s.lookup(r.Context(), lk, &v); err != nil {
			s.opts.Errors.Redis()
			s.log.Warn().Err(err).Msg("status page lookup failed")
			v.Code, v.Error = http.StatusServiceUnavailable, "state store unavailable"
		}
	}

	var b strings.Builder
	if err := statusPageTemplate.Execute(&b, v); err != nil {
		s.errLog.Error().Err(err).Msg("status page template failed")
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page has no script: forbid every script, and anything else not inline or from here.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(v.Code)
	_, _ = w.Write([]byte(b.String()))
}

// lookupRequest is a validated lookup: an item's lists and/or a customer's
// recommendations.
type lookupRequest struct {
	item     string
	kinds    []store.ListKind
	itemK    int
	customer string
	rec      recParams
}

// parseLookup checks the lookup parameters as the API checks its own:
// item and customer (ids, empty: no lookup), list (a list kind, or empty or
// "all" for every kind), k, and the recommendation parameters of
// GET /v1/customers/{id}/recommendations.
func parseLookup(r *http.Request) (lookupRequest, error) {
	q := r.URL.Query()
	lk := lookupRequest{item: q.Get("item"), customer: q.Get("customer"), kinds: store.ListKinds()}
	var err error
	if lk.itemK, err = parseK(r, 10); err != nil {
		return lk, err
	}
	if v := q.Get("list"); v != "" && v != "all" {
		kind, err := store.ParseListKind(v)
		if err != nil {
			return lk, fmt.Errorf("list: %w", err)
		}
		lk.kinds = []store.ListKind{kind}
	}
	if lk.item != "" {
		if err := event.ValidID(lk.item, event.DefaultMaxIDLen); err != nil {
			return lk, fmt.Errorf("item id: %w", err)
		}
	}
	if lk.rec, err = parseRecParams(r); err != nil {
		return lk, err
	}
	if lk.customer != "" {
		if err := event.ValidID(lk.customer, event.DefaultMaxIDLen); err != nil {
			return lk, fmt.Errorf("customer id: %w", err)
		}
		lk.rec.customer = lk.customer
	}
	return lk, nil
}

// lookup makes the reads of GET /v1/items/{id}/related (once per kind) and
// of GET /v1/customers/{id}/recommendations.
func (s *server) lookup(ctx context.Context, lk lookupRequest, v *statusView) error {
	if lk.item != "" {
		for _, kind := range lk.kinds {
			resp, err := s.relatedList(ctx, kind, lk.item, lk.itemK)
			if err != nil {
				return err
			}
			v.Related = append(v.Related, resp)
		}
	}
	if lk.customer != "" {
		resp, err := s.recommendations(ctx, lk.rec)
		if err != nil {
			return err
		}
		v.Recommendations = &resp
	}
	return nil
}

// readStats reads the consumer's and the re-scorer's figures (or, for a
// component this process does not run, its exported counters): counter
// totals since the process started, their change and rates over the
// recent window, freshness quantiles since the start and over the window
// against the objective, the re-scoring backlog at the last poll, and the
// alert rules the page evaluates.
func (s *server) readStats(now time.Time) metricsView {
	var mv metricsView
	cur, base := readFigures(s.opts, s.metrics, now), s.recent.base(now)
	if st := cur.rescorer; st != nil {
		mv.Rescorer = st
		if st.BacklogKnown {
			mv.DirtyItems = gaugeValue{Exported: true, Value: float64(st.DirtyItems)}
			mv.DirtyAge = gaugeValue{Exported: true, Value: st.OldestAge}
		}
	}
	if h := cur.freshness; h != nil {
		mv.Freshness = newFreshnessView(h)
		mv.Recent = newFreshnessView(obs.HistogramSince(h, base.freshness))
		mv.Objective.Seconds = FreshnessObjective.Seconds()
		if mv.Recent.Count > 0 {
			mv.Objective.State = "OK"
			if p95 := mv.Recent.P95; p95.Beyond || p95.Value > mv.Objective.Seconds {
				mv.Objective.State = "OVER"
			}
		}
	}
	mv.Consumer = cur.consumer
	mv.Alerts = s.recent.alerts(cur, s.opts.RunbookURL)
	if by := cur.deadLetters; by != nil {
		for _, r := range event.Reasons() {
			mv.DeadLetters = append(mv.DeadLetters, reasonCount{Reason: string(r), Count: by[r]})
		}
	}
	mv.From, mv.To = base.at, now
	window := now.Sub(base.at).Seconds()
	mv.HasRate = now.Sub(base.at) >= minRateWindow
	rows := func(table counterTable) []counterRow {
		var out []counterRow
		for _, c := range table {
			row := counterRow{Label: c.label, Name: c.name}
			row.Total, row.Exported = cur.totals[c.name]
			row.InWindow = max(0, row.Total-base.totals[c.name])
			if sec := runbookSections[c.name]; sec != "" && row.InWindow > 0 && s.opts.RunbookURL != "" {
				row.Runbook = s.opts.RunbookURL + "#" + sec
			}
			row.Rate = math.NaN()
			if mv.HasRate {
				row.Rate = row.InWindow / window
			}
			out = append(out, row)
		}
		return out
	}
	mv.Counters, mv.Errors = rows(throughputCounters), rows(errorCounters)
	return mv
}

func newFreshnessView(h *dto.Histogram) freshnessView {
	return freshnessView{Exported: true, Count: h.GetSampleCount(), P50: obs.HistogramQuantile(0.5, h), P95: obs.HistogramQuantile(0.95, h)}
}

// formatCount writes a count with thousands separators: 1,234,567.
func formatCount(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		n = int64(min(x, math.MaxInt64))
	case float64:
		n = int64(math.Round(x))
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatSeconds writes a duration in seconds for people: 0.42 s, 12.3 s,
// 4m05s, 2h07m.
func formatSeconds(sec float64) string {
	switch {
	case math.IsNaN(sec):
		return "n/a"
	case sec < 1:
		return strconv.FormatFloat(sec, 'f', 2, 64) + " s"
	case sec < 60:
		return strconv.FormatFloat(sec, 'f', 1, 64) + " s"
	case sec < 3600:
		d := int64(sec)
		return fmt.Sprintf("%dm%02ds", d/60, d%60)
	}
	d := int64(sec) / 60
	return fmt.Sprintf("%dh%02dm", d/60, d%60)
}
