package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/httpapi"
)

// The request kinds a load test sends. Every request is one of these, drawn
// at random: about 80% known customers, 10% unknown customers and 10%
// context requests.
const (
	endpointCustomer = "customer"         // GET /v1/customers/{id}/recommendations, id from the data
	endpointUnknown  = "unknown_customer" // the same endpoint, an id not in the data
	endpointContext  = "context"          // GET /v1/recommendations?viewed=<2 items of the data>
)

var loadtestEndpoints = []string{endpointCustomer, endpointUnknown, endpointContext}

// loadtestConfig is what one run sends, for how long and how hard.
type loadtestConfig struct {
	baseURL     string
	k           int
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	timeout     time.Duration
	seed        uint64
	customers   []string // request targets: the customer ids of the data
	items       []string // the item ids of the data, for context requests
}

// sample is one measured request.
type sample struct {
	latency time.Duration
	ok      bool // 200 OK and the whole body read
}

// loadtestResult is what a run measured, per endpoint.
type loadtestResult struct {
	elapsed  time.Duration // the measured window: end of the warm-up to the last measured response
	samples  map[string][]sample
	firstErr string
}

// loadtestAbout is the help of `alsobought loadtest`.
const loadtestAbout = `Sends GET requests to a running serve from -concurrency workers, each sending
its next request when the previous one has answered (keep-alive connections):
about 80% /v1/customers/{id}/recommendations for customers of the data file,
10% the same for customers not in it, and 10% /v1/recommendations?viewed=
with two items of the data file. Requests during -warmup are not measured.
Reports requests, errors (anything but 200), throughput and the p50, p90, p99
and max latency, overall and per endpoint. Exit status 1 when any request failed.
`

// loadtestCmd is `alsobought loadtest`.
type loadtestCmd struct {
	data        dataFlags
	base        string
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	k           int
	timeout     time.Duration
	seed        uint64
	asJSON      bool
}

func (c *loadtestCmd) settings(s *settings) []config.Group {
	return []config.Group{s.events(), c.data.group(true), {Name: "Load test", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "url", Help: "base URL of a running alsobought serve", Value: config.Text(&c.base, "http://"+httpapi.DefaultAddr, "a base URL like http://127.0.0.1:8080", func(v string) error {
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errors.New("not an http(s) URL")
			}
			return nil
		})},
		{Flag: "duration", Help: "how long to measure, after the warm-up", Value: config.Duration(&c.duration, 20*time.Second, time.Nanosecond)},
		{Flag: "warmup", Help: "how long to send requests before measuring (not counted)", Value: config.Duration(&c.warmup, 2*time.Second, 0)},
		{Flag: "concurrency", Help: "requests in flight: each worker sends its next request when the previous one has answered", Value: config.Int(&c.concurrency, 8, 1, math.MaxInt)},
		{Flag: "k", Help: "recommendations per request", Value: config.Int(&c.k, httpapi.DefaultRecommendations, 1, httpapi.MaxK)},
		{Flag: "timeout", Help: "per-request timeout (a timed-out request is an error)", Value: config.Duration(&c.timeout, 10*time.Second, time.Nanosecond)},
		{Flag: "seed", Help: "seed of the random choice of requests", Value: config.Uint64(&c.seed, 1)},
		{Flag: "json", Help: "print one JSON object instead of a table", Value: config.Bool(&c.asJSON, false)},
	}}}
}

func (c *loadtestCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	d := c.data
	evs, err := d.load(s)
	if err != nil {
		return err
	}
	cfg := loadtestConfig{baseURL: strings.TrimRight(c.base, "/"), k: c.k, concurrency: c.concurrency,
		warmup: c.warmup, duration: c.duration, timeout: c.timeout, seed: c.seed}
	seenC, seenI := map[string]bool{}, map[string]bool{}
	for _, e := range evs {
		if !seenC[e.CustomerID] {
			seenC[e.CustomerID] = true
			cfg.customers = append(cfg.customers, e.CustomerID)
		}
		if !seenI[e.ItemID] {
			seenI[e.ItemID] = true
			cfg.items = append(cfg.items, e.ItemID)
		}
	}
	if len(cfg.customers) == 0 || len(cfg.items) < 2 {
		return usageErr("%s holds %d customers and %d items: need at least one customer and two items", d.path, len(cfg.customers), len(cfg.items))
	}

	client := newLoadtestClient(cfg.concurrency, cfg.timeout)
	defer client.CloseIdleConnections()
	if err := checkReachable(ctx, client, cfg.baseURL); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	if !c.asJSON {
		fmt.Fprintf(stderr, "loadtest: %s, %d customers and %d items from %s, concurrency %d, warm-up %s, measuring %s\n",
			cfg.baseURL, len(cfg.customers), len(cfg.items), d.path, cfg.concurrency, cfg.warmup, cfg.duration)
	}
	res := runLoad(ctx, client, cfg)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "loadtest: interrupted; the figures cover the requests measured until then")
	}
	report := buildLoadtestReport(cfg, d.path, res)
	if c.asJSON {
		if err := writeJSON(stdout, report); err != nil {
			return err
		}
	} else if err := report.writeTable(stdout); err != nil {
		return err
	}
	switch {
	case report.Total.Errors > 0:
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d requests failed (first: %s)", report.Total.Errors, report.Total.Requests, res.firstErr)}
	case report.Total.Requests == 0:
		return &exitError{code: 1, msg: "no request was measured"}
	}
	return nil
}

