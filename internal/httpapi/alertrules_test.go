package httpapi

import (
	"context"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/alsobought/alsobought/internal/testenv"
)

// TestAlertRulesAreThoseOfAlertsYml: each rule the status page evaluates is
// the rule of deploy/prometheus/alerts.yml with its name, word for word:
// its expression (the gauge, the label it keeps apart, the threshold), its
// `for`, and the runbook section its runbook_url links. A rule changed in
// one place and not the other would make the page and the alert disagree.
func TestAlertRulesAreThoseOfAlertsYml(t *testing.T) {
	b, err := os.ReadFile(testenv.RepoFile("deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	for _, r := range alertRules {
		found := false
		for _, g := range file.Groups {
			for _, rule := range g.Rules {
				if rule.Alert != r.name {
					continue
				}
				found = true
				by := "job"
				if r.by != "" {
					by += ", " + r.by
				}
				want := "max by (" + by + ") (" + r.metric + ") > " + strconv.FormatFloat(r.above, 'f', -1, 64)
				if got := strings.Join(strings.Fields(rule.Expr), " "); got != want {
					t.Errorf("%s: alerts.yml's expression is %q, the page evaluates %q", r.name, got, want)
				}
				if held, err := model.ParseDuration(rule.For); err != nil || time.Duration(held) != r.held {
					t.Errorf("%s: alerts.yml's for is %q, the page waits %s", r.name, rule.For, r.held)
				}
				if u := rule.Annotations["runbook_url"]; !strings.HasSuffix(u, "#"+r.section) {
					t.Errorf("%s: alerts.yml links %s, the page links section %s", r.name, u, r.section)
				}
			}
		}
		if !found {
			t.Errorf("the page evaluates %s, which deploy/prometheus/alerts.yml does not have", r.name)
		}
	}
}

// ruleOf returns the rule of alertRules with name.
func ruleOf(t *testing.T, name string) alertRule {
	t.Helper()
	for _, r := range alertRules {
		if r.name == name {
			return r
		}
	}
	t.Fatalf("no rule %s", name)
	return alertRule{}
}

// TestARuleIsNotOKOnceItsConditionHeldForTheRulesDuration: as Prometheus
// fires an alert, the page says NOT OK (with the runbook's section) only
// once the condition has held for the rule's `for` without a break,
// PENDING before, OK when it does not hold; a break starts the wait over.
// A rule that keeps a label apart waits per value of it: a partition that
// goes over as another recovers starts its own wait.
func TestARuleIsNotOKOnceItsConditionHeldForTheRulesDuration(t *testing.T) {
	const runbook = "https://wiki.example.com/runbook"
	t0 := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	var c ruleClock
	look := func(name string, when time.Time, reading ruleReading) alertView {
		t.Helper()
		readings := map[string]ruleReading{name: reading}
		c.observe(when, readings)
		for _, v := range c.views(when, readings, runbook) {
			if v.Name == name {
				return v
			}
		}
		t.Fatalf("no view of %s", name)
		return alertView{}
	}
	expect := func(v alertView, state, group string, over float64) {
		t.Helper()
		if v.State != state || v.Group != group || v.Over != over {
			t.Errorf("%s: %s on %q, over for %v s; want %s on %q, over for %v s", v.Name, v.State, v.Group, v.Over, state, group, over)
		}
		if wantLink := state == alertNotOK; (v.Runbook != "") != wantLink || (wantLink && v.Runbook != runbook+"#"+ruleOf(t, v.Name).section) {
			t.Errorf("%s %s links %q", v.Name, v.State, v.Runbook)
		}
	}

	t.Run("catalogue records wait", func(t *testing.T) {
		const rule = "AlsoboughtCatalogueLag" // above 0 for 10 minutes
		expect(look(rule, at(0), ruleReading{"": 0}), alertOK, "", 0)
		expect(look(rule, at(1), ruleReading{"": 3}), alertPending, "", 0)
		expect(look(rule, at(6), ruleReading{"": 1}), alertPending, "", 300)
		expect(look(rule, at(11), ruleReading{"": 2}), alertNotOK, "", 600)
		expect(look(rule, at(12), ruleReading{"": 0}), alertOK, "", 0)
		expect(look(rule, at(13), ruleReading{"": 5}), alertPending, "", 0)
	})

	t.Run("a reading that comes late does not break a wait", func(t *testing.T) {
		const rule = "AlsoboughtCatalogueLag"
		c = ruleClock{}
		look(rule, at(0), ruleReading{"": 3})
		look(rule, at(10), ruleReading{"": 3})
		c.observe(at(5), map[string]ruleReading{rule: {"": 0}}) // taken before, recorded after
		expect(look(rule, at(10), ruleReading{"": 3}), alertNotOK, "", 600)
	})

	t.Run("sweeps behind, per partition", func(t *testing.T) {
		const rule = "AlsoboughtAgeingSweepBehind" // above 3600 s for 30 minutes, per partition
		c = ruleClock{}
		expect(look(rule, at(0), ruleReading{"1": 4000, "2": 0}), alertPending, "1", 0)
		expect(look(rule, at(20), ruleReading{"1": 3700, "2": 9000}), alertPending, "1", 1200)
		expect(look(rule, at(35), ruleReading{"1": 100, "2": 9000}), alertPending, "2", 900)
		expect(look(rule, at(50), ruleReading{"1": 100, "2": 8000}), alertNotOK, "2", 1800)
		v := look(rule, at(51), ruleReading{"1": 100, "2": 20})
		expect(v, alertOK, "1", 0)
		if v.Value != 100 {
			t.Errorf("all under the threshold: the page shows %v s, want the highest, 100 s", v.Value)
		}
	})

	t.Run("a gauge this process does not export", func(t *testing.T) {
		c = ruleClock{}
		v := look("AlsoboughtAgeingSweepBehind", at(0), nil)
		if v.Exported {
			t.Errorf("no series: the page should say the gauge is not exported: %+v", v)
		}
	})
}

// TestStatusPageShowsTheAlertRulesItEvaluates: the page shows the catalogue
// topic's lag and the ageing sweeps behind their cut, read from this
// process's metrics, each NOT OK with a link to its runbook section once
// the alert would fire, OK (with no link) when the gauge falls back, and
// "–" where the process exports no such gauge. It needs no service.
func TestStatusPageShowsTheAlertRulesItEvaluates(t *testing.T) {
	const runbook = "https://wiki.example.com/runbook"
	reg := prometheus.NewRegistry()
	gauge := func(name string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: "the alert rule's gauge"}, []string{"partition"})
		reg.MustRegister(g)
		return g
	}
	catalogue, sweeps := gauge("alsobought_catalogue_lag_messages"), gauge("alsobought_sweep_behind_seconds")
	catalogue.WithLabelValues("0").Set(0)
	catalogue.WithLabelValues("1").Set(4)
	sweeps.WithLabelValues("2").Set(7200)
	sweeps.WithLabelValues("5").Set(10)
	// A window that began 31 minutes ago, over both thresholds since.
	opts := Options{RunbookURL: runbook}
	recent := &Recent{opts: opts, metrics: reg}
	recent.sample(time.Now().Add(-31 * time.Minute))
	opts.Recent = recent
	ready := func(context.Context) string { return "" }
	page := func(reg prometheus.Gatherer, opts Options) string {
		rec := httptest.NewRecorder()
		New(Store{}, opts, ready, reg, zerolog.Nop()).ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
		return rec.Body.String()
	}
	row := func(html, alert string) string {
		t.Helper()
		m := regexp.MustCompile(`(?s)<tr data-alert="` + alert + `".*?</tr>`).FindString(html)
		if m == "" {
			t.Fatalf("the page has no row for %s:\n%s", alert, html)
		}
		return m
	}
	want := func(row string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !regexp.MustCompile(p).MatchString(row) {
				t.Errorf("the row lacks %s:\n%s", p, row)
			}
		}
	}

	html := page(reg, opts)
	want(row(html, "AlsoboughtCatalogueLag"), `data-state="NOT OK"`, `<span class="badge ERR">NOT OK</span>`,
		`<a class="runbook" href="`+runbook+`#alsoboughtcataloguelag">what to do</a>`, `<td class="n">4, above 0 for 31m0\ds</td>`)
	want(row(html, "AlsoboughtAgeingSweepBehind"), `data-state="NOT OK"`, `<span class="badge ERR">NOT OK</span>`,
		`<a class="runbook" href="`+runbook+`#alsoboughtageingsweepbehind">what to do</a>`, `<td class="n">2h00m on partition 2, above 1h00m for 31m0\ds</td>`)
	if !strings.Contains(html, `id="backlog"`) || !strings.Contains(between(html, `id="backlog"`, `</section>`), `data-alert="AlsoboughtCatalogueLag"`) ||
		!strings.Contains(between(html, `id="background"`, `</section>`), `data-alert="AlsoboughtAgeingSweepBehind"`) {
		t.Errorf("the catalogue's lag belongs in the backlog, the sweeps in the background work:\n%s", html)
	}

	catalogue.WithLabelValues("1").Set(0)
	sweeps.WithLabelValues("2").Set(30)
	html = page(reg, opts)
	want(row(html, "AlsoboughtCatalogueLag"), `data-state="OK"`, `<span class="badge OK">OK</span>`, `<td class="n">0</td>`)
	want(row(html, "AlsoboughtAgeingSweepBehind"), `data-state="OK"`, `<td class="n">30.0 s on partition 2</td>`)
	if strings.Contains(html, "#alsoboughtcataloguelag") || strings.Contains(html, "#alsoboughtageingsweepbehind") {
		t.Errorf("back under the thresholds: no link to what to do:\n%s", html)
	}

	catalogue.WithLabelValues("0").Set(2)
	html = page(reg, opts)
	want(row(html, "AlsoboughtCatalogueLag"), `data-state="PENDING"`, `<span class="badge WARN">PENDING</span>`, `<td class="n">2, above 0 for 0\.\d\d s</td>`)
	if strings.Contains(html, "#alsoboughtcataloguelag") {
		t.Errorf("waiting for less than the rule's 10 minutes: no link yet:\n%s", html)
	}

	html = page(prometheus.NewRegistry(), Options{})
	for _, alert := range []string{"AlsoboughtCatalogueLag", "AlsoboughtAgeingSweepBehind"} {
		want(row(html, alert), `data-state=""`, `<span class="none" title="not exported by this process">&ndash;</span>`)
	}
}

// between is testenv.HTMLBetween.
func between(s, from, to string) string { return testenv.HTMLBetween(s, from, to) }
