package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

func init() {
	// GET /status answers HTML, documented as a string: let the response
	// validator read it as it reads text/plain.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// statusShop is the state of the status page tests: the API tests' shop.
func statusShop(t *testing.T, st *store.Store) {
	t.Helper()
	shop(t, st, testShop())
}

// statusConsumer is a consumer at known totals: 1200 events consumed
// (consumed moves them), 1180 applied, 2 dead letters (invalid_json).
type statusConsumer struct{ consumed atomic.Uint64 }

func newStatusConsumer() *statusConsumer {
	c := &statusConsumer{}
	c.consumed.Store(1200)
	return c
}

func (c *statusConsumer) Stats() consumer.Stats {
	by := map[event.Reason]uint64{}
	for _, r := range event.Reasons() {
		by[r] = 0
	}
	by[event.ReasonInvalidJSON] = 2
	return consumer.Stats{Consumed: c.consumed.Load(), Applied: 1180, DeadLettered: 2, DeadLetteredBy: by}
}

// statusRescorer is a re-scorer at known figures: 340 lists re-scored;
// freshness: ten lists at 0.3 s and one beyond the largest bucket (the
// re-scorer's buckets); 17 dirty items, the oldest 2.5 s old.
type statusRescorer struct{ freshness *dto.Histogram }

func newStatusRescorer() statusRescorer {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "freshness", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)})
	for range 10 {
		h.Observe(0.3)
	}
	h.Observe(1000)
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		panic(err)
	}
	return statusRescorer{freshness: m.GetHistogram()}
}

func (r statusRescorer) Stats() rescore.Stats {
	return rescore.Stats{Rescored: 340, Freshness: r.freshness, BacklogKnown: true, DirtyItems: 17, OldestAge: 2.5,
		PopularAt: time.Now().Add(-3 * time.Second), SweepInterval: time.Hour, Feed: true, OutboxItems: 4, OutboxOldestAge: 1.5,
		PublishedAt: time.Now().Add(-2 * time.Second)}
}

