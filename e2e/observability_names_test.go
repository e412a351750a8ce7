package e2e

// The alert rules, their unit tests and the Grafana dashboards name metrics
// in PromQL strings, which no compiler checks: a renamed or misspelt metric
// makes an alert that never fires and a panel that stays empty. These tests
// compare every metric name they use with the names the Go code defines.
// They need no services.

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/internal/testenv"
)

const metricNamespace = "alsobought"

// Files whose PromQL is checked, relative to the repository root.
const (
	alertRulesFile = "deploy/prometheus/alerts.yml"
	alertTestsFile = "deploy/prometheus/alerts_test.yml"
	dashboardsDir  = "deploy/grafana"
	runbookFile    = "docs/runbook.md"
)

// TestObservabilityMetricNames: every metric name in the expressions of
// deploy/prometheus/alerts.yml, in the input series of its unit tests, and
// in the `expr` fields (and label_values variables) of the Grafana
// dashboards is a metric the service exports. The exported names are read
// from the Go source: every prometheus.*Opts literal of namespace
// "alsobought" in the non-test .go files, plus _bucket/_sum/_count for
// histograms (_sum/_count for summaries), plus Prometheus's own `up`.
func TestObservabilityMetricNames(t *testing.T) {
	root := repoRoot(t)
	defined := definedMetrics(t, root)
	if len(defined) == 0 {
		t.Fatal("found no metric of namespace alsobought in the Go code: the parser is broken")
	}
	known := map[string]bool{"up": true}
	for _, def := range defined {
		for _, s := range def.series() {
			known[s] = true
		}
	}

	var uses []metricUse
	for _, src := range []struct {
		file string
		uses []metricUse
	}{
		{alertRulesFile, alertRuleUses(t, root)},
		{alertTestsFile, alertTestUses(t, root)},
		{dashboardsDir, dashboardUses(t, root)},
	} {
		if len(src.uses) == 0 {
			t.Errorf("%s: no metric name found: the file moved or the extraction is broken", src.file)
		}
		uses = append(uses, src.uses...)
	}

	missing := map[string][]string{}
	for _, u := range uses {
		if !known[u.name] {
			missing[u.name] = append(missing[u.name], u.where)
		}
	}
	if len(missing) == 0 {
		t.Logf("%d uses of %d metric names, all defined by the code", len(uses), countNames(uses))
		return
	}
	var b strings.Builder
	for _, name := range sortedKeys(missing) {
		fmt.Fprintf(&b, "\n  %s, used in:", name)
		for _, w := range dedup(missing[name]) {
			fmt.Fprintf(&b, "\n      %s", w)
		}
	}
	var names []string
	for name, def := range defined {
		names = append(names, name+" ("+def.kind+", "+def.pos+")")
	}
	sort.Strings(names)
	t.Errorf("metric names used by the rules or dashboards that the Go code does not define:%s\n\nthe code defines:\n  %s",
		b.String(), strings.Join(names, "\n  "))
}

