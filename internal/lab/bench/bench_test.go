package bench

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/lab/scratch"
	"github.com/alsobought/alsobought/store"
)

const metricsBefore = `# HELP alsobought_freshness_seconds Time from ...
# TYPE alsobought_freshness_seconds histogram
alsobought_freshness_seconds_bucket{le="0.5"} 1
alsobought_freshness_seconds_bucket{le="1"} 1
alsobought_freshness_seconds_bucket{le="2"} 1
alsobought_freshness_seconds_bucket{le="+Inf"} 1
alsobought_freshness_seconds_sum 0.25
alsobought_freshness_seconds_count 1
# TYPE alsobought_events_applied_total counter
alsobought_events_applied_total{type="purchase"} 10
alsobought_events_applied_total{type="view"} 90
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
`

const metricsAfter = `# TYPE alsobought_freshness_seconds histogram
alsobought_freshness_seconds_bucket{le="0.5"} 1
alsobought_freshness_seconds_bucket{le="1"} 51
alsobought_freshness_seconds_bucket{le="2"} 100
alsobought_freshness_seconds_bucket{le="+Inf"} 101
alsobought_freshness_seconds_sum 120.25
alsobought_freshness_seconds_count 101
# TYPE alsobought_events_applied_total counter
alsobought_events_applied_total{type="purchase"} 15
alsobought_events_applied_total{type="view"} 185
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 4
`

