package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the generated tables of docs/configuration.md")

// clearEnv hides the caller's ALSOBOUGHT_* variables (an empty variable is
// unset for ff), so that each case sees only the environment it sets.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix+"_") {
			t.Setenv(k, "")
		}
	}
}

// runMain runs the command as main does: its exit status, stdout and
// stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := exitCode(run(context.Background(), args, &out, &errOut), &errOut)
	return code, out.String(), errOut.String()
}

// TestEveryCommandReportsAMistakeInOneLine: for every command, a bad flag
// value, a bad environment value, an unknown flag and a missing required
// setting each print one line that names the setting, then one hint, and
// exit 2 (lag: 3, UNKNOWN, because its 2 means ERR). No service is needed:
// nothing is contacted before the settings are read.
func TestEveryCommandReportsAMistakeInOneLine(t *testing.T) {
	type mistake struct {
		args []string
		env  [2]string // name, value
		want string    // in the first line
	}
	tests := map[string]struct {
		badFlag, badEnv, missing mistake // missing: none when the command requires nothing
	}{
		"serve": {
			badFlag: mistake{args: []string{"-history-size", "abc"}, want: `-history-size "abc": want an integer from 1 to 10000`},
			badEnv:  mistake{env: [2]string{"ALSOBOUGHT_LAG_SAMPLES", "1"}, want: `ALSOBOUGHT_LAG_SAMPLES="1": want an integer of 2 or more`},
		},
		"replay": {
			badFlag: mistake{args: []string{"-rate", "-1", "-data", "x"}, want: `-rate "-1"`},
			badEnv:  mistake{args: []string{"-data", "x"}, env: [2]string{"ALSOBOUGHT_PARTITIONS", "0"}, want: `ALSOBOUGHT_PARTITIONS="0"`},
			missing: mistake{want: "-data is required"},
		},
		"rescore": {
			badFlag: mistake{args: []string{"-list-size", "0", "-all"}, want: `-list-size "0"`},
			badEnv:  mistake{args: []string{"-all"}, env: [2]string{"ALSOBOUGHT_SCORER", "magic"}, want: `ALSOBOUGHT_SCORER="magic": want amazon2017_prior, amazon2017`},
			missing: mistake{want: "give -all or item ids"},
		},
		"related": {
			badFlag: mistake{args: []string{"-list", "liked", "i1"}, want: `-list "liked": want bought, viewed or viewed_bought`},
			badEnv:  mistake{args: []string{"i1"}, env: [2]string{"ALSOBOUGHT_REDIS_PREFIX", "a b"}, want: `ALSOBOUGHT_REDIS_PREFIX="a b"`},
			missing: mistake{want: "give exactly one item id"},
		},
		"verify": {
			badFlag: mistake{args: []string{"-data", "x", "-format", "parquet"}, want: `-format "parquet": want dunnhumby, yoochoose, movielens or events`},
			badEnv:  mistake{args: []string{"-data", "x"}, env: [2]string{"ALSOBOUGHT_DEDUP_WINDOW", "-1h"}, want: `ALSOBOUGHT_DEDUP_WINDOW="-1h"`},
			missing: mistake{want: "-data is required"},
		},
		"bootstrap": {
			badFlag: mistake{args: []string{"-data", "x", "-continue-at-end=maybe"}, want: `-continue-at-end "maybe": want true or false`},
			badEnv:  mistake{args: []string{"-data", "x"}, env: [2]string{"ALSOBOUGHT_VIEW_HISTORY_SIZE", "0"}, want: `ALSOBOUGHT_VIEW_HISTORY_SIZE="0"`},
			missing: mistake{want: "-data is required"},
		},
		"loadtest": {
			badFlag: mistake{args: []string{"-data", "x", "-concurrency", "0"}, want: `-concurrency "0"`},
			badEnv:  mistake{args: []string{"-data", "x"}, env: [2]string{"ALSOBOUGHT_MAX_EVENT_SKEW", "soon"}, want: `ALSOBOUGHT_MAX_EVENT_SKEW="soon"`},
			missing: mistake{want: "-data is required"},
		},
		"bench": {
			badFlag: mistake{args: []string{"-synthetic", "10", "-paced-load", "2"}, want: `-paced-load "2": want a number above 0 and at most 1`},
			badEnv:  mistake{args: []string{"-synthetic", "10"}, env: [2]string{"ALSOBOUGHT_KEEP_OWNED", "maybe"}, want: `ALSOBOUGHT_KEEP_OWNED="maybe": want true or false`},
			missing: mistake{want: "give either -data"},
		},
		"eval": {
			badFlag: mistake{args: []string{"-data", "x", "-horizon", "fortnight"}, want: `-horizon "fortnight"`},
			badEnv:  mistake{args: []string{"-data", "x"}, env: [2]string{"ALSOBOUGHT_MIN_EVENT_TIME", "1990"}, want: `ALSOBOUGHT_MIN_EVENT_TIME="1990": want an RFC 3339 time`},
			missing: mistake{want: "-data is required"},
		},
		"catalogue": {
			badFlag: mistake{args: []string{"-wait-timeout", "0s", "show", "sku-1"}, want: `-wait-timeout "0s"`},
			badEnv:  mistake{args: []string{"show", "sku-1"}, env: [2]string{"ALSOBOUGHT_CATALOGUE_TOPIC", "alsobought.events"}, want: "catalogue topic alsobought.events must differ"},
			missing: mistake{want: "want `catalogue load FILE` or `catalogue show ITEM`"},
		},
		"forget": {
			badFlag: mistake{args: []string{"-wait", "soon", "c1"}, want: `-wait "soon"`},
			badEnv:  mistake{args: []string{"c1"}, env: [2]string{"ALSOBOUGHT_REDIS_MODE", "replicated"}, want: `ALSOBOUGHT_REDIS_MODE="replicated"`},
			missing: mistake{want: "give the ids of the customers to erase"},
		},
		"deadletters": {
			badFlag: mistake{args: []string{"-reason", "rude", "list"}, want: `-reason "rude": want too_large, not_utf8`},
			badEnv:  mistake{args: []string{"list"}, env: [2]string{"ALSOBOUGHT_REDIS_MODE", "replicated"}, want: `ALSOBOUGHT_REDIS_MODE="replicated"`},
			missing: mistake{want: "want `deadletters list` or `deadletters republish"},
		},
		"version": { // reads no environment
			badFlag: mistake{args: []string{"-json=maybe"}, want: `-json "maybe": want true or false`},
		},
		"lag": {
			badFlag: mistake{args: []string{"-interval", "0s"}, want: `-interval "0s": want a positive duration`},
			badEnv:  mistake{env: [2]string{"ALSOBOUGHT_REDIS_MODE", "replicated"}, want: `ALSOBOUGHT_REDIS_MODE="replicated": want single, cluster or sentinel`},
		},
	}
	for name := range commands {
		if _, ok := tests[name]; !ok {
			t.Errorf("command %s has no case", name)
		}
	}
	for name, tc := range tests {
		wantCode := 2
		if name == "lag" {
			wantCode = 3
		}
		cases := map[string]mistake{"bad flag value": tc.badFlag, "unknown flag": {args: []string{"-nosuchflag"}, want: `unknown flag "nosuchflag"`}}
		if tc.badEnv.want != "" {
			cases["bad environment value"] = tc.badEnv
		}
		if tc.missing.want != "" {
			cases["missing required setting"] = tc.missing
		}
		for what, m := range cases {
			t.Run(name+"/"+what, func(t *testing.T) {
				clearEnv(t)
				if m.env[0] != "" {
					t.Setenv(m.env[0], m.env[1])
				}
				code, out, errOut := runMain(t, append([]string{name}, m.args...)...)
				lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
				if code != wantCode || out != "" || len(lines) != 2 {
					t.Fatalf("exit %d (want %d), stdout %q, stderr (want one line and the hint):\n%s", code, wantCode, out, errOut)
				}
				if prefix := "alsobought " + name + ": "; !strings.HasPrefix(lines[0], prefix) || !strings.Contains(lines[0], m.want) {
					t.Errorf("first line %q: want %q and %q", lines[0], prefix, m.want)
				}
				if hint := "run 'alsobought " + name + " -h' for help"; lines[1] != hint {
					t.Errorf("hint %q, want %q", lines[1], hint)
				}
			})
		}
	}
}