// newLoadtestClient keeps one connection alive per worker.
func newLoadtestClient(concurrency int, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns = concurrency + 4
	tr.MaxIdleConnsPerHost = concurrency + 4
	tr.IdleConnTimeout = time.Minute
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: tr, Timeout: timeout}
}

// checkReachable asks /healthz once, so that a server that is not there is
// reported as such rather than as thousands of failed requests.
func checkReachable(ctx context.Context, client *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %v (is `alsobought serve` running there?)", base, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/healthz answered %s", base, resp.Status)
	}
	return nil
}

// runLoad runs cfg.concurrency closed-loop workers for the warm-up and
// then the measured duration. A request is measured when it starts inside
// the measured window; requests in flight at its end are awaited and
// counted. Cancelling ctx stops the run early.
func runLoad(ctx context.Context, client *http.Client, cfg loadtestConfig) loadtestResult {
	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	stopAt := measureFrom.Add(cfg.duration)
	known := make(map[string]bool, len(cfg.customers))
	for _, c := range cfg.customers {
		known[c] = true
	}

	type workerOut struct {
		samples  map[string][]sample
		lastEnd  time.Time
		firstErr string
	}
	outs := make([]workerOut, cfg.concurrency)
	var wg sync.WaitGroup
	for w := range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.seed, uint64(w)))
			out := workerOut{samples: map[string][]sample{}}
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stopAt) {
					break
				}
				endpoint, target := pickRequest(rng, cfg, known)
				ok, errMsg := doRequest(ctx, client, target)
				t1 := time.Now()
				if ctx.Err() != nil {
					break // interrupted: the request did not finish on its own
				}
				if t0.Before(measureFrom) {
					continue
				}
				out.samples[endpoint] = append(out.samples[endpoint], sample{latency: t1.Sub(t0), ok: ok})
				out.lastEnd = t1
				if !ok && out.firstErr == "" {
					out.firstErr = errMsg
				}
			}
			outs[w] = out
		}()
	}
	wg.Wait()

	res := loadtestResult{samples: map[string][]sample{}}
	end := measureFrom
	for _, o := range outs {
		for ep, ss := range o.samples {
			res.samples[ep] = append(res.samples[ep], ss...)
		}
		if o.lastEnd.After(end) {
			end = o.lastEnd
		}
		if res.firstErr == "" {
			res.firstErr = o.firstErr
		}
	}
	res.elapsed = end.Sub(measureFrom)
	return res
}

// pickRequest draws the next request: 80% a customer of the data, 10% a
// customer not in it, 10% a context of two items of the data.
func pickRequest(rng *rand.Rand, cfg loadtestConfig, known map[string]bool) (endpoint, target string) {
	k := strconv.Itoa(cfg.k)
	switch n := rng.IntN(10); {
	case n < 8:
		c := cfg.customers[rng.IntN(len(cfg.customers))]
		return endpointCustomer, cfg.baseURL + "/v1/customers/" + url.PathEscape(c) + "/recommendations?k=" + k
	case n < 9:
		c := "loadtest-unknown-" + strconv.FormatUint(rng.Uint64(), 36)
		for known[c] {
			c += "x"
		}
		return endpointUnknown, cfg.baseURL + "/v1/customers/" + url.PathEscape(c) + "/recommendations?k=" + k
	default:
		i := rng.IntN(len(cfg.items))
		j := rng.IntN(len(cfg.items) - 1)
		if j >= i {
			j++ // two different items
		}
		viewed := url.QueryEscape(cfg.items[i] + "," + cfg.items[j])
		return endpointContext, cfg.baseURL + "/v1/recommendations?viewed=" + viewed + "&k=" + k
	}
}