// TestStatusPage checks GET /status over HTTP against docs/openapi.yaml:
// statuses, content type, what the server renders, the escaping, and the
// rates between page views. TestStatusPageInBrowser renders it in Chromium.
func TestStatusPage(t *testing.T) {
	doc := loadSpec(t)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.NewRedis(t)
	statusShop(t, env.Store)
	ready := func(context.Context) string { return "" }
	reg := prometheus.NewRegistry()
	cons, rs := newStatusConsumer(), newStatusRescorer()
	stalled := lagReport(time.Now().Add(-3 * time.Second))
	instance := &httpapi.Instance{Version: "v1.2.3", Commit: "0123456789ab", GoVersion: "go1.26.0", Started: time.Now().Add(-90 * time.Minute),
		Consuming: true, Topic: "shop.events", Group: "alsobought", Prefix: "ab", RedisMode: "single", RedisAddrs: "redis://:xxxxx@10.0.0.5:6379",
		Brokers: []string{"10.0.0.7:9092", "10.0.0.8:9092"}, Recorded: map[string]string{"history_size": "200", "scorer": "amazon2017_prior"}}
	const runbook = "https://wiki.example.com/alsobought/runbook"
	h := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Status: func() lag.Report { return stalled }, Consumer: cons, Rescorer: rs,
		Instance: instance, RunbookURL: runbook}, ready, reg, zerolog.Nop())
	notReady := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Status: func() lag.Report { return stalled }, Instance: instance,
		RunbookURL: runbook},
		func(context.Context) string { return "redis: dial tcp 10.0.0.5:6379: connection refused" }, reg, zerolog.Nop())
	noMonitor := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{}, ready, reg, zerolog.Nop())
	unsampled, err := lag.New(lag.Config{}, &lag.Sampler{}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	starting := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Status: unsampled.Report}, ready, reg, zerolog.Nop())
	// A reason with markup, as a broker's error message could carry.
	hostile := lag.Report{Status: lag.Unknown, Reason: `cannot sample: <script>alert("x")</script> & more`, Partitions: []lag.PartitionReport{}}
	marked := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Status: func() lag.Report { return hostile }}, ready, reg, zerolog.Nop())
	dead, err := store.New(store.Config{Addrs: []string{env.RedisAddr}, Prefix: env.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	_ = dead.Close()
	down := httpapi.New(httpapi.StoreOf(dead), httpapi.Options{Status: func() lag.Report { return stalled }}, ready, reg, zerolog.Nop())

	tests := []struct {
		name    string
		h       http.Handler
		path    string
		status  int
		invalid bool // the spec rejects the request too
		want    []string
		wantNot []string
	}{
		{name: "which instance, ready", path: "/status", status: 200, want: []string{
			`id="instance" class="group" data-ready="ready"`, `<span class="badge OK">READY</span>`, `version <b>v1.2.3</b>`,
			`commit <b>0123456789ab</b>`, `up <b>1h30m</b>`, `topic <b>shop.events</b>`, `group <b>alsobought</b>`, `prefix <b>ab</b>`,
			`Redis <b>single</b> <code>redis://:xxxxx@10.0.0.5:6379</code>`, `brokers <code>10.0.0.7:9092,10.0.0.8:9092</code>`,
			`<tr data-setting="history_size"><td><code>history_size</code></td><td>200</td></tr>`,
		}, wantNot: []string{`not-ready-reason`, `(not consuming)`}},
		{name: "not ready, and why", h: notReady, path: "/status", status: 200, want: []string{
			`data-ready="not ready"`, `<span class="badge ERR">NOT READY</span>`,
			`<span class="reason" id="not-ready-reason">redis: dial tcp 10.0.0.5:6379: connection refused</span> <a class="runbook" href="` + runbook + `#alsoboughtrediserrors">what to do</a>`,
		}},
		{name: "lag and metrics", path: "/status", status: 200, want: []string{
			`<title>alsobought status: ERR</title>`, `id="group" class="group" data-status="ERR"`,
			`a partition is stalled</span> <a class="runbook" href="` + runbook + `#alsoboughtconsumerstalled">what to do</a>`,
			`members <b>1</b>`, `lag <b>1,342</b> messages`, `window <b>20s</b> over 3 samples`,
			`<tr class="partition" data-partition="0" data-status="OK">`, `<tr class="partition" data-partition="1" data-status="ERR">`,
			`<td class="n">1m35s</td>`, `<td class="n">46600</td>`,
			`<td>events consumed</td>`, `<td class="n">1,200</td>`, `<td class="n">1,180</td>`, `<td class="n">340</td>`,
			// Since start (the recent window began after these lists).
			`<td class="n">0.31 s</td></tr>`, `<td class="n">&gt; 6m49s</td></tr>`, `<td class="n">11</td></tr>`,
			`<span class="badge UNKNOWN">NO DATA</span>`, `failed Redis calls`,
			`<span data-reason="invalid_json" class="reason">invalid_json <b>2</b></span>`, `<span data-reason="too_large">too_large <b>0</b></span>`,
			`<tr data-work="popular"><td>popularity lists recomputed</td><td class="n">`,
			`<td>every list re-scored (every 1h00m, by one instance)</td><td class="n"><span class="none">not by this instance yet</span></td>`,
			`<tr data-work="feed"><td>change feed</td><td class="n">4 waiting, oldest 1.5 s; last published `,
			`<td>failed feed publications</td>`,
			`<td class="n">17</td>`, `<td class="n">2.5 s</td>`,
		}, wantNot: []string{`id="related"`, `id="recommendations"`, `id="lookup-error"`}},
		{name: "item lookup, every list", path: "/status?item=tv", status: 200, want: []string{
			`data-list="bought"`, `data-list="viewed"`, `data-list="viewed_bought"`, `<tr data-item="radio">`, `viewed_then_bought, computed`,
		}},
		{name: "item lookup, one list, as the form sends it", path: "/status?item=milk&list=bought&customer=&k=", status: 200, want: []string{
			`data-list="bought"`, `<tr data-item="bread">`, `<option value="bought" selected>`,
		}, wantNot: []string{`data-list="viewed"`, `id="recommendations"`}},
		{name: "item lookup, an id to escape", path: "/status?item=hat%2Fred&list=all", status: 200, want: []string{
			`<a href="?item=scarf%2bwool">scarf&#43;wool</a>`, `value="hat/red"`,
		}},
		{name: "item without a list", path: "/status?item=caviar", status: 200, want: []string{`No list yet.`}},
		{name: "customer lookup", path: "/status?customer=me&k=2", status: 200, want: []string{
			`data-customer="me" data-known="true"`, `<tr data-item="bread" data-reason="bought" data-owned="false">`,
			`because you bought <a href="?item=milk">milk</a>`, `<tr data-item="pen" data-reason="popular" data-owned="false">`,
		}},
		{name: "unknown customer", path: "/status?customer=stranger&k=1", status: 200, want: []string{`data-known="false"`, `data-item="pen"`}},
		{name: "both lookups", path: "/status?item=tea&customer=w%2F3", status: 200, want: []string{`id="related"`, `data-customer="w/3"`}},
		{name: "bad item id", path: "/status?item=mi%7Blk", status: 400, invalid: true, want: []string{
			`id="lookup-error" data-code="400">item id: `, `data-partition="1"`,
		}, wantNot: []string{`id="related"`}},
		{name: "bad customer id", path: "/status?item=milk&customer=m%20e", status: 400, invalid: true, want: []string{`customer id: `}, wantNot: []string{`id="related"`}},
		{name: "unknown list", path: "/status?item=milk&list=wished", status: 400, invalid: true, want: []string{`list: unknown list &#34;wished&#34;`}},
		{name: "k too large", path: "/status?item=milk&k=101", status: 400, invalid: true, want: []string{`k must be an integer from 1 to 100`}},
		{name: "too many excluded", path: "/status?customer=me&exclude=" + strings.TrimSuffix(strings.Repeat("x,", 51), ","), status: 400, invalid: true,
			want: []string{`exclude: at most 50 item ids`}},
		{name: "redis down", h: down, path: "/status?customer=me", status: 503, want: []string{
			`data-code="503">state store unavailable`, `data-partition="1" data-status="ERR"`,
		}},
		{name: "redis down, no lookup", h: down, path: "/status", status: 200},
		{name: "no lag monitor", h: noMonitor, path: "/status", status: 200, want: []string{
			`runs no lag monitor`, `title="not exported by this process"`, `Not exported by this process.`,
		}, wantNot: []string{`data-partition`}},
		{name: "before the first sample", h: starting, path: "/status", status: 200, want: []string{
			`data-status="UNKNOWN"`, `not sampled yet`, `evaluated never`, `No partition sampled yet.`,
		}},
		{name: "markup is escaped", h: marked, path: "/status?item=milk", status: 200, want: []string{
			`cannot sample: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more`,
		}, wantNot: []string{`<script>`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			handler := tc.h
			if handler == nil {
				handler = h
			}
			rec := specGet(t, router, handler, tc.path, nil, tc.invalid, tc.status)
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Fatalf("content type %q", ct)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			body := rec.Body.String()
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %s", w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(body, w) {
					t.Errorf("the page has %s", w)
				}
			}
			if t.Failed() {
				t.Logf("the page:\n%s", body)
			}
		})
	}

	t.Run("recent figures are right on the first view", func(t *testing.T) {
		// A handler of its own: its recent window starts when it is built.
		live := newLiveRescorer()
		errs := obs.NewErrors(prometheus.NewRegistry())
		h := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Consumer: cons, Rescorer: live, Errors: errs,
			Status: func() lag.Report { return stalled }, RunbookURL: runbook}, ready, reg, zerolog.Nop())
		get := func() string {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
			return rec.Body.String()
		}
		before := cons.consumed.Load()
		time.Sleep(1100 * time.Millisecond)
		cons.consumed.Add(220)
		errs.Redis()
		for range 20 {
			live.h.Observe(45) // every list 45 s late: over the 30 s objective
		}
		first := get()
		m := regexp.MustCompile(`(?s)<td>events consumed</td>\s*<td class="n">([\d,]+)</td><td class="n">([\d,]+)</td><td class="n">([\d.]+)</td>`).FindStringSubmatch(first)
		if m == nil || m[1] != formatThousands(before+220) || m[2] != "220" {
			t.Fatalf("events consumed: %q in\n%s", m, first)
		}
		var rate float64
		if _, err := fmt.Sscan(m[3], &rate); err != nil || rate < 20 || rate > 200 {
			t.Fatalf("220 events over at least 1.1 s: rate %s", m[3])
		}
		if !regexp.MustCompile(`(?s)<td>failed Redis calls <a [^>]*>what to do</a></td>\s*<td class="n">1</td><td class="n">1</td>`).MatchString(first) {
			t.Errorf("the failed Redis call is not shown:\n%s", first)
		}
		if !strings.Contains(first, `data-objective="OVER"`) || !strings.Contains(first, `<span class="badge ERR">OVER</span>`) ||
			!strings.Contains(first, `<a class="runbook" href="`+runbook+`#alsoboughtfreshnessobjective">what to do</a>`) {
			t.Errorf("p95 45 s over the last minutes is not shown over the objective, with what to do:\n%s", first)
		}
		if !strings.Contains(first, `<td>failed Redis calls <a class="runbook" href="`+runbook+`#alsoboughtrediserrors">what to do</a></td>`) ||
			strings.Contains(first, `failed Kafka calls <a`) {
			t.Errorf("the failed Redis call, and only it, should link its runbook section:\n%s", first)
		}
		if !regexp.MustCompile(`Recent and per second: over the last \d+\.\d s, since \d\d:\d\d:\d\d UTC`).MatchString(first) {
			t.Fatalf("the window is not said:\n%s", first)
		}
		// The same figures in GET /v1/status.
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
		for _, want := range []string{`"alsobought_events_consumed_total":`, `"alsobought_redis_errors_total":`, `"freshness_objective":"OVER"`} {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("/v1/status lacks %s: %s", want, rec.Body.String())
			}
		}
	})
}