func TestExitCodesOfTheCommandLine(t *testing.T) {
	clearEnv(t)
	if code, out, errOut := runMain(t); code != 2 || out != "" || !strings.Contains(errOut, "commands:") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q; want 2 and the commands on stderr", code, out, errOut)
	}
	if code, _, errOut := runMain(t, "frobnicate"); code != 2 ||
		errOut != "alsobought: unknown command \"frobnicate\"\nrun 'alsobought -h' for help\n" {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"--help"}} {
		if code, out, errOut := runMain(t, args...); code != 0 || errOut != "" || !strings.Contains(out, "commands:") {
			t.Errorf("%v: exit %d, stderr %q; want 0 and the commands on stdout", args, code, errOut)
		}
	}
	if code, _, errOut := runMain(t, "serve", "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("serve extra: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runMain(t, "serve", "-history-size"); code != 2 || !strings.HasPrefix(errOut, "alsobought serve: -history-size needs a value: an integer") {
		t.Errorf("a flag without its value: exit %d, stderr %q", code, errOut)
	}
}

// TestHelpListsTheSettingsTheCommandReads: -h exits 0 and prints the
// command's settings with their environment variables and valid values;
// eval, which needs no service without -via-kafka, lists no HTTP and no
// logging, and its Kafka and Redis settings only for -via-kafka.
func TestHelpListsTheSettingsTheCommandReads(t *testing.T) {
	clearEnv(t)
	for name := range commands {
		for _, args := range [][]string{{name, "-h"}, {"help", name}} {
			code, out, errOut := runMain(t, args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: alsobought "+name) {
				t.Fatalf("%v: exit %d, stderr %q, stdout:\n%s", args, code, errOut, out)
			}
		}
	}
	_, serve, _ := runMain(t, "serve", "-h")
	for _, want := range []string{"-history-size int", "valid: an integer from 1 to 10000; default: 200; env: ALSOBOUGHT_HISTORY_SIZE",
		"env: ALSOBOUGHT_KAFKA_BROKERS", "-http", "-log-level", "env: ALSOBOUGHT_CONSUME"} {
		if !strings.Contains(serve, want) {
			t.Errorf("serve -h lacks %q", want)
		}
	}
	_, eval, _ := runMain(t, "eval", "-h")
	for _, absent := range []string{"-http", "-log-level", "-group", "-prefix", "-lag-samples"} {
		if strings.Contains(eval, absent+" ") {
			t.Errorf("eval -h lists %s, which eval does not read", absent)
		}
	}
	for _, want := range []string{"Kafka (with -via-kafka):", "Redis (with -via-kafka):", "-data string", "-history-size"} {
		if !strings.Contains(eval, want) {
			t.Errorf("eval -h lacks %q", want)
		}
	}
	if strings.Contains(eval, "ALSOBOUGHT_WINDOWS") {
		t.Error("eval's own options are flags only: no environment variable")
	}
}

