package e2e

// The alert rules, their unit tests, the Grafana dashboard and the runbook
// name metrics in PromQL strings and prose, which no compiler checks: a
// renamed or misspelt metric makes an alert that never fires and a panel
// that stays empty. These tests compare every metric name they use with the
// metrics the service's components register. They need no services.

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/internal/buildinfo"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/redisguard"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
)

const (
	alertRulesFile = "deploy/prometheus/alerts.yml"
	alertTestsFile = "deploy/prometheus/alerts_test.yml"
	dashboardsGlob = "deploy/grafana/dashboards/*.json"
	runbookFile    = "docs/runbook.md"
)

// TestObservabilityMetricNames: every metric name in the expressions of the
// alert rules, in the input series of their unit tests, in the queries of
// the Grafana dashboards and in the runbook is a series the service
// exports; and the metrics of the service's own components are named by
// the conventions (namespace alsobought, and promlint's rules: units,
// _total on counters, help text).
func TestObservabilityMetricNames(t *testing.T) {
	own, exported := serviceMetrics(t)
	for _, mf := range own {
		if !strings.HasPrefix(mf.GetName(), "alsobought_") {
			t.Errorf("metric %s is outside the namespace alsobought", mf.GetName())
		}
	}
	problems, err := promlint.NewWithMetricFamilies(own).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}

	uses := map[string][]string{} // metric name -> where it is used
	for _, src := range []struct {
		file string
		uses func(*testing.T) map[string]string
	}{
		{alertRulesFile, alertRuleUses},
		{alertTestsFile, alertTestUses},
		{dashboardsGlob, dashboardUses},
		{runbookFile, runbookUses},
	} {
		found := src.uses(t)
		if len(found) == 0 {
			t.Errorf("%s: no metric name found: the file moved or the extraction is broken", src.file)
		}
		for where, expr := range found {
			for _, name := range promqlMetricNames(expr) {
				uses[name] = append(uses[name], where)
			}
		}
	}
	for name, where := range uses {
		if !exported[name] {
			slices.Sort(where)
			t.Errorf("metric %s is used but not exported, in:\n  %s", name, strings.Join(slices.Compact(where), "\n  "))
		}
	}
	if t.Failed() {
		t.Logf("the service exports: %s", strings.Join(slices.Sorted(maps.Keys(exported)), " "))
	} else {
		t.Logf("%d metric names used, all exported; %d metrics of the components follow the conventions", len(uses), len(own))
	}
}

// serviceMetrics builds the components that serve wires together (see
// cmd/alsobought/serve.go) on a recording registry and gathers it: own
// holds the families of the components, exported the name of every series
// serve exposes (with _bucket, _sum and _count of histograms and
// summaries, the Go and process collectors, and Prometheus's own `up`).
func serviceMetrics(t *testing.T) (own []*dto.MetricFamily, exported map[string]bool) {
	t.Helper()
	reg := recorder{prometheus.NewRegistry()}
	obs.NewErrors(reg)
	obs.RegisterTurnsWaited(reg, func() time.Duration { return 0 })
	buildinfo.Register(reg, buildinfo.Read())
	(&httpapi.Instance{}).RegisterInfo(reg)
	consumer.NewMetrics(reg)
	if _, err := rescore.New(rescore.Config{}, rescore.State{}, zerolog.Nop(), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := lag.New(lag.Config{}, &lag.Sampler{}, zerolog.Nop(), reg); err != nil {
		t.Fatal(err)
	}
	// A client that never connects: the guard only registers its metrics.
	if _, err := redisguard.New(redisguard.Config{}, redis.NewClient(&redis.Options{}), zerolog.Nop(), reg); err != nil {
		t.Fatal(err)
	}
	own, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(own) == 0 {
		t.Fatal("the components registered no metric")
	}
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	all, err := runtime.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported = map[string]bool{"up": true}
	for _, mf := range append(all, own...) {
		name := mf.GetName()
		exported[name] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			exported[name+"_sum"], exported[name+"_count"] = true, true
		}
	}
	return own, exported
}

// recorder is a registry on which every labelled metric (a *Vec) gets one
// series as it is registered: Gather leaves out a Vec that has none yet,
// and most of the service's Vecs get their first series only at run time.
type recorder struct{ *prometheus.Registry }

func (r recorder) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	// A Vec's label names are not exported: try label counts until one fits.
	touch := func(get func(...string) error) {
		for n := 0; n <= 8 && get(make([]string, n)...) != nil; n++ {
		}
	}
	switch v := c.(type) {
	case *prometheus.CounterVec:
		touch(func(l ...string) error { _, err := v.GetMetricWithLabelValues(l...); return err })
	case *prometheus.GaugeVec:
		touch(func(l ...string) error { _, err := v.GetMetricWithLabelValues(l...); return err })
	case *prometheus.HistogramVec:
		touch(func(l ...string) error { _, err := v.GetMetricWithLabelValues(l...); return err })
	case *prometheus.SummaryVec:
		touch(func(l ...string) error { _, err := v.GetMetricWithLabelValues(l...); return err })
	}
	return nil
}