// TestAlertRunbookAnchors: every alert's runbook_url is
// docs/runbook.md#<alert name lowercased>, and the runbook has that section.
func TestAlertRunbookAnchors(t *testing.T) {
	root := repoRoot(t)
	rules, err := os.ReadFile(filepath.Join(root, alertRulesFile))
	if err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile(filepath.Join(root, runbookFile))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[githubSlug(m[1])] = true
	}
	alertRe := regexp.MustCompile(`^\s*-\s+alert:\s*(\S+)\s*$`)
	urlRe := regexp.MustCompile(`^\s*runbook_url:\s*["']?([^"'\s]+)["']?\s*$`)
	alert, alerts := "", 0
	urls := map[string]string{}
	for _, line := range strings.Split(string(rules), "\n") {
		if m := alertRe.FindStringSubmatch(line); m != nil {
			alert = m[1]
			alerts++
		} else if m := urlRe.FindStringSubmatch(line); m != nil && alert != "" {
			urls[alert] = m[1]
		}
	}
	if alerts == 0 {
		t.Fatalf("%s: no alert found", alertRulesFile)
	}
	for _, name := range regexp.MustCompile(`(?m)^\s*-\s+alert:\s*(\S+)`).FindAllStringSubmatch(string(rules), -1) {
		want := runbookFile + "#" + strings.ToLower(name[1])
		switch got, ok := urls[name[1]]; {
		case !ok:
			t.Errorf("alert %s has no runbook_url annotation", name[1])
		case got != want:
			t.Errorf("alert %s: runbook_url %q, want %q", name[1], got, want)
		case !anchors[strings.ToLower(name[1])]:
			t.Errorf("alert %s: %s has no section %q (a heading \"## %s\")", name[1], runbookFile, strings.ToLower(name[1]), name[1])
		}
	}
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
	} {
		got := promqlMetricNames(c.expr)
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

// ---------------------------------------------------------------- uses

type metricUse struct{ name, where string }

// alertRuleUses returns the metric names of every `expr:` of the rules.
func alertRuleUses(t *testing.T, root string) []metricUse {
	t.Helper()
	return yamlMetricUses(t, root, alertRulesFile, "expr", "alert", func(alert string) string { return "(" + alert + ")" })
}

// alertTestUses returns the metric names of the unit tests' input series,
// so that the tests feed the rules with series the service really exports.
func alertTestUses(t *testing.T, root string) []metricUse {
	t.Helper()
	return yamlMetricUses(t, root, alertTestsFile, "series", "name", func(name string) string { return fmt.Sprintf("(test %q)", name) })
}

// yamlMetricUses returns the metric names in the values of key in a YAML
// file, each placed by its line and by label of its ctxKey value.
func yamlMetricUses(t *testing.T, root, file, key, ctxKey string, label func(string) string) []metricUse {
	t.Helper()
	var uses []metricUse
	for _, e := range yamlScalars(t, filepath.Join(root, file), key, ctxKey) {
		for _, n := range promqlMetricNames(e.value) {
			uses = append(uses, metricUse{n, fmt.Sprintf("%s:%d %s", file, e.line, label(e.context))})
		}
	}
	return uses
}

// dashboardUses returns the metric names of every `expr` field of the JSON
// files under deploy/grafana, and of label_values(...) and query_result(...)
// template variables.
func dashboardUses(t *testing.T, root string) []metricUse {
	t.Helper()
	var uses []metricUse
	labelValues := regexp.MustCompile(`^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
	queryResult := regexp.MustCompile(`^\s*query_result\((.*)\)\s*$`)
	err := filepath.WalkDir(filepath.Join(root, dashboardsDir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		walkJSON(doc, "", func(key, title string, v any) {
			s, ok := v.(string)
			if !ok {
				return
			}
			var expr string
			switch key {
			case "expr":
				expr = s
			case "definition", "query": // template variables
				if m := labelValues.FindStringSubmatch(s); m != nil {
					expr = m[1]
				} else if m := queryResult.FindStringSubmatch(s); m != nil {
					expr = m[1]
				}
			}
			for _, n := range promqlMetricNames(expr) {
				uses = append(uses, metricUse{n, fmt.Sprintf("%s (panel %q)", rel, title)})
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return uses
}

// walkJSON calls f for every object member, with the nearest enclosing
// object's "title" (or "name") as context.
func walkJSON(v any, title string, f func(key, title string, v any)) {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["title"].(string); ok {
			title = s
		} else if s, ok := x["name"].(string); ok {
			title = s
		}
		for _, k := range sortedKeys(x) {
			f(k, title, x[k])
			walkJSON(x[k], title, f)
		}
	case []any:
		for _, e := range x {
			walkJSON(e, title, f)
		}
	}
}

type yamlScalar struct {
	value, context string
	line           int
}

// yamlScalars returns the values of every `key:` in a YAML file: plain,
// quoted, or block scalars (| and >, folded or not, the PromQL is the same).
// context is the latest value of ctxKey seen before it (the alert or the
// test name). It is enough for rule and test files; it is not a YAML parser.
func yamlScalars(t *testing.T, path, key, ctxKey string) []yamlScalar {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keyRe := regexp.MustCompile(`^(\s*(?:-\s+)?)` + regexp.QuoteMeta(key) + `:\s*(.*?)\s*$`)
	ctxRe := regexp.MustCompile(`^\s*(?:-\s+)?` + regexp.QuoteMeta(ctxKey) + `:\s*(.*?)\s*$`)
	lines := strings.Split(string(b), "\n")
	var out []yamlScalar
	context := ""
	for i := 0; i < len(lines); i++ {
		if m := ctxRe.FindStringSubmatch(lines[i]); m != nil {
			context = unquoteYAML(m[1])
		}
		m := keyRe.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, value, start := len(m[1]), m[2], i+1
		block := strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">")
		if !block {
			value = unquoteYAML(value)
		} else {
			value = ""
		}
		// Block scalars, and plain scalars continued on more indented lines.
		for i+1 < len(lines) {
			next := lines[i+1]
			trimmed := strings.TrimSpace(next)
			if trimmed != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
				break
			}
			if !block && trimmed == "" {
				break
			}
			value += "\n" + trimmed
			i++
		}
		out = append(out, yamlScalar{value: value, context: context, line: start})
	}
	return out
}

func unquoteYAML(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	}
	return s
}

// ---------------------------------------------------------------- PromQL

var (
	promVarRe      = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promStringRe   = regexp.MustCompile("\"(?:\\\\.|[^\"\\\\])*\"|'(?:\\\\.|[^'\\\\])*'|`[^`]*`")
	promMatchersRe = regexp.MustCompile(`\{[^}]*\}`)
	promRangeRe    = regexp.MustCompile(`\[[^\]]*\]`)
	promGroupingRe = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promTokenRe    = regexp.MustCompile(`[0-9.](?:[eE][+-]|[A-Za-z0-9_.])*|[A-Za-z_:][A-Za-z0-9_:]*`)
	promKeywords   = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true,
		"without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "atan2": true,
	}
)

// promqlMetricNames returns the metric names a PromQL expression selects,
// in order of appearance, each once: identifiers that are not functions,
// keywords, label names (matchers, grouping) or numbers. Grafana variables
// are dropped. A selector by {__name__=...} alone is not seen.
func promqlMetricNames(expr string) []string {
	s := promVarRe.ReplaceAllString(expr, " ")
	s = promStringRe.ReplaceAllString(s, " ")
	s = promMatchersRe.ReplaceAllString(s, " ")
	s = promRangeRe.ReplaceAllString(s, " ")
	s = promGroupingRe.ReplaceAllString(s, " ")
	var names []string
	seen := map[string]bool{}
	for _, loc := range promTokenRe.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] == '.' || (tok[0] >= '0' && tok[0] <= '9') {
			continue // number or duration
		}
		if promKeywords[strings.ToLower(tok)] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\r\n"); strings.HasPrefix(rest, "(") {
			continue // function or aggregation
		}
		if !seen[tok] {
			seen[tok] = true
			names = append(names, tok)
		}
	}
	return names
}