// doRequest sends one GET and reads the whole body, so that the connection
// is kept alive. Anything but a 200 is an error.
func doRequest(ctx context.Context, client *http.Client, target string) (ok bool, errMsg string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Sprintf("GET %s: %s", target, resp.Status)
	case err != nil:
		return false, fmt.Sprintf("GET %s: read body: %v", target, err)
	}
	return true, ""
}

// latencySummary is what the report gives for a set of requests.
type latencySummary struct {
	Requests   int           `json:"requests"`
	Errors     int           `json:"errors"`
	Throughput float64       `json:"throughput_rps"`
	P50        time.Duration `json:"-"`
	P90        time.Duration `json:"-"`
	P99        time.Duration `json:"-"`
	Max        time.Duration `json:"-"`
}

// MarshalJSON writes the latencies in milliseconds.
func (s latencySummary) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 } // µs precision
	type plain latencySummary
	return json.Marshal(struct {
		plain
		P50 float64 `json:"p50_ms"`
		P90 float64 `json:"p90_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	}{plain(s), ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max)})
}

// summarize computes the counts, the throughput over elapsed and the
// nearest-rank percentiles of the latencies of every request, failed ones
// included. It does not modify samples.
func summarize(samples []sample, elapsed time.Duration) latencySummary {
	s := latencySummary{Requests: len(samples)}
	lat := make([]time.Duration, len(samples))
	for i, x := range samples {
		lat[i] = x.latency
		if !x.ok {
			s.Errors++
		}
	}
	if elapsed > 0 {
		s.Throughput = float64(len(samples)) / elapsed.Seconds()
	}
	slices.Sort(lat)
	s.P50, s.P90, s.P99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	if len(lat) > 0 {
		s.Max = lat[len(lat)-1]
	}
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted: the
// smallest value with at least p% of the values at or below it (0 when
// there are none). The load test keeps every latency, so its percentiles
// are exact; obs.HistogramQuantile is for histograms, where only bucket
// counts are known and the answer is an interpolation.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted)) / 100))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// loadtestReport is the result of a run, as printed.
type loadtestReport struct {
	URL         string                    `json:"url"`
	Data        string                    `json:"data"`
	Customers   int                       `json:"customers"`
	Items       int                       `json:"items"`
	Concurrency int                       `json:"concurrency"`
	K           int                       `json:"k"`
	Warmup      float64                   `json:"warmup_s"`
	Duration    float64                   `json:"duration_s"`
	Elapsed     float64                   `json:"elapsed_s"`
	Total       latencySummary            `json:"total"`
	Endpoints   map[string]latencySummary `json:"endpoints"`
}

func buildLoadtestReport(cfg loadtestConfig, data string, res loadtestResult) loadtestReport {
	r := loadtestReport{URL: cfg.baseURL, Data: data, Customers: len(cfg.customers), Items: len(cfg.items),
		Concurrency: cfg.concurrency, K: cfg.k, Warmup: cfg.warmup.Seconds(), Duration: cfg.duration.Seconds(),
		Elapsed: res.elapsed.Seconds(), Endpoints: map[string]latencySummary{}}
	var all []sample
	for _, ep := range loadtestEndpoints {
		all = append(all, res.samples[ep]...)
		r.Endpoints[ep] = summarize(res.samples[ep], res.elapsed)
	}
	r.Total = summarize(all, res.elapsed)
	return r
}

func (r loadtestReport) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "%d requests in %.1fs at concurrency %d, k=%d: %.0f req/s, %d errors\n",
		r.Total.Requests, r.Elapsed, r.Concurrency, r.K, r.Total.Throughput, r.Total.Errors)
	fmt.Fprintf(w, "%-16s %9s %7s %7s %8s %8s %8s %8s\n", "endpoint", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms")
	row := func(name string, s latencySummary) {
		ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
		fmt.Fprintf(w, "%-16s %9d %7d %7.0f %8.2f %8.2f %8.2f %8.2f\n",
			name, s.Requests, s.Errors, s.Throughput, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
	}
	row("all", r.Total)
	for _, ep := range loadtestEndpoints {
		row(ep, r.Endpoints[ep])
	}
	return nil
}