// TestStatusPageSaysZeroForTheCountersOfAServeThatDoesNotConsume: a serve
// with -consume=false registers the consumer's counters all the same, at 0
// and with every dead-letter reason, so /metrics exports them. The status
// page and /v1/status say 0 for them too, and list the dead letters by
// reason: "–" would read as "unknown" where the truth is "none". A counter
// the process does not export at all keeps its "–". /v1/status's totals
// since start and dead letters by reason say the same. It needs no service.
func TestStatusPageSaysZeroForTheCountersOfAServeThatDoesNotConsume(t *testing.T) {
	reg := prometheus.NewRegistry()
	consumer.NewMetrics(reg) // as serve registers them, consuming or not
	h := httpapi.New(httpapi.Store{}, httpapi.Options{Status: func() lag.Report { return lag.Report{Status: lag.OK} }},
		func(context.Context) string { return "" }, reg, zerolog.Nop())
	get := func(path string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	time.Sleep(1100 * time.Millisecond) // a recent window of a second at least, for the rates
	registered := []string{"alsobought_events_consumed_total", "alsobought_events_applied_total", "alsobought_events_dead_lettered_total"}

	page := get("/status")
	for _, name := range registered {
		zeros := regexp.MustCompile(`<tr data-metric="` + name + `"><td>[^<]*</td>\s*<td class="n">0</td><td class="n">0</td><td class="n">0\.0</td>`)
		if !zeros.MatchString(page) {
			t.Errorf("%s is registered at 0: the page should say 0 since start, 0 recent, 0.0 per second:\n%s", name, page)
		}
	}
	for _, r := range event.Reasons() {
		if want := fmt.Sprintf(`<span data-reason="%s">%s <b>0</b></span>`, r, r); !strings.Contains(page, want) {
			t.Errorf("the dead letters by reason lack %s", want)
		}
	}
	if !regexp.MustCompile(`<tr data-metric="alsobought_items_rescored_total"><td>[^<]*</td>\s*<td class="n none" title="not exported by this process">`).MatchString(page) {
		t.Errorf("lists re-scored is exported by no component and no metric: the page should say so:\n%s", page)
	}

	var status statusBody
	body := get("/v1/status")
	if err := json.Unmarshal([]byte(body), &status); err != nil {
		t.Fatal(err)
	}
	for _, name := range registered {
		if rate, ok := status.Recent.Rates[name]; !ok || rate != 0 {
			t.Errorf("/v1/status: the rate of %s is %v (present: %v), want 0: %s", name, rate, ok, body)
		}
	}
	if rate, ok := status.Recent.Rates["alsobought_items_rescored_total"]; ok {
		t.Errorf("/v1/status gives a rate of %v for lists re-scored, which the process does not export", rate)
	}
	for _, name := range registered {
		if total, ok := status.SinceStart.Totals[name]; !ok || total != 0 {
			t.Errorf("/v1/status: since_start.totals[%s] is %v (present: %v), want 0: %s", name, total, ok, body)
		}
	}
	if total, ok := status.SinceStart.Totals["alsobought_items_rescored_total"]; ok {
		t.Errorf("/v1/status gives a total of %v for lists re-scored, which the process does not export", total)
	}
	for _, r := range event.Reasons() {
		if n, ok := status.SinceStart.DeadLetters[string(r)]; !ok || n != 0 {
			t.Errorf("/v1/status: dead_letters_by_reason[%s] is %d (present: %v), want 0: %s", r, n, ok, body)
		}
	}
}

// liveRescorer is a re-scorer whose freshness histogram a test observes
// into, with the re-scorer's own buckets.
type liveRescorer struct{ h prometheus.Histogram }

func newLiveRescorer() liveRescorer {
	return liveRescorer{h: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "freshness", Buckets: rescore.FreshnessBuckets()})}
}