// ---------------------------------------------------------------- Go source

type metricDef struct {
	kind string // Counter, Gauge, Histogram, Summary, or "" when the Opts type is unknown
	pos  string
}

// series are the names of the series a metric exposes.
func (d metricDef) seriesOf(name string) []string {
	switch d.kind {
	case "Histogram":
		return []string{name, name + "_bucket", name + "_sum", name + "_count"}
	case "Summary":
		return []string{name, name + "_sum", name + "_count"}
	}
	return []string{name}
}

type namedDef struct {
	name string
	metricDef
}

func (d namedDef) series() []string { return d.seriesOf(d.name) }

// definedMetrics reads every non-test .go file under root and returns the
// metrics of namespace alsobought, by full name. It understands literal
// names and namespaces, string constants (in scope or package-level), and a
// name passed as a parameter to a helper function, e.g.
//
//	const ns = "alsobought"
//	gauge := func(name, help string) *prometheus.GaugeVec {
//		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, ...)
//	}
//	lag := gauge("partition_lag_messages", "...")
func definedMetrics(t *testing.T, root string) map[string]namedDef {
	t.Helper()
	pkgs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			pkgs[filepath.Dir(path)] = append(pkgs[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]namedDef{}
	for _, dir := range sortedKeys(pkgs) {
		p := parsePackage(t, root, pkgs[dir])
		for _, d := range p.metrics(t) {
			if prev, ok := out[d.name]; ok && prev.pos != d.pos {
				t.Logf("metric %s defined twice: %s and %s", d.name, prev.pos, d.pos)
			}
			out[d.name] = d
		}
	}
	return out
}

type goPackage struct {
	root   string
	fset   *token.FileSet
	files  []*ast.File
	consts map[string]string // package-level string constants
}

func parsePackage(t *testing.T, root string, paths []string) *goPackage {
	t.Helper()
	p := &goPackage{root: root, fset: token.NewFileSet(), consts: map[string]string{}}
	sort.Strings(paths)
	for _, path := range paths {
		f, err := parser.ParseFile(p.fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		p.files = append(p.files, f)
		for _, decl := range f.Decls {
			if g, ok := decl.(*ast.GenDecl); ok {
				addStringConsts(g, p.consts)
			}
		}
	}
	return p
}

func addStringConsts(g *ast.GenDecl, into map[string]string) {
	if g.Tok != token.CONST {
		return
	}
	for _, spec := range g.Specs {
		vs := spec.(*ast.ValueSpec)
		for i, name := range vs.Names {
			if i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						into[name.Name] = s
					}
				}
			}
		}
	}
}

