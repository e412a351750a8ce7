package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ms1to builds the latencies 1ms..n ms, all successful, in a shuffled order.
func ms1to(n int) []sample {
	out := make([]sample, n)
	for i := range out {
		out[i] = sample{latency: time.Duration(i+1) * time.Millisecond, ok: true}
	}
	rand.New(rand.NewPCG(7, 7)).Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestLoadtestSummarize(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples []sample
		elapsed time.Duration
		want    latencySummary
	}{
		{"no requests", nil, time.Second, latencySummary{}},
		{"zero elapsed gives no throughput", []sample{{5 * ms, true}}, 0,
			latencySummary{Requests: 1, P50: 5 * ms, P90: 5 * ms, P99: 5 * ms, Max: 5 * ms}},
		{"one request", []sample{{3 * ms, true}}, 2 * time.Second,
			latencySummary{Requests: 1, Throughput: 0.5, P50: 3 * ms, P90: 3 * ms, P99: 3 * ms, Max: 3 * ms}},
		{"two requests: p50 is the lower", []sample{{9 * ms, true}, {1 * ms, true}}, time.Second,
			latencySummary{Requests: 2, Throughput: 2, P50: 1 * ms, P90: 9 * ms, P99: 9 * ms, Max: 9 * ms}},
		{"1..10 ms shuffled", ms1to(10), time.Second,
			latencySummary{Requests: 10, Throughput: 10, P50: 5 * ms, P90: 9 * ms, P99: 10 * ms, Max: 10 * ms}},
		{"1..100 ms shuffled", ms1to(100), 4 * time.Second,
			latencySummary{Requests: 100, Throughput: 25, P50: 50 * ms, P90: 90 * ms, P99: 99 * ms, Max: 100 * ms}},
		{"1..1000 ms shuffled", ms1to(1000), 10 * time.Second,
			latencySummary{Requests: 1000, Throughput: 100, P50: 500 * ms, P90: 900 * ms, P99: 990 * ms, Max: 1000 * ms}},
		{"one slow outlier shows in max and p99 of 100, not p90",
			append(slices.Repeat([]sample{{1 * ms, true}}, 99), sample{time.Second, true}), time.Second,
			latencySummary{Requests: 100, Throughput: 100, P50: 1 * ms, P90: 1 * ms, P99: 1 * ms, Max: time.Second}},
		{"errors are counted and their latencies included",
			[]sample{{1 * ms, true}, {2 * ms, false}, {3 * ms, true}, {40 * ms, false}}, time.Second,
			latencySummary{Requests: 4, Errors: 2, Throughput: 4, P50: 2 * ms, P90: 40 * ms, P99: 40 * ms, Max: 40 * ms}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.samples)
			got := summarize(tc.samples, tc.elapsed)
			if got != tc.want {
				t.Fatalf("summarize = %+v, want %+v", got, tc.want)
			}
			if !slices.Equal(in, tc.samples) {
				t.Fatal("summarize modified its input")
			}
		})
	}
}

func TestLoadtestPercentile(t *testing.T) {
	sorted := []time.Duration{10, 20, 30, 40}
	tests := []struct {
		p    float64
		want time.Duration
	}{{0, 10}, {1, 10}, {25, 10}, {26, 20}, {50, 20}, {75, 30}, {76, 40}, {99, 40}, {100, 40}}
	for _, tc := range tests {
		if got := percentile(sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", sorted, tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of nothing = %v, want 0", got)
	}
}

