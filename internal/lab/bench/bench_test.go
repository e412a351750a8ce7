package bench

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
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
alsobought_events_applied_total{type="purchase"} 10
alsobought_events_applied_total{type="view"} 90
process_cpu_seconds_total 1.5
`

const metricsAfter = `alsobought_freshness_seconds_bucket{le="0.5"} 1
alsobought_freshness_seconds_bucket{le="1"} 51
alsobought_freshness_seconds_bucket{le="2"} 100
alsobought_freshness_seconds_bucket{le="+Inf"} 101
alsobought_freshness_seconds_sum 120.25
alsobought_freshness_seconds_count 101
alsobought_events_applied_total{type="purchase"} 15
alsobought_events_applied_total{type="view"} 185
process_cpu_seconds_total 4
`

func mustScrape(t *testing.T, text string) scrape {
	t.Helper()
	s, err := parseScrape(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScrapeSumsSeriesAndReadsBuckets(t *testing.T) {
	s := mustScrape(t, metricsAfter)
	if got := s.sums["alsobought_events_applied_total"]; got != 200 {
		t.Errorf("applied = %v, want the sum of both series, 200", got)
	}
	if got := s.sums["process_cpu_seconds_total"]; got != 4 {
		t.Errorf("cpu = %v", got)
	}
	if got := s.buckets[freshnessMetric][math.Inf(1)]; got != 101 {
		t.Errorf("+Inf bucket = %v", got)
	}
	if _, err := parseScrape(strings.NewReader("x{le=\"1\" 3\n")); err == nil {
		t.Error("unbalanced braces: want an error")
	}
}

// The observations between the scrapes: 50 in (0.5, 1], 49 in (1, 2], 1
// above 2, summing to 120 s.
func TestHistogramDeltaQuantiles(t *testing.T) {
	h := histogramDelta(mustScrape(t, metricsBefore), mustScrape(t, metricsAfter), freshnessMetric)
	if h.count() != 100 {
		t.Fatalf("count %v, want 100", h.count())
	}
	if m := h.mean(); math.Abs(m-1.2) > 1e-9 {
		t.Errorf("mean %v, want 1.2", m)
	}
	for _, tc := range []struct{ q, want float64 }{
		{0.5, 1},      // the 50th observation is the last of (0.5, 1]
		{0.25, 0.75},  // halfway through (0.5, 1]
		{0.745, 1.5},  // halfway through (1, 2]
		{0.995, 2},    // in +Inf: the largest finite bound
		{0.0001, 0.5}, // just into the first non-empty bucket
	} {
		if got := h.quantile(tc.q); math.Abs(got-tc.want) > 1e-3 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if lo, hi := h.bucketOf(1.5); lo != 1 || hi != 2 {
		t.Errorf("bucketOf(1.5) = (%v, %v]", lo, hi)
	}
	empty := histogramDelta(mustScrape(t, metricsBefore), mustScrape(t, metricsBefore), freshnessMetric)
	if !math.IsNaN(empty.quantile(0.5)) || !math.IsNaN(empty.mean()) {
		t.Error("no observations: want NaN")
	}
}

func TestParseInfo(t *testing.T) {
	text := "# Stats\r\ntotal_commands_processed:1000\r\ntotal_net_input_bytes:5000\r\ntotal_net_output_bytes:700\r\n" +
		"# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:2.25\r\n# Memory\r\nused_memory:1048576\r\n# Clients\r\nconnected_clients:3\r\n" +
		"# Commandstats\r\ncmdstat_evalsha:calls=10,usec=500,usec_per_call=50.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_hincrby:calls=200,usec=100,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n"
	a, err := parseInfo(text, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if a.commands != 1000 || a.netIn != 5000 || a.netOut != 700 || a.cpu != 3.75 || a.usedMemory != 1<<20 || a.clients != 3 {
		t.Fatalf("parsed %+v", a)
	}
	b := a
	b.at = time.Unix(2, 0)
	b.commands = 1600
	b.calls = map[string]float64{"evalsha": 30, "hincrby": 900, "get": 5}
	b.usec = map[string]float64{"evalsha": 1500, "hincrby": 400, "get": 10}
	d := a.to(b)
	if d.seconds != 2 || d.commands != 600 || d.calls["evalsha"] != 20 || d.calls["get"] != 5 {
		t.Fatalf("delta %+v", d)
	}
	// EVALSHA's time includes its HINCRBYs: they are not added again.
	if got := topLevelUsec(d); got != 1010 {
		t.Errorf("top-level usec %v, want 1000 (evalsha) + 10 (get)", got)
	}
	if _, err := parseInfo("# Stats\r\n", time.Now()); err == nil {
		t.Error("missing fields: want an error")
	}
}

func TestKeyClass(t *testing.T) {
	for key, want := range map[string]string{
		"b1:cust:{c9}":        "customer",
		"b1:row:b:{i1}":       "item",
		"b1:rel:vb:{i1}":      "item",
		"b1:{#}:buyers":       "global",
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

func TestConfigValidate(t *testing.T) {
	ok := Config{Brokers: []string{"k:1"}, Store: store.Config{Addrs: []string{"r:1"}}, Serve: []string{"alsobought", "serve"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Config){
		"no brokers":       func(c *Config) { c.Brokers = nil },
		"no serve":         func(c *Config) { c.Serve = nil },
		"paced share 1":    func(c *Config) { c.PacedShare = 1 },
		"paced load 2":     func(c *Config) { c.PacedLoad = 2 },
		"negative rate":    func(c *Config) { c.PacedRate = -1 },
		"paced share -0.5": func(c *Config) { c.PacedShare = -0.5 },
	} {
		c := ok
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