func (p *goPackage) pos(n ast.Node) string {
	position := p.fset.Position(n.Pos())
	rel, err := filepath.Rel(p.root, position.Filename)
	if err != nil {
		rel = position.Filename
	}
	return fmt.Sprintf("%s:%d", rel, position.Line)
}

// inspect walks the package's files, giving f each node and its ancestors.
func (p *goPackage) inspect(f func(n ast.Node, stack []ast.Node)) {
	for _, file := range p.files {
		var stack []ast.Node
		ast.Inspect(file, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return false
			}
			f(n, stack)
			stack = append(stack, n)
			return true
		})
	}
}

// paramRef is a parameter of a function: the metric's name comes from the
// callers' arguments.
type paramRef struct {
	fn  string
	idx int
}

// resolve returns the string value of e: a literal, a constant in scope or
// of the package, or a concatenation of those. ref is set instead when e is
// a parameter of the enclosing function.
func (p *goPackage) resolve(e ast.Expr, stack []ast.Node) (val string, ref *paramRef, ok bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			s, err := strconv.Unquote(x.Value)
			return s, nil, err == nil
		}
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			l, _, lok := p.resolve(x.X, stack)
			r, _, rok := p.resolve(x.Y, stack)
			return l + r, nil, lok && rok
		}
	case *ast.ParenExpr:
		return p.resolve(x.X, stack)
	case *ast.Ident:
		for i := len(stack) - 1; i >= 0; i-- {
			switch s := stack[i].(type) {
			case *ast.BlockStmt:
				local := map[string]string{}
				for _, st := range s.List {
					if d, ok := st.(*ast.DeclStmt); ok {
						if g, ok := d.Decl.(*ast.GenDecl); ok {
							addStringConsts(g, local)
						}
					}
				}
				if v, ok := local[x.Name]; ok {
					return v, nil, true
				}
			case *ast.FuncLit, *ast.FuncDecl:
				if r := paramOf(x.Name, stack[:i+1]); r != nil {
					return "", r, false
				}
			}
		}
		if v, ok := p.consts[x.Name]; ok {
			return v, nil, true
		}
	}
	return "", nil, false
}

// paramOf returns the reference to parameter name of the function at the
// top of stack, if it has one and the function has a name (a declaration,
// or a literal assigned to a variable).
func paramOf(name string, stack []ast.Node) *paramRef {
	var ftype *ast.FuncType
	fn := ""
	switch f := stack[len(stack)-1].(type) {
	case *ast.FuncDecl:
		ftype, fn = f.Type, f.Name.Name
	case *ast.FuncLit:
		ftype = f.Type
		if len(stack) >= 2 {
			switch parent := stack[len(stack)-2].(type) {
			case *ast.AssignStmt:
				for i, rhs := range parent.Rhs {
					if rhs == f && i < len(parent.Lhs) {
						if id, ok := parent.Lhs[i].(*ast.Ident); ok {
							fn = id.Name
						}
					}
				}
			case *ast.ValueSpec:
				for i, v := range parent.Values {
					if v == f && i < len(parent.Names) {
						fn = parent.Names[i].Name
					}
				}
			}
		}
	}
	if ftype == nil || ftype.Params == nil {
		return nil
	}
	idx := 0
	for _, field := range ftype.Params.List {
		if len(field.Names) == 0 {
			idx++
			continue
		}
		for _, n := range field.Names {
			if n.Name == name {
				if fn == "" {
					return nil
				}
				return &paramRef{fn: fn, idx: idx}
			}
			idx++
		}
	}
	return nil
}