func (r recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// alertRules is the part of a Prometheus rule file these tests read.
type alertRules struct {
	Groups []struct {
		Rules []struct {
			Alert, Record string
			Expr          yaml.Node
			Annotations   map[string]string
		}
	}
}

func readYAML(t *testing.T, file string, into any) {
	t.Helper()
	b, err := os.ReadFile(testenv.RepoFile(file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// alertRuleUses returns the expression of every rule, by place.
func alertRuleUses(t *testing.T) map[string]string {
	var f alertRules
	readYAML(t, alertRulesFile, &f)
	uses := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			uses[fmt.Sprintf("%s:%d (%s%s)", alertRulesFile, r.Expr.Line, r.Alert, r.Record)] = r.Expr.Value
		}
	}
	return uses
}

// alertTestUses returns the input series (and PromQL test expressions) of
// the rules' unit tests, so that the tests feed the rules with series the
// service really exports.
func alertTestUses(t *testing.T) map[string]string {
	var f struct {
		Tests []struct {
			Name        string
			InputSeries []struct{ Series yaml.Node } `yaml:"input_series"`
			ExprTests   []struct{ Expr yaml.Node }   `yaml:"promql_expr_test"`
		}
	}
	readYAML(t, alertTestsFile, &f)
	uses := map[string]string{}
	for _, test := range f.Tests {
		for _, s := range test.InputSeries {
			uses[fmt.Sprintf("%s:%d (test %q)", alertTestsFile, s.Series.Line, test.Name)] = s.Series.Value
		}
		for _, e := range test.ExprTests {
			uses[fmt.Sprintf("%s:%d (test %q)", alertTestsFile, e.Expr.Line, test.Name)] = e.Expr.Value
		}
	}
	return uses
}

// dashboardUses returns every `expr` of the Grafana dashboards, and the
// metric queries of their template variables (label_values, query_result).
func dashboardUses(t *testing.T) map[string]string {
	files, err := filepath.Glob(testenv.RepoFile(dashboardsGlob))
	if err != nil {
		t.Fatal(err)
	}
	variable := regexp.MustCompile(`^\s*(?:label_values\((.*),\s*\w+\s*\)|query_result\((.*)\))\s*$`)
	uses := map[string]string{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		n := 0
		walkJSON(doc, "", func(key, title, s string) {
			expr := ""
			if key == "expr" {
				expr = s
			} else if m := variable.FindStringSubmatch(s); m != nil && (key == "definition" || key == "query") {
				expr = m[1] + m[2]
			}
			if expr != "" {
				n++
				uses[fmt.Sprintf("%s (panel %q, query %d)", filepath.Base(file), title, n)] = expr
			}
		})
	}
	return uses
}

// walkJSON calls f for every string member of every object, with the
// nearest enclosing object's "title" (or "name") as context.
func walkJSON(v any, title string, f func(key, title, s string)) {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["title"].(string); ok {
			title = s
		} else if s, ok := x["name"].(string); ok {
			title = s
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if s, ok := x[k].(string); ok {
				f(k, title, s)
			}
			walkJSON(x[k], title, f)
		}
	case []any:
		for _, e := range x {
			walkJSON(e, title, f)
		}
	}
}

// runbookUses returns every line of the runbook that names a metric.
func runbookUses(t *testing.T) map[string]string {
	b, err := os.ReadFile(testenv.RepoFile(runbookFile))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`\balsobought_[a-z0-9_]*[a-z0-9]\b`)
	uses := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		if names := name.FindAllString(line, -1); names != nil {
			uses[fmt.Sprintf("%s:%d", runbookFile, i+1)] = strings.Join(names, " ")
		}
	}
	return uses
}

// runbookBase is the base URL of the alert rules' runbook links: the
// runbook where the project publishes it.
const runbookBase = "https://github.com/alsobought/alsobought/blob/main/" + runbookFile

// TestAlertRunbookAnchors: every alert's runbook_url is the absolute
// <runbookBase>#<alert name lowercased>, which works from Alertmanager or a
// pager, and the runbook has that section.
func TestAlertRunbookAnchors(t *testing.T) {
	var f alertRules
	readYAML(t, alertRulesFile, &f)
	checkRunbookLinks(t, f, runbookBase)
}

// TestRunbookBaseRewritesEveryLink: deploy/prometheus/runbook-base.sh
// points every alert's link at another copy of the runbook, anchors kept.
func TestRunbookBaseRewritesEveryLink(t *testing.T) {
	const base = "https://wiki.example.com/ops/alsobought-runbook"
	out, err := exec.Command(testenv.RepoFile("deploy/prometheus/runbook-base.sh"), base, testenv.RepoFile(alertRulesFile)).Output()
	if err != nil {
		t.Fatalf("runbook-base.sh: %v", err)
	}
	var f alertRules
	if err := yaml.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	checkRunbookLinks(t, f, base)
	if err := exec.Command(testenv.RepoFile("deploy/prometheus/runbook-base.sh"), "docs/runbook.md").Run(); err == nil {
		t.Error("a relative base was accepted")
	}
}