func (r liveRescorer) Stats() rescore.Stats {
	var m dto.Metric
	_ = r.h.Write(&m)
	return rescore.Stats{Freshness: m.GetHistogram()}
}

// formatThousands writes n as the page does: 1,234.
func formatThousands(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestStatusPageInBrowser renders GET /status in headless Chromium (Debian's
// chromium; deploy/local/ensure-chromium.sh, run by make test, installs
// it), served on a real listener from a real store, and checks the DOM the
// browser built: the partition rows, the statuses, the related items and
// the recommendations with their reasons; that the links of a lookup lead
// to the right page; and that a screenshot is a real picture.
func TestStatusPageInBrowser(t *testing.T) {
	browser := newChromium(t)
	env := testenv.NewRedis(t)
	statusShop(t, env.Store)
	report := lagReport(time.Now().Add(-2 * time.Second))
	instance := &httpapi.Instance{Version: "v1.2.3", Commit: "0123456789ab", GoVersion: "go1.26.0", Started: time.Now().Add(-2 * time.Hour),
		Consuming: true, Topic: "shop.events", Group: "alsobought", Prefix: "ab", RedisMode: "cluster", RedisAddrs: "10.0.0.5:6379,10.0.0.6:6379",
		Brokers: []string{"10.0.0.7:9092"}, Recorded: map[string]string{"history_size": "200"}}
	srv := httptest.NewServer(httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Status: func() lag.Report { return report },
		Consumer: newStatusConsumer(), Rescorer: newStatusRescorer(), Instance: instance},
		func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop()))
	t.Cleanup(srv.Close)
	start := time.Now()

	dom := browser.dumpDOM(t, srv.URL+"/status")
	rows := regexp.MustCompile(`<tr class="partition" data-partition="(\d+)" data-status="(\w+)">`).FindAllStringSubmatch(dom, -1)
	if len(rows) != 2 || rows[0][1] != "0" || rows[0][2] != "OK" || rows[1][1] != "1" || rows[1][2] != "ERR" {
		t.Fatalf("partition rows %q, want 0 OK and 1 ERR:\n%s", rows, dom)
	}
	for _, want := range []string{
		"alsobought status: ERR", "a partition is stalled", "stalled: 1330 messages wait and the committed offset has not moved in the window",
		"consuming", "1m35s", "events consumed 1,200 0", "p50 – 0.31 s", "p95 – > 6m49s", "NO DATA objective: p95 over the last 5 minutes at most 30.0 s", "items waiting to be re-scored 17",
		"READY version v1.2.3", "up 2h00m", "topic shop.events", "Redis cluster 10.0.0.5:6379,10.0.0.6:6379",
	} {
		if !strings.Contains(text(dom), want) {
			t.Errorf("the page does not say %q:\n%s", want, text(dom))
		}
	}
	if strings.Contains(dom, `id="related"`) || strings.Contains(dom, `id="recommendations"`) {
		t.Errorf("a lookup is shown without one being asked for")
	}

	dom = browser.dumpDOM(t, srv.URL+"/status?item=tv&list=all")
	for list, want := range map[string]string{"bought": "No list yet.", "viewed": `data-item="radio"`, "viewed_bought": `data-item="radio"`} {
		card := between(dom, `data-list="`+list+`"`, `</div>`)
		if !strings.Contains(card, want) {
			t.Errorf("the %s list of tv lacks %s: %q", list, want, card)
		}
	}

	dom = browser.dumpDOM(t, srv.URL+"/status?customer=me&k=3")
	recs := regexp.MustCompile(`<tr data-item="([^"]+)" data-reason="(\w+)" data-owned="(true|false)">`).FindAllStringSubmatch(dom, -1)
	if len(recs) != 3 || recs[0][1] != "bread" || recs[0][2] != "bought" || recs[2][2] != "popular" {
		t.Fatalf("recommendations %q, want bread (bought) first and popular back-fill:\n%s", recs, dom)
	}
	section := text(between(dom, `id="recommendations"`, `</section>`))
	for _, want := range []string{"Recommendations for customer me", "1 bread 0.622 because you bought milk", "pen 0.147 popular"} {
		if !strings.Contains(section, want) {
			t.Errorf("the recommendations do not say %q: %s", want, section)
		}
	}

	// Follow the link of an item whose id needs escaping, as a click would.
	dom = browser.dumpDOM(t, srv.URL+"/status?item=hat%2Fred&list=bought")
	m := regexp.MustCompile(`<tr data-item="scarf\+wool">.*?<a href="([^"]+)">`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no link to scarf+wool in the bought list of hat/red:\n%s", dom)
	}
	base, _ := url.Parse(srv.URL + "/status?item=hat%2Fred&list=bought")
	link, err := base.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	dom = browser.dumpDOM(t, link.String())
	if !strings.Contains(dom, `id="related" data-item="scarf+wool"`) || !strings.Contains(between(dom, `data-list="bought"`, `</div>`), `data-item="hat/red"`) {
		t.Fatalf("the link %s does not lead to the lists of scarf+wool:\n%s", link, dom)
	}

	dom = browser.dumpDOM(t, srv.URL+"/status?customer=m%7Be")
	if e := text(between(dom, `id="lookup-error"`, `</p>`)); !strings.Contains(e, "customer id: ") || !strings.Contains(dom, `data-partition="1"`) {
		t.Fatalf("a bad customer id: the page should say why and still show the lag: %q\n%s", e, dom)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	browser.screenshot(t, srv.URL+"/status?item=milk&customer=me", shot, 1200, 900)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Fatalf("screenshot of %v, want 1200x900", b)
	}
	// Something is drawn: the badges are coloured and the text is dark.
	colours := map[uint32]bool{}
	for y := 0; y < 900; y += 3 {
		for x := 0; x < 1200; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[r>>12<<8|g>>12<<4|b>>12] = true
		}
	}
	if len(colours) < 20 {
		t.Fatalf("the screenshot has %d colours: a blank page?", len(colours))
	}
	t.Logf("%d pages rendered by %s in %s", browser.Runs, browser.Version, time.Since(start).Round(10*time.Millisecond))
}

// chromium renders the status page in headless Chromium (testenv.Chromium).
type chromium struct{ *testenv.Chromium }

func newChromium(t *testing.T) chromium { return chromium{testenv.NewChromium(t)} }

// dumpDOM returns the DOM of the status page at u, serialized after it loaded.
func (c chromium) dumpDOM(t *testing.T, u string) string {
	t.Helper()
	dom := c.DumpDOM(t, u)
	if !strings.Contains(dom, "<h1>alsobought status</h1>") {
		t.Fatalf("%s: not the status page:\n%s", u, dom)
	}
	return dom
}

func (c chromium) screenshot(t *testing.T, u, file string, w, h int) { c.Screenshot(t, u, file, w, h) }

// text is the text of HTML (testenv.HTMLText).
func text(html string) string { return testenv.HTMLText(html) }

// between is testenv.HTMLBetween.
func between(s, from, to string) string { return testenv.HTMLBetween(s, from, to) }