// metrics returns the package's metrics of namespace alsobought.
func (p *goPackage) metrics(t *testing.T) []namedDef {
	t.Helper()
	type pending struct {
		prefix string
		ref    paramRef
		def    metricDef
	}
	var out []namedDef
	var refs []pending
	p.inspect(func(n ast.Node, stack []ast.Node) {
		lit, ok := n.(*ast.CompositeLit)
		if !ok {
			return
		}
		fields := map[string]ast.Expr{}
		for _, el := range lit.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				if k, ok := kv.Key.(*ast.Ident); ok {
					fields[k.Name] = kv.Value
				}
			}
		}
		nameExpr, ok := fields["Name"]
		if !ok {
			return
		}
		def := metricDef{kind: optsKind(lit.Type), pos: p.pos(lit)}
		var parts []string
		if nsExpr, ok := fields["Namespace"]; ok {
			ns, _, ok := p.resolve(nsExpr, stack)
			if !ok {
				t.Logf("%s: cannot resolve the metric namespace; not counted", def.pos)
				return
			}
			if ns != metricNamespace {
				return
			}
			parts = append(parts, ns)
		}
		if subExpr, ok := fields["Subsystem"]; ok {
			sub, _, ok := p.resolve(subExpr, stack)
			if !ok {
				t.Logf("%s: cannot resolve the metric subsystem; not counted", def.pos)
				return
			}
			if sub != "" {
				parts = append(parts, sub)
			}
		}
		prefix := strings.Join(parts, "_")
		name, ref, ok := p.resolve(nameExpr, stack)
		switch {
		case ok:
			full := joinName(prefix, name)
			if strings.HasPrefix(full, metricNamespace+"_") {
				out = append(out, namedDef{full, def})
			}
		case ref != nil:
			refs = append(refs, pending{prefix, *ref, def})
		case prefix != "":
			t.Logf("%s: cannot resolve the name of a metric of namespace %s; not counted", def.pos, prefix)
		}
	})
	// Names given as arguments to helper functions.
	for _, r := range refs {
		found := 0
		p.inspect(func(n ast.Node, stack []ast.Node) {
			call, ok := n.(*ast.CallExpr)
			if !ok || calleeName(call.Fun) != r.ref.fn || r.ref.idx >= len(call.Args) {
				return
			}
			name, _, ok := p.resolve(call.Args[r.ref.idx], stack)
			if !ok {
				t.Logf("%s: cannot resolve the metric name passed to %s", p.pos(call), r.ref.fn)
				return
			}
			full := joinName(r.prefix, name)
			if strings.HasPrefix(full, metricNamespace+"_") {
				found++
				out = append(out, namedDef{full, metricDef{kind: r.def.kind, pos: p.pos(call)}})
			}
		})
		if found == 0 {
			t.Logf("%s: metric named by parameter %d of %s, but no call of %s with a constant name found",
				r.def.pos, r.ref.idx, r.ref.fn, r.ref.fn)
		}
	}
	return out
}

func joinName(prefix, name string) string {
	if prefix == "" {
		return name
	}
	if name == "" {
		return prefix
	}
	return prefix + "_" + name
}

// optsKind returns Counter, Gauge, Histogram or Summary for
// prometheus.CounterOpts and friends, "" for anything else.
func optsKind(typ ast.Expr) string {
	name := ""
	switch x := typ.(type) {
	case *ast.SelectorExpr:
		name = x.Sel.Name
	case *ast.Ident:
		name = x.Name
	}
	for _, k := range []string{"Counter", "Gauge", "Histogram", "Summary"} {
		if name == k+"Opts" || name == k+"VecOpts" {
			return k
		}
	}
	return ""
}

func calleeName(fun ast.Expr) string {
	switch x := fun.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return x.Sel.Name
	}
	return ""
}

// ---------------------------------------------------------------- helpers

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(testenv.RepoFile("."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func countNames(uses []metricUse) int {
	seen := map[string]bool{}
	for _, u := range uses {
		seen[u.name] = true
	}
	return len(seen)
}