// TestEnvironmentVariablesInUseStillSetTheirSettings is the list of
// variables deployments set (deploy/, docker-compose.yml, the local scripts
// and the tests): each must keep setting its setting, the four older than
// the ALSOBOUGHT_<FLAG> rule included.
func TestEnvironmentVariablesInUseStillSetTheirSettings(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := []struct {
		env, value string
		got        func(*settings) any
	}{
		{"ALSOBOUGHT_KAFKA_BROKERS", "k1:9092,k2:9092", func(s *settings) any { return s.brokers }},
		{"ALSOBOUGHT_REDIS_ADDRS", "r1:6379", func(s *settings) any { return s.redisAddrs }},
		{"ALSOBOUGHT_REDIS_MODE", "cluster", func(s *settings) any { return s.redisMode }},
		{"ALSOBOUGHT_REDIS_WAIT_REPLICAS", "2", func(s *settings) any { return fmt.Sprint(s.redisWait) }},
		{"ALSOBOUGHT_REDIS_SENTINEL_MASTER", "m1", func(s *settings) any { return s.redisMaster }},
		{"ALSOBOUGHT_REDIS_PREFIX", "p1", func(s *settings) any { return s.prefix }},
		{"ALSOBOUGHT_HTTP_ADDR", "0.0.0.0:9999", func(s *settings) any { return s.httpAddr }},
		{"ALSOBOUGHT_OPS_HTTP", "0.0.0.0:9090", func(s *settings) any { return s.opsHTTPAddr }},
		{"ALSOBOUGHT_API_TOKEN_FILE", tokenFile, func(s *settings) any { return s.apiTokenFile }},
		{"ALSOBOUGHT_TOPIC", "t1", func(s *settings) any { return s.topic }},
		{"ALSOBOUGHT_DLQ_TOPIC", "t1.dead", func(s *settings) any { return s.dlqTopic }},
		{"ALSOBOUGHT_FEED_TOPIC", "t1.feed", func(s *settings) any { return s.feedTopic }},
		{"ALSOBOUGHT_GROUP", "g1", func(s *settings) any { return s.group }},
		{"ALSOBOUGHT_PARTITIONS", "7", func(s *settings) any { return fmt.Sprint(s.partitions) }},
		{"ALSOBOUGHT_HISTORY_SIZE", "50", func(s *settings) any { return fmt.Sprint(s.historySize) }},
		{"ALSOBOUGHT_VIEW_HISTORY_SIZE", "40", func(s *settings) any { return fmt.Sprint(s.viewHistory) }},
		{"ALSOBOUGHT_LIST_SIZE", "9", func(s *settings) any { return fmt.Sprint(s.listSize) }},
		{"ALSOBOUGHT_MIN_SUPPORT", "3", func(s *settings) any { return fmt.Sprint(s.minSupport) }},
		{"ALSOBOUGHT_SCORER", "cosine", func(s *settings) any { return s.method }},
		{"ALSOBOUGHT_SWEEP_INTERVAL", "5m", func(s *settings) any { return config.FormatDuration(s.sweep) }},
		{"ALSOBOUGHT_RESCORE_MIN_INTERVAL", "3s", func(s *settings) any { return config.FormatDuration(s.minInterval) }},
		{"ALSOBOUGHT_MIN_EVENT_TIME", "2001-02-03T04:05:06Z", func(s *settings) any { return s.minEventTime }},
		{"ALSOBOUGHT_MAX_EVENT_SKEW", "2h", func(s *settings) any { return config.FormatDuration(s.maxSkew) }},
		{"ALSOBOUGHT_DEDUP_WINDOW", "10m", func(s *settings) any { return config.FormatDuration(s.dedupWindow) }},
		{"ALSOBOUGHT_DEDUP_MAX", "5", func(s *settings) any { return fmt.Sprint(s.dedupMax) }},
		{"ALSOBOUGHT_KEY_PARTITIONER", "none", func(s *settings) any { return s.partitioner }},
		{"ALSOBOUGHT_KEEP_OWNED", "true", func(s *settings) any { return fmt.Sprint(s.keepOwned) }},
		{"ALSOBOUGHT_LAG_INTERVAL", "30s", func(s *settings) any { return config.FormatDuration(s.lagInterval) }},
		{"ALSOBOUGHT_LAG_SAMPLES", "4", func(s *settings) any { return fmt.Sprint(s.lagSamples) }},
		{"ALSOBOUGHT_LOG_FORMAT", "console", func(s *settings) any { return s.logFormat }},
		{"ALSOBOUGHT_LOG_LEVEL", "warn", func(s *settings) any { return s.logLevel }},
	}
	parseServe := func(args ...string) *settings {
		t.Helper()
		s, r := newSettings(), commands["serve"].new()
		if err := commands["serve"].set("serve", s, r).Parse(args); err != nil {
			t.Fatalf("serve %v: %v", args, err)
		}
		return s
	}
	for _, v := range vars {
		t.Run(v.env, func(t *testing.T) {
			clearEnv(t)
			if got := v.got(parseServe()); got == v.value {
				t.Fatalf("the default is already %q: pick another value", v.value)
			}
			t.Setenv(v.env, v.value)
			if got := v.got(parseServe()); got != v.value {
				t.Fatalf("%s=%s: the setting is %v", v.env, v.value, got)
			}
		})
	}
	t.Run("a flag beats its variable", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("ALSOBOUGHT_KAFKA_BROKERS", "from-env:9092")
		t.Setenv("ALSOBOUGHT_HISTORY_SIZE", "50")
		s := parseServe("-brokers", "from-flag:9092", "--history-size=60")
		if s.brokers != "from-flag:9092" || s.historySize != 60 {
			t.Fatalf("brokers %s, history size %d: want the flags' values", s.brokers, s.historySize)
		}
	})
	t.Run("the four old names are the only names of their settings", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("ALSOBOUGHT_BROKERS", "x:1")
		t.Setenv("ALSOBOUGHT_PREFIX", "x")
		if s := parseServe(); s.brokers == "x:1" || s.prefix == "x" {
			t.Fatal("ALSOBOUGHT_BROKERS or ALSOBOUGHT_PREFIX was read")
		}
	})
}

