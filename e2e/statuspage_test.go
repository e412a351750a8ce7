package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/testenv"
)

// TestStatusPageOfALiveServeSaysWhatIsWrong renders the status page of live
// serves in headless Chromium as on-call would open it, in turn: a serve
// that consumes and has caught up; then, after that serve stopped in the
// middle of the stream, a second serve on the same state that only serves
// (-consume=false) while events wait and the group has no member; then the
// second serve with Redis down. Each time the page says which instance this
// is (its Redis password redacted), its readiness and why, the recent
// window beside the totals, zeros as zeros, and links the runbook section
// of what is not OK. ALSOBOUGHT_SCREENSHOT_DIR, when set, receives the
// screenshots (docs/status-page*.png).
func TestStatusPageOfALiveServeSaysWhatIsWrong(t *testing.T) {
	browser := testenv.NewChromium(t)
	private := testenv.PrivateRedis(t)
	env := testenv.NewOn(t, sharedBrokers(t), private.Addr, 2)
	// Redis with a password, given in the URL: the page must not show it.
	const password = "s3cret-on-the-page"
	admin := redis.NewClient(&redis.Options{Addr: private.Addr})
	if err := admin.ConfigSet(context.Background(), "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	redisURL := "redis://:" + password + "@" + private.Addr
	shownRedis := "redis://:xxxxx@" + private.Addr

	cfg := env.ServeConfig(200)
	cfg.RedisAddr = redisURL
	lagArgs := []string{"-lag-interval", "300ms", "-lag-samples", "3"}
	cfg.Args = lagArgs
	consuming := testenv.StartServe(t, cfg)
	cfg.Args = append([]string{"-consume=false"}, lagArgs...)
	replica := testenv.NewServe(t, cfg) // started once the first has stopped
	consuming.WaitReady(3 * time.Minute)

	// missing is the first of wants that html lacks, "" when it has them
	// all: each is a piece of HTML or of the page's text, or a regexp of
	// the text when it starts with "re:".
	missing := func(html string, wants []string) string {
		text := testenv.HTMLText(strings.ReplaceAll(html, "&middot;", "·"))
		for _, want := range wants {
			ok := strings.Contains(html, want) || strings.Contains(text, want)
			if re, isRe := strings.CutPrefix(want, "re:"); isRe {
				ok = regexp.MustCompile(re).MatchString(text)
			}
			if !ok {
				return want
			}
		}
		return ""
	}
	// page waits until srv's page shows every want (the lag monitor samples
	// every 300 ms, rates need a second of process time, and a loaded
	// machine may take much longer), then renders it in Chromium and checks
	// the rendered page again.
	page := func(when string, srv *testenv.Serve, wants ...string) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			resp, err := http.Get(srv.URL() + "/status")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				miss := missing(string(body), wants)
				if miss == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: the page does not show %s after 5 minutes:\n%s", when, miss, testenv.HTMLText(testenv.HTMLBetween(string(body), "<main>", "</main>")))
				}
			} else if time.Now().After(deadline) {
				t.Fatalf("%s: no page after 5 minutes: %v", when, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		dom := browser.DumpDOM(t, srv.URL()+"/status")
		if miss := missing(dom, wants); miss != "" {
			t.Errorf("%s: the page in Chromium lacks %s:\n%s", when, miss, testenv.HTMLText(testenv.HTMLBetween(dom, "<main>", "</main>")))
		}
		if strings.Contains(dom, password) {
			t.Errorf("%s: the page shows the Redis password", when)
		}
		return dom
	}
	shot := func(srv *testenv.Serve, name string) {
		t.Helper()
		dir := os.Getenv("ALSOBOUGHT_SCREENSHOT_DIR")
		if dir == "" {
			dir = t.TempDir()
		}
		// Tall enough for every card, down to Background work.
		browser.Screenshot(t, srv.URL()+"/status", filepath.Join(dir, name), 1280, 2000)
	}
	const runbook = "https://github.com/alsobought/alsobought/blob/main/docs/runbook.md"
	// identity is the instance panel: version, commit, uptime, topic,
	// group, prefix, Redis (redacted) and brokers.
	identity := func(consumingNote string) []string {
		return []string{
			`re:version \S+ · commit ([0-9a-f]{7,}\S*|unknown) · up [0-9][^ ]*( s| ms)? since `,
			`topic <b>` + env.Topic + `</b>`, `group <b>` + env.Group + `</b>` + consumingNote + ` `,
			`prefix <b>` + env.Prefix + `</b>`, `Redis <b>single</b> <code>` + shownRedis + `</code>`,
			`brokers <code>` + strings.Join(env.Brokers, ",") + `</code>`,
		}
	}
	// zeros are the error and dead-letter figures of a process that met
	// none: 0 in every column, and every dead-letter reason at 0.
	zeros := []string{
		"failed Redis calls 0 0 0.0", "failed Kafka calls 0 0 0.0", "failed re-scoring rounds 0 0 0.0",
		"failed feed publications 0 0 0.0", "dead-lettered 0 0 0.0",
		`re:Dead letters since start, by reason: \S+ 0( · \S+ 0)+ \(`,
	}

	// 1. Consuming and caught up. The sample's first events make no
	// candidate (no two customers share two items yet), so no list has
	// anything to re-score; two customers who buy the same two items
	// give two lists, whose freshness the page shows.
	evs := testenv.Dunnhumby(t)[:1496:1496]
	last := evs[len(evs)-1]
	for i, c := range []string{"status-a", "status-a", "status-b", "status-b"} {
		evs = append(evs, event.Event{ID: fmt.Sprintf("status-%d", i), Type: event.Purchase, CustomerID: c,
			ItemID: evs[i%2].ItemID, Time: last.Time.Add(time.Duration(i+1) * time.Second)})
	}
	chaosProduce(t, env, evs)
	dom := page("consuming", consuming, append(identity(""), append(zeros,
		`id="group" class="group" data-status="OK"`, `<td>messages not applied</td><td class="n">0</td>`,
		`<span class="badge OK">READY</span>`, `<b id="own-partitions">0, 1</b>`, `<b>(this instance)</b>`,
		"re:events consumed 1,?500 1,?500 [0-9.]+ events applied 1,?500 1,?500 [0-9.]+",
		"re:lists re-scored [0-9,]+ [0-9,]+ [0-9.]+", "Recent and per second: over the last",
		"OK objective: p95 over the last 5 minutes at most 30.0 s",
		`<tr data-work="feed">`, `id="offsets-note"`)...)...)
	if n := strings.Count(dom, `class="runbook"`); n != 0 {
		t.Errorf("consuming: everything is OK, yet the page links the runbook %d times:\n%s", n, testenv.HTMLText(dom))
	}
	shot(consuming, "status-page.png")

	// 2. The consumer stops mid-run; a serve that does not consume takes
	// over the HTTP side while events wait.
	if code, _ := consuming.Term(); code != 0 {
		t.Fatalf("serve exited %d on SIGTERM", code)
	}
	replica.Start()
	replica.WaitReady(3 * time.Minute)
	chaosProduce(t, env, testenv.Dunnhumby(t)[1500:1700])
	dom = page("consumer stopped", replica, append(identity(" (not consuming)"), append(zeros,
		`<span class="badge OK">READY</span>`, `<span class="badge ERR">ERR</span>`,
		`no member in the consumer group while 200 messages wait</span> <a class="runbook" href="`+runbook+`#alsoboughtnogroupmembers">what to do</a>`,
		"events consumed 0 0 0.0", "events applied 0 0 0.0", "Recent and per second: over the last",
		"<td>messages not consumed</td><td class=\"n\">200</td>",
		`<tr class="partition" data-partition="1" data-status="ERR">`)...)...)
	if strings.Contains(dom, `id="own-partitions"`) || strings.Contains(dom, `id="members"`) {
		t.Errorf("consumer stopped: the page of a serve that does not consume shows owned partitions or members:\n%s", testenv.HTMLText(dom))
	}
	shot(replica, "status-page-consumer-stopped.png")

	// 3. Redis down: not ready, and why.
	private.Kill()
	page("Redis down", replica, append(identity(" (not consuming)"),
		`<span class="badge ERR">NOT READY</span>`, `id="not-ready-reason">redis: `,
		`</span> <a class="runbook" href="`+runbook+`#alsoboughtrediserrors">what to do</a>`,
		`<td>failed Redis calls <a class="runbook" href="`+runbook+`#alsoboughtrediserrors">what to do</a></td>`,
		// The lag monitor reads the applied offsets from Redis too.
		`<span class="reason">cannot sample: read progress: `)...)
	shot(replica, "status-page-redis-down.png")
	t.Logf("%d pages rendered by %s", browser.Runs, browser.Version)
}