func TestLoadtestSummaryJSONInMilliseconds(t *testing.T) {
	s := latencySummary{Requests: 3, Errors: 1, Throughput: 1.5, P50: 1500 * time.Microsecond,
		P90: 2 * time.Millisecond, P99: 12345 * time.Nanosecond, Max: time.Second}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"requests":3,"errors":1,"throughput_rps":1.5,"p50_ms":1.5,"p90_ms":2,"p99_ms":0.012,"max_ms":1000}`
	if string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
}

func TestLoadtestRequestMix(t *testing.T) {
	cfg := loadtestConfig{baseURL: "http://h:1", k: 6, customers: []string{"c1", "c/2"}, items: []string{"i1", "i2", "i3"}}
	known := map[string]bool{"c1": true, "c/2": true}
	rng := rand.New(rand.NewPCG(1, 2))
	count := map[string]int{}
	const n = 10000
	for range n {
		ep, target := pickRequest(rng, cfg, known)
		count[ep]++
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if u.Query().Get("k") != "6" {
			t.Fatalf("%s: k is not 6", target)
		}
		switch ep {
		case endpointCustomer, endpointUnknown:
			id, ok := strings.CutSuffix(strings.TrimPrefix(u.EscapedPath(), "/v1/customers/"), "/recommendations")
			if !ok {
				t.Fatalf("%s: not a customer request", target)
			}
			id, _ = url.PathUnescape(id)
			if known[id] != (ep == endpointCustomer) {
				t.Fatalf("%s: %s request for customer %q (known %v)", target, ep, id, known[id])
			}
		case endpointContext:
			v := strings.Split(u.Query().Get("viewed"), ",")
			if u.Path != "/v1/recommendations" || len(v) != 2 || v[0] == v[1] ||
				!slices.Contains(cfg.items, v[0]) || !slices.Contains(cfg.items, v[1]) {
				t.Fatalf("%s: want two different items of the data", target)
			}
		default:
			t.Fatalf("unknown endpoint %q", ep)
		}
	}
	for ep, share := range map[string]float64{endpointCustomer: 0.8, endpointUnknown: 0.1, endpointContext: 0.1} {
		if got := float64(count[ep]) / n; got < share-0.02 || got > share+0.02 {
			t.Errorf("%s: %.3f of the requests, want about %.1f", ep, got, share)
		}
	}
}

// TestLoadtestAgainstFakeServer runs the command against an in-process
// server (no services): every request kind is sent, the warm-up is not
// counted, non-200 answers are errors and make the exit status 1.
func TestLoadtestAgainstFakeServer(t *testing.T) {
	data := filepath.Join(t.TempDir(), "events.jsonl")
	lines := `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083}
{"event_id":"e2","type":"view","customer_id":"c2","item_id":"i2","ts":1396321306084}
`
	if err := os.WriteFile(data, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	failContext := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		fail := failContext && r.URL.Path == "/v1/recommendations"
		mu.Unlock()
		if fail {
			http.Error(w, `{"error":"state store unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, `{"items":[]}`)
	}))
	defer srv.Close()
	args := []string{"loadtest", "-url", srv.URL, "-data", data, "-format", "events",
		"-duration", "300ms", "-warmup", "100ms", "-concurrency", "3", "-json"}

	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	type counts struct{ Requests, Errors int }
	var rep struct {
		Total     counts
		Endpoints map[string]counts
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	if rep.Total.Requests == 0 || rep.Total.Errors != 0 {
		t.Fatalf("want requests and no errors: %s", out.String())
	}
	mu.Lock()
	sent := 0
	for path, n := range seen {
		if path != "/healthz" {
			sent += n
		}
	}
	mu.Unlock()
	if sent <= rep.Total.Requests {
		t.Fatalf("the server saw %d recommendation requests, the report measured %d: the warm-up must add uncounted ones", sent, rep.Total.Requests)
	}
	sum := 0
	for _, ep := range loadtestEndpoints {
		if rep.Endpoints[ep].Requests == 0 {
			t.Errorf("no %s request measured: %s", ep, out.String())
		}
		sum += rep.Endpoints[ep].Requests
	}
	if sum != rep.Total.Requests {
		t.Errorf("endpoints add up to %d requests, total says %d", sum, rep.Total.Requests)
	}

	mu.Lock()
	failContext = true
	mu.Unlock()
	out.Reset()
	err := run(context.Background(), args[:len(args)-1], &out, &errOut)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, "503") {
		t.Fatalf("with failing context requests: want exit 1 naming the 503, got %v", err)
	}
	if !strings.Contains(out.String(), "context") || !strings.Contains(out.String(), "p99 ms") {
		t.Fatalf("the table is printed even when requests fail:\n%s", out.String())
	}
}