// TestDeploymentsSetDeclaredVariables: every ALSOBOUGHT_* variable the
// manifests give serve is one serve reads.
func TestDeploymentsSetDeclaredVariables(t *testing.T) {
	clearEnv(t)
	declared := map[string]bool{}
	for _, d := range commands["serve"].set("serve", newSettings(), commands["serve"].new()).Describe() {
		declared[d.Env] = true
	}
	key := regexp.MustCompile(`(?m)^\s+(ALSOBOUGHT_[A-Z0-9_]+):`)
	for _, f := range []string{"deploy/k8s/configmap.yaml", "docker-compose.yml"} {
		b, err := os.ReadFile(testenv.RepoFile(f))
		if err != nil {
			t.Fatal(err)
		}
		keys := key.FindAllStringSubmatch(string(b), -1)
		if len(keys) == 0 {
			t.Errorf("%s sets no ALSOBOUGHT_* variable: is the pattern stale?", f)
		}
		for _, k := range keys {
			if !declared[k[1]] {
				t.Errorf("%s sets %s, which serve does not read", f, k[1])
			}
		}
	}
}

// TestEveryCommandAcceptsTheSharedFlags: scripts and the tests pass one set
// of flags (brokers, Redis, prefix, topic, group, history size, log format)
// to every command, as one environment serves them all; a command ignores
// those it does not read, and does not read their environment variables.
func TestEveryCommandAcceptsTheSharedFlags(t *testing.T) {
	clearEnv(t)
	t.Setenv("ALSOBOUGHT_LOG_LEVEL", "shouting") // read by serve only
	shared := []string{"-brokers", "b:1", "-redis", "r:1", "-redis-mode", "single", "-prefix", "p", "-topic", "t",
		"-dlq-topic", "t.dlq", "-group", "g", "-history-size", "50", "-log-format", "json", "-http", "127.0.0.1:0"}
	for name, c := range commands {
		if name == "serve" {
			continue
		}
		s, r := newSettings(), c.new()
		set, args := c.set(name, s, r), shared
		for _, d := range set.Describe() {
			if d.Flag == "data" {
				args = append(slices.Clone(shared), "-data", "x")
			}
		}
		if err := set.Parse(args); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestBenchServeChildGetsTheBenchSettings: the flags the bench gives its
// serve child reproduce every shared setting the bench read.
func TestBenchServeChildGetsTheBenchSettings(t *testing.T) {
	clearEnv(t)
	b, bs := &benchCmd{}, newSettings()
	args := []string{"-synthetic", "10", "-history-size", "33", "-keep-owned", "-dedup-window", "90m", "-min-event-time", "2001-02-03T04:05:06Z",
		"-scorer", "llr", "-lag-samples", "3"}
	if err := commands["bench"].set("bench", bs, b).Parse(args); err != nil {
		t.Fatal(err)
	}
	child := serveSettings(b.shared(bs))
	ss := newSettings()
	if err := commands["serve"].set("serve", ss, &serveCmd{}).Parse(child); err != nil {
		t.Fatalf("serve %v: %v", child, err)
	}
	for _, g := range b.shared(bs) {
		for _, st := range g.Settings {
			var got string
			for _, sg := range ss.all() {
				for _, x := range sg.Settings {
					if x.Flag == st.Flag {
						got = x.Value.String()
					}
				}
			}
			if got != st.Value.String() {
				t.Errorf("-%s: the child has %q, the bench %q", st.Flag, got, st.Value.String())
			}
		}
	}
	if ss.historySize != 33 || !ss.keepOwned || ss.method != "llr" {
		t.Errorf("child settings %+v", ss)
	}
}

// TestConfigurationDocIsCurrent: docs/configuration.md lists every setting
// of every command as declared (go test -run ConfigurationDoc -update
// rewrites its tables).
func TestConfigurationDocIsCurrent(t *testing.T) {
	clearEnv(t)
	path := testenv.RepoFile("docs/configuration.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- settings: generated by TestConfigurationDocIsCurrent -->\n", "<!-- end of generated settings -->\n"
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no %q ... %q section", path, begin, end)
	}
	want := settingsTables()
	if got := doc[i+len(begin) : j]; got != want {
		if *update {
			if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("%s is not current: run go test ./cmd/alsobought -run ConfigurationDoc -update", path)
	}
}

// settingsTables documents the declarations: the shared settings with the
// commands that read them, then each command's own options.
func settingsTables() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	readers := map[string][]string{}
	own := map[string][]config.Doc{}
	for _, n := range names {
		s, r := newSettings(), commands[n].new()
		shared := map[string]bool{}
		for _, g := range s.all() {
			for _, st := range g.Settings {
				shared[st.Flag] = true
			}
		}
		for _, d := range commands[n].set(n, s, r).Describe() {
			switch {
			case !shared[d.Flag]:
				own[n] = append(own[n], d)
			case d.Note != "":
				readers[d.Flag] = append(readers[d.Flag], n+" ("+d.Note+")")
			default:
				readers[d.Flag] = append(readers[d.Flag], n)
			}
		}
	}
	cell := func(s string) string {
		if s == "" {
			return ""
		}
		return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
	}
	text := strings.NewReplacer("<", "&lt;", ">", "&gt;", "|", `\|`).Replace
	var w strings.Builder
	w.WriteString("\n### Shared settings\n\n| group | flag | environment variable | default | valid | read by | meaning |\n|---|---|---|---|---|---|---|\n")
	s := newSettings()
	for _, g := range s.all() {
		for _, st := range g.Settings {
			fmt.Fprintf(&w, "| %s | `-%s` | `%s` | %s | %s | %s | %s |\n", g.Name, st.Flag, config.EnvName(envPrefix, st), cell(st.Value.Default()),
				text(st.Value.Want()), strings.Join(readers[st.Flag], ", "), text(meaning(st.Help, st.Recorded)))
		}
	}
	for _, n := range names {
		fmt.Fprintf(&w, "\n### %s\n\n| flag | environment variable | default | valid | meaning |\n|---|---|---|---|---|\n", n)
		for _, d := range own[n] {
			env := "(flag only)"
			if d.Env != "" {
				env = "`" + d.Env + "`"
			}
			def := cell(d.Default)
			if d.Required {
				def = "required"
			}
			fmt.Fprintf(&w, "| `-%s` | %s | %s | %s | %s |\n", d.Flag, env, def, text(d.Want), text(meaning(d.Help, d.Recorded)))
		}
	}
	w.WriteString("\n")
	return w.String()
}

// A command run for another deployment (its own topic or key prefix) that
// finds no broker or Redis address says which default it used: on a shared
// machine the default may be somebody else's. The commands below fail
// before they connect (no item, no data file), after the note.
func TestDefaultAddressIsNamedForAnOwnTopicOrPrefix(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.csv")
	redisNote := "no -redis or ALSOBOUGHT_REDIS_ADDRS: prefix x on the default Redis 127.0.0.1:16379"
	kafkaNote := "no -brokers or ALSOBOUGHT_KAFKA_BROKERS: topic x on the default broker 127.0.0.1:19092"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string // notes on stderr; none when empty
	}{
		{"own prefix, no address", nil, []string{"related", "-prefix", "x"}, []string{redisNote}},
		{"own prefix from the environment", map[string]string{"ALSOBOUGHT_REDIS_PREFIX": "x"}, []string{"related"}, []string{redisNote}},
		{"own topic, no broker", nil, []string{"replay", "-topic", "x", "-data", missing, "-redis", "127.0.0.1:1"}, []string{kafkaNote}},
		{"own topic and prefix", nil, []string{"replay", "-topic", "x", "-prefix", "x", "-data", missing}, []string{kafkaNote, redisNote}},
		{"address by flag", nil, []string{"related", "-prefix", "x", "-redis", "127.0.0.1:16379"}, nil},
		{"address from the environment", map[string]string{"ALSOBOUGHT_REDIS_ADDRS": "127.0.0.1:16379"}, []string{"related", "-prefix", "x"}, nil},
		{"default prefix", nil, []string{"related"}, nil},
		{"topic not read", nil, []string{"related", "-topic", "x"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			if err := run(context.Background(), tc.args, &out, &errOut); err == nil {
				t.Fatal("the command succeeded: it was meant to stop before connecting")
			}
			var notes []string
			for _, line := range strings.Split(strings.TrimSpace(errOut.String()), "\n") {
				if line != "" {
					notes = append(notes, line)
				}
			}
			var want []string
			for _, n := range tc.want {
				want = append(want, "alsobought "+tc.args[0]+": "+n)
			}
			if !slices.Equal(notes, want) {
				t.Fatalf("stderr lines %q, want %q", notes, want)
			}
		})
	}
}

func TestAutoBatchMaxWait(t *testing.T) {
	for _, tt := range []struct{ minInterval, want time.Duration }{
		{time.Second, 500 * time.Millisecond},
		{400 * time.Millisecond, 200 * time.Millisecond},
		{time.Minute, consumer.DefaultBatchMaxWait},
		{0, time.Nanosecond}, // off: at or below any batch wait
	} {
		if got := autoBatchMaxWait(tt.minInterval); got != tt.want {
			t.Errorf("autoBatchMaxWait(%s) = %s, want %s", tt.minInterval, got, tt.want)
		}
	}
}

// meaning is a setting's help, with what its value is tied to when it is
// recorded with the state.
func meaning(help, recorded string) string {
	if recorded == "" {
		return help
	}
	return help + " (recorded with the state: " + recorded + ")"
}

// TestEverySettingSaysWhatIsValidAndWhatIsRecorded: every setting of every
// command states its valid values in help, and exactly the settings the
// state records (stateSettings) say so, with what another value takes.
func TestEverySettingSaysWhatIsValidAndWhatIsRecorded(t *testing.T) {
	recorded := map[string]bool{}
	for k := range newSettings().stateSettings() {
		recorded[strings.ReplaceAll(strings.TrimSuffix(k, "_ms"), "_", "-")] = true
	}
	seen := map[string]bool{}
	for name, cmd := range commands {
		s := newSettings()
		for _, d := range cmd.set(name, s, cmd.new()).Describe() {
			if d.Want == "" {
				t.Errorf("%s -%s: help says nothing of its valid values", name, d.Flag)
			}
			if (d.Recorded != "") != recorded[d.Flag] {
				t.Errorf("%s -%s: marked recorded %q, but the state records it: %v", name, d.Flag, d.Recorded, recorded[d.Flag])
			}
			seen[d.Flag] = true
		}
	}
	for f := range recorded {
		if !seen[f] {
			t.Errorf("the state records %s, which no command's setting is named after", f)
		}
	}
}