func mustScrape(t *testing.T, text string) scrape {
	t.Helper()
	s, err := parseScrape(strings.NewReader(text), expfmt.NewFormat(expfmt.TypeTextPlain))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScrapeSumsSeries(t *testing.T) {
	s := mustScrape(t, metricsAfter)
	if got := s.sum("alsobought_events_applied_total"); got != 200 {
		t.Errorf("applied = %v, want the sum of both series, 200", got)
	}
	if got := s.sum("process_cpu_seconds_total"); got != 4 {
		t.Errorf("cpu = %v", got)
	}
	if got := s.sum("alsobought_not_exported_total"); got != 0 {
		t.Errorf("a metric serve does not export: %v, want 0", got)
	}
	if got := s.histogram(freshnessMetric).GetSampleCount(); got != 101 {
		t.Errorf("freshness count = %v", got)
	}
	if _, err := parseScrape(strings.NewReader("x{le=\"1\" 3\n"), expfmt.NewFormat(expfmt.TypeTextPlain)); err == nil {
		t.Error("unbalanced braces: want an error")
	}
}

// The observations between the scrapes: 50 in (0.5, 1], 49 in (1, 2], 1
// above 2, summing to 120 s.
func TestHistogramDelta(t *testing.T) {
	h := histogramDelta(mustScrape(t, metricsBefore), mustScrape(t, metricsAfter), freshnessMetric)
	if h.GetSampleCount() != 100 {
		t.Fatalf("count %v, want 100", h.GetSampleCount())
	}
	if m := mean(h); math.Abs(m-1.2) > 1e-9 {
		t.Errorf("mean %v, want 1.2", m)
	}
	for _, tc := range []struct{ q, want float64 }{
		{0.5, 1},     // the 50th observation is the last of (0.5, 1]
		{0.745, 1.5}, // halfway through (1, 2]
		{0.995, 2},   // in +Inf: the largest finite bound
	} {
		if got := quantile(tc.q, h); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := describeBuckets(h); !strings.HasPrefix(got, "3 buckets from 0.5s to 2s, from 0.1s to 10s each at most 100.0% above") {
		t.Errorf("buckets described as %q", got)
	}
	empty := histogramDelta(mustScrape(t, metricsBefore), mustScrape(t, metricsBefore), freshnessMetric)
	if !math.IsNaN(quantile(0.5, empty)) || !math.IsNaN(mean(empty)) {
		t.Error("no observations: want NaN")
	}
}

// A report with figures over nothing (a paced phase without freshness
// samples, an incremental side that took no measurable CPU) still encodes:
// those figures are null, the others numbers.
func TestReportJSONWritesNonFiniteFiguresAsNull(t *testing.T) {
	empty := &dto.Histogram{}
	rep := Report{Events: 10, EventsPerSec: ratio(10, 2), FreshnessP50Ms: Figure(1000 * quantile(0.5, empty)),
		FreshnessMeanMs: Figure(1000 * mean(empty))}
	inc := IncrementalReport{WallRatio: ratio(3, 1.5), CPURatio: ratio(0.4, 0), RedisCmdRatio: ratio(0, 0)}
	for name, v := range map[string]any{"report": rep, "incremental": inc} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		for field, want := range map[string]map[string]any{
			"report":      {"events_per_sec": 5.0, "freshness_p50_ms": nil, "freshness_mean_ms": nil, "events": 10.0},
			"incremental": {"wall_ratio": 2.0, "cpu_ratio": nil, "redis_cmd_ratio": nil},
		}[name] {
			if v, ok := got[field]; !ok || v != want {
				t.Errorf("%s: %s = %v (present %v), want %v", name, field, v, ok, want)
			}
		}
	}
}

func TestParseInfo(t *testing.T) {
	text := "# Stats\r\ntotal_commands_processed:1000\r\ntotal_net_input_bytes:5000\r\ntotal_net_output_bytes:700\r\ntotal_forks:4\r\n" +
		"# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:2.25\r\n# Memory\r\nused_memory:1048576\r\n# Clients\r\nconnected_clients:3\r\n" +
		"# Commandstats\r\ncmdstat_evalsha:calls=10,usec=500,usec_per_call=50.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hincrby:calls=200,usec=100,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n"
	a, err := parseInfo(text, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if a.commands != 1000 || a.netIn != 5000 || a.netOut != 700 || a.cpu != 3.75 || a.usedMemory != 1<<20 || a.clients != 3 || a.forks != 4 ||
		a.calls["evalsha"] != 10 || a.calls["hincrby"] != 200 {
		t.Fatalf("parsed %+v", a)
	}
	b := a
	b.at = time.Unix(2, 0)
	b.commands = 1600
	b.cpu = 4.25
	b.forks = 7
	b.calls = map[string]float64{"evalsha": 30, "hincrby": 900, "get": 5}
	d := a.to(b)
	if d.seconds != 2 || d.commands != 600 || d.cpu != 0.5 || d.forks != 3 || d.calls["evalsha"] != 20 || d.calls["get"] != 5 || d.calls["hincrby"] != 700 {
		t.Fatalf("delta %+v", d)
	}
	if _, err := parseInfo("# Stats\r\n", time.Now()); err == nil {
		t.Error("missing fields: want an error")
	}
	// A Redis older than 6.2 has no total_forks: no forks counted, no error.
	older, err := parseInfo(strings.Replace(text, "total_forks:4\r\n", "", 1), time.Now())
	if err != nil || older.forks != 0 {
		t.Errorf("without total_forks: forks %v, error %v", older.forks, err)
	}
	if _, err := parseInfo(strings.Replace(text, "total_forks:4", "total_forks:x", 1), time.Now()); err == nil {
		t.Error("total_forks not a number: want an error")
	}
}

// The child serve writes only to the scratch state's topics, group and
// prefix, even when the environment it inherits names the operator's.
func TestServeArgsNameOnlyTheScratchState(t *testing.T) {
	cfg := validConfig()
	cfg.Serve = []string{"alsobought", "serve", "-brokers", "k:1"}
	n := scratch.NewNames("bench-e2e")
	for _, feed := range []bool{true, false} {
		argv := serveArgs(&cfg, n, feed)
		got := map[string]string{}
		for i := 2; i+1 < len(argv); i += 2 {
			got[argv[i]] = argv[i+1]
		}
		want := map[string]string{"-topic": n.Topic, "-dlq-topic": n.DLQTopic, "-feed-topic": n.FeedTopic,
			"-group": n.Group, "-prefix": n.Prefix, "-brokers": "k:1"}
		if !feed {
			want["-feed-topic"] = "off"
		}
		for flag, v := range want {
			if got[flag] != v {
				t.Errorf("feed %v: %s %q, want %q (argv %q)", feed, flag, got[flag], v, argv)
			}
		}
	}
	if err := store.ValidatePrefix(n.Prefix); err != nil {
		t.Errorf("scratch prefix: %v", err)
	}
}

func TestKeyClass(t *testing.T) {
	for key, want := range map[string]string{
		"b1:cust:{c9}":        "customer",
		"b1:row:b:{i1}":       "item",
		"b1:rel:vb:{i1}":      "item",
		"b1:{#}:buyers":       "global",
		"b1:{#3.9}:dirty":     "global",
		"b1:pop:v:{20250101}": "global",
		"b10:cust:{c9}":       "",
	} {
		if got := keyClass("b1", key); got != want {
			t.Errorf("keyClass(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestSplitLastDay(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) event.Event { return event.Event{Time: t0.Add(time.Duration(h) * time.Hour)} }
	evs := []event.Event{at(0), at(10), at(30), at(40), at(54)}
	history, last := SplitLastDay(evs)
	// The last event is at 54 h: the last day is (30 h, 54 h].
	if len(history) != 3 || len(last) != 2 {
		t.Fatalf("history %d, last day %d; want 3 and 2", len(history), len(last))
	}
	if h, l := SplitLastDay(nil); h != nil || l != nil {
		t.Fatal("no events: want nothing")
	}
}

func validConfig() Config {
	return Config{Kafka: kafkaconn.Plain("k:1"), Store: store.Config{Addrs: []string{"r:1"}}, Serve: []string{"alsobought", "serve"},
		StateSettings: map[string]string{}, Partitions: 4, PacedShare: 0.25, PacedLoad: 0.5, MinRescoreWait: time.Second, Timeout: time.Minute}
}

func TestConfigValidate(t *testing.T) {
	ok := validConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Config){
		"no brokers":        func(c *Config) { c.Kafka = nil },
		"no serve":          func(c *Config) { c.Serve = nil },
		"no state settings": func(c *Config) { c.StateSettings = nil },
		"paced share 1":     func(c *Config) { c.PacedShare = 1 },
		"paced load 2":      func(c *Config) { c.PacedLoad = 2 },
		"negative rate":     func(c *Config) { c.PacedRate = -1 },
		"paced share -0.5":  func(c *Config) { c.PacedShare = -0.5 },
		"no partitions":     func(c *Config) { c.Partitions = 0 },
		"no timeout":        func(c *Config) { c.Timeout = 0 },
		"no re-score wait":  func(c *Config) { c.MinRescoreWait = 0 },
	} {
		c := ok
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

// TestMasterLoads: on a cluster, each master's share of a phase's work per
// event, and the ratio of the busiest master's commands to the least
// busy's; nothing for a single Redis.
func TestMasterLoads(t *testing.T) {
	if loads, r := masterLoads(redisDelta{commands: 100}, 10); loads != nil || r != 0 {
		t.Errorf("single Redis: %v, %v", loads, r)
	}
	d := redisDelta{commands: 600, cpu: 6, masters: map[string]redisDelta{
		"b:2": {commands: 240, cpu: 3, calls: map[string]float64{"evalsha": 20}},
		"a:1": {commands: 160, cpu: 1, calls: map[string]float64{}},
		"c:3": {commands: 200, cpu: 2, calls: map[string]float64{"evalsha": 10}},
	}}
	loads, r := masterLoads(d, 100)
	if r != 1.5 {
		t.Errorf("ratio %v, want 240 / 160 = 1.5", r)
	}
	want := []MasterLoad{
		{Addr: "a:1", CmdsPerEvent: 1.6, CPUSecPerMillion: 10000, Commands: 160, CPUSeconds: 1, CommandsShareOfMaster: Figure(160.0 / 600)},
		{Addr: "b:2", CmdsPerEvent: 2.4, CPUSecPerMillion: 30000, Commands: 240, CPUSeconds: 3, ScriptCallsPerEvent: 0.2, CommandsShareOfMaster: 0.4},
		{Addr: "c:3", CmdsPerEvent: 2, CPUSecPerMillion: 20000, Commands: 200, CPUSeconds: 2, ScriptCallsPerEvent: 0.1, CommandsShareOfMaster: Figure(200.0 / 600)},
	}
	if !reflect.DeepEqual(loads, want) {
		t.Errorf("loads %+v\nwant %+v", loads, want)
	}
}