// checkRunbookLinks checks that every alert of f links base#<its section>
// and that the runbook has the section.
func checkRunbookLinks(t *testing.T, f alertRules, base string) {
	t.Helper()
	runbook, err := os.ReadFile(testenv.RepoFile(runbookFile))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[githubSlug(m[1])] = true
	}
	alerts := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			anchor := strings.ToLower(r.Alert)
			switch got, want := r.Annotations["runbook_url"], base+"#"+anchor; {
			case got == "":
				t.Errorf("alert %s has no runbook_url annotation", r.Alert)
			case got != want:
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, got, want)
			case !anchors[anchor]:
				t.Errorf("alert %s: %s has no section %q (a heading \"## %s\")", r.Alert, runbookFile, anchor, r.Alert)
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alert found")
	}
}

// githubSlug is the anchor GitHub gives a Markdown heading.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// promqlMetricNames returns the metric names a PromQL expression selects,
// in order of appearance, each once. It is not a PromQL parser (the
// Prometheus module is not a dependency): it reads identifiers and drops
// strings, label matchers, ranges, grouping label lists, Grafana
// variables, numbers and durations, keywords, and functions (an identifier
// followed by "(", or an aggregation followed by its grouping). A selector
// by {__name__=...} alone is not seen.
func promqlMetricNames(expr string) []string {
	var names []string
	grouping := regexp.MustCompile(`^(?i:by|without)\s*\(`)
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	word := func(i int) int { // the end of the identifier or number at i
		for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
			if (expr[i] == 'e' || expr[i] == 'E') && i+1 < len(expr) && (expr[i+1] == '+' || expr[i+1] == '-') {
				i++ // an exponent: 1e+3
			}
			i++
		}
		return i
	}
	str := func(i int) int { // past the string that starts at i
		q := expr[i]
		for i++; i < len(expr) && expr[i] != q; i++ {
			if expr[i] == '\\' && q != '`' {
				i++
			}
		}
		return i + 1
	}
	skip := func(i int, closing byte) int { // past the closing byte, or the end
		for i < len(expr) && expr[i] != closing {
			if c := expr[i]; c == '"' || c == '\'' || c == '`' {
				i = str(i)
			} else {
				i++
			}
		}
		return i + 1
	}
	for i := 0; i < len(expr); {
		switch c := expr[i]; {
		case c == '"' || c == '\'' || c == '`':
			i = str(i)
		case c == '{':
			i = skip(i, '}')
		case c == '[':
			i = skip(i, ']')
		case c == '$' && i+1 < len(expr) && expr[i+1] == '{':
			i = skip(i, '}')
		case c == '$':
			i = word(i + 1)
		case c >= '0' && c <= '9' || c == '.':
			i = word(i)
		case isIdent(c, true):
			end := word(i)
			tok := expr[i:end]
			next := strings.TrimLeft(expr[end:], " \t\r\n")
			i = end
			switch strings.ToLower(tok) {
			case "by", "without", "on", "ignoring", "group_left", "group_right":
				if strings.HasPrefix(next, "(") {
					i = skip(i, ')') // a list of label names
				}
			case "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan":
			default:
				call := strings.HasPrefix(next, "(") || grouping.MatchString(next) // f(...), sum by (...) (...)
				if !call && !slices.Contains(names, tok) {
					names = append(names, tok)
				}
			}
		default:
			i++
		}
	}
	return names
}

// TestPromQLMetricNames checks the extraction on the shapes the rules and
// dashboards use.
func TestPromQLMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up{job="alsobought"} == 0`, []string{"up"}},
		{`sum by (job, reason) (rate(alsobought_events_dead_lettered_total[5m])) > 1`, []string{"alsobought_events_dead_lettered_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket{job="$job"}[$__rate_interval])))`, []string{"a_seconds_bucket"}},
		{`sum(rate(x_sum[5m])) by (job) / on (job) group_left sum(rate(x_count[5m])) by (job)`, []string{"x_sum", "x_count"}},
		{`max by (job, partition) (a == 1) or max by (job, partition) (deriv(b[10m])) > 0 unless on (job) c offset 5m`, []string{"a", "b", "c"}},
		{`label_replace(m1, "dst", "$1", "src", "(.*)") and ignoring(le) {__name__="m2"} * 1e+3 + Inf`, []string{"m1"}},
		{`2-m3 > 0x1f*m4`, []string{"m3", "m4"}},
		{`{job="x", le="0.5"}`, nil},
		{`sum without (instance) (ns:rule_name:rate5m) @ end()`, []string{"ns:rule_name:rate5m"}},
		{`m5{a="}\"{"} / ${var} + $var + m5`, []string{"m5"}},
	} {
		got := promqlMetricNames(c.expr)
		if !slices.Equal(got, c.want) {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}
