package httpapi

import (
	"maps"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// alertRule is an alert rule of deploy/prometheus/alerts.yml that the status
// page evaluates itself: `max by (<by>) (<metric>) > <above>`, held for
// <held> (the rule's `for`). The page reads the very gauge the rule reads,
// from this process's registry: no component of the page reports these
// figures (the lag monitor and the consumer only export them), and the same
// series keep the page and the alert in agreement. TestAlertRulesAreThoseOfAlertsYml
// holds the table to the rules.
type alertRule struct {
	name    string        // the alert, as alerts.yml names it
	metric  string        // the gauge the rule takes the max of
	by      string        // the label the rule keeps apart, firing per value of it; "": none
	above   float64       // the threshold
	held    time.Duration // the rule's `for`
	label   string        // the row on the page
	seconds bool          // the gauge is in seconds, else a count
	card    string        // the card of the page that shows the row
	section string        // the runbook's section: what to do when it is not OK
}

// alertRules are the rules the status page shows: the failure modes it
// would otherwise never show as not OK.
var alertRules = []alertRule{
	{name: "AlsoboughtCatalogueLag", metric: "alsobought_catalogue_lag_messages", held: 10 * time.Minute,
		label: "catalogue records not applied (most on a partition)", card: "backlog", section: "alsoboughtcataloguelag"},
	{name: "AlsoboughtAgeingSweepBehind", metric: "alsobought_sweep_behind_seconds", by: "partition", above: 3600,
		held: 30 * time.Minute, label: "ageing sweeps behind their cut", seconds: true, card: "background",
		section: "alsoboughtageingsweepbehind"},
}

// Alert states on the page.
const (
	alertOK      = "OK"
	alertPending = "PENDING" // over the threshold for less than the rule's `for`
	alertNotOK   = "NOT OK"  // over it for the rule's `for`: the alert fires
)

// ruleReading is a rule's gauge at one reading: the max of its series per
// value of the rule's by label. Nil: this process exports no series of it.
type ruleReading map[string]float64

// read takes the rule's reading from its gauge's family.
func (r alertRule) read(mf *dto.MetricFamily) ruleReading {
	out := ruleReading{}
	for _, m := range mf.GetMetric() {
		g, v := labelValue(m, r.by), m.GetGauge().GetValue()
		if old, ok := out[g]; !ok || v > old {
			out[g] = v
		}
	}
	return out
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// readAlertGauge keeps mf's reading in f when it is a rule's gauge.
func readAlertGauge(mf *dto.MetricFamily, f *figures) {
	for _, r := range alertRules {
		if mf.GetName() == r.metric && mf.GetType() == dto.MetricType_GAUGE && len(mf.GetMetric()) > 0 {
			if f.rules == nil {
				f.rules = map[string]ruleReading{}
			}
			f.rules[r.name] = r.read(mf)
		}
	}
}

// ruleClock remembers, per rule and value of its by label, since when the
// rule's condition has held without a break, as Prometheus keeps a pending
// alert between evaluations: the page says NOT OK when the alert fires,
// not at a moment's excess (a catalogue record waits a batch before it is
// applied; a sweep after a long stop starts far behind and catches up). It
// knows only what this process read: after a restart the wait starts over.
type ruleClock struct {
	last  time.Time
	since map[string]map[string]time.Time // by rule, by value of its by label
}

// observe records the readings taken at at.
func (c *ruleClock) observe(at time.Time, readings map[string]ruleReading) {
	if at.Before(c.last) {
		return // an older reading that came late would break a wait a newer one saw
	}
	c.last = at
	next := map[string]map[string]time.Time{}
	for _, r := range alertRules {
		for g, v := range readings[r.name] {
			if v <= r.above {
				continue
			}
			if next[r.name] == nil {
				next[r.name] = map[string]time.Time{}
			}
			since, ok := c.since[r.name][g]
			if !ok {
				since = at
			}
			next[r.name][g] = since
		}
	}
	c.since = next
}

// alertView is a rule as the page shows it at a reading.
type alertView struct {
	Name, Label, Metric, Card string
	Exported                  bool // false: this process exports no series of the gauge
	// Value is the gauge of the group the state is about: the one over the
	// threshold the longest, else the highest; Group is its value of the
	// rule's By label ("" when the rule keeps none apart).
	Value     float64
	By, Group string
	Seconds   bool
	State     string
	// Over is how long the condition has held (seconds; 0 when OK); Above
	// and For are the rule's threshold and duration.
	Over, Above, For float64
	Runbook          string // the runbook's section, when NOT OK
}

// Badge is the badge class of the state.
func (a alertView) Badge() string {
	switch a.State {
	case alertNotOK:
		return "ERR"
	case alertPending:
		return "WARN"
	}
	return "OK"
}

// views are the rules at now, from the readings of now, which observe has seen.
func (c *ruleClock) views(now time.Time, readings map[string]ruleReading, runbookURL string) []alertView {
	out := make([]alertView, 0, len(alertRules))
	for _, r := range alertRules {
		out = append(out, r.view(now, readings[r.name], c.since[r.name], runbookURL))
	}
	return out
}

// view is the rule at now: NOT OK when a group has been over the threshold
// for the rule's duration, PENDING when one is over for less, else OK.
func (r alertRule) view(now time.Time, reading ruleReading, since map[string]time.Time, runbookURL string) alertView {
	v := alertView{Name: r.name, Label: r.label, Metric: r.metric, Card: r.card, By: r.by, Seconds: r.seconds,
		Above: r.above, For: r.held.Seconds(), Exported: len(reading) > 0, State: alertOK}
	groups := slices.Sorted(maps.Keys(reading)) // ties go to the first, for a page that does not flicker
	var first time.Time
	for _, g := range groups {
		if at, ok := since[g]; ok && (first.IsZero() || at.Before(first)) {
			v.Group, first = g, at
		}
	}
	if first.IsZero() {
		for i, g := range groups {
			if i == 0 || reading[g] > reading[v.Group] {
				v.Group = g
			}
		}
	}
	v.Value = reading[v.Group]
	if !first.IsZero() {
		v.Over = max(0, now.Sub(first).Seconds())
		v.State = alertPending
		if now.Sub(first) >= r.held {
			v.State = alertNotOK
			if runbookURL != "" {
				v.Runbook = runbookURL + "#" + r.section
			}
		}
	}
	return v
}
