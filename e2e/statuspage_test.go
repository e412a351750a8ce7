package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
)

// TestStatusPageOfALiveServeSaysWhatIsWrong renders the status page of a
// live serve in headless Chromium as on-call would open it, in turn with
// its consumer stopped (a serve that only serves, while events wait and the
// group has no member) and with Redis down. Each time the page says which
// instance this is, what is wrong, and links the runbook section of what
// to do. ALSOBOUGHT_SCREENSHOT_DIR, when set, receives the screenshots
// (docs/status-page.png is the first).
func TestStatusPageOfALiveServeSaysWhatIsWrong(t *testing.T) {
	browser := testenv.NewChromium(t)
	redis := testenv.PrivateRedis(t)
	env := testenv.NewOn(t, sharedBrokers(t), redis.Addr, 2)
	cfg := env.ServeConfig(200)
	cfg.Args = []string{"-consume=false", "-lag-interval", "300ms", "-lag-samples", "3"}
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(3 * time.Minute)
	chaosProduce(t, env, testenv.Dunnhumby(t)[:300])

	// page waits until the page's HTML holds want (the lag monitor samples
	// every 300 ms; a loaded machine may take longer), then renders it.
	page := func(want string) string {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			resp, err := http.Get(srv.URL() + "/status")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(body), want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the page does not show %s after 3 minutes:\n%s", want, body)
				}
			} else if time.Now().After(deadline) {
				t.Fatalf("no page after 3 minutes: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		return browser.DumpDOM(t, srv.URL()+"/status")
	}
	shot := func(name string) {
		t.Helper()
		dir := os.Getenv("ALSOBOUGHT_SCREENSHOT_DIR")
		if dir == "" {
			dir = t.TempDir()
		}
		browser.Screenshot(t, srv.URL()+"/status", filepath.Join(dir, name), 1280, 1000)
	}
	const runbook = "https://github.com/alsobought/alsobought/blob/main/docs/runbook.md"

	// The consumer stopped: events wait and the group has no member.
	dom := page(`data-status="ERR"`)
	for _, want := range []string{
		`<span class="badge OK">READY</span>`, `topic <b>` + env.Topic + `</b>`, `group <b>` + env.Group + `</b> (not consuming)`,
		`prefix <b>` + env.Prefix + `</b>`, `Redis <b>single</b> <code>` + redis.Addr + `</code>`,
		`no member in the consumer group while 300 messages wait`, `href="` + runbook + `#alsoboughtnogroupmembers"`,
		`data-metric="alsobought_redis_errors_total"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("consumer stopped: the page lacks %s:\n%s", want, testenv.HTMLText(dom))
		}
	}
	// The recent window, and zeros shown as zeros.
	for _, want := range []string{"Recent and per second: over the last", "failed Redis calls 0 0 0.0", "failed Kafka calls 0 0 0.0",
		"lists re-scored 0 0 0.0", "NO DATA objective: p95 over the last 5 minutes at most 30.0 s"} {
		if !strings.Contains(testenv.HTMLText(dom), want) {
			t.Errorf("consumer stopped: the page does not say %q:\n%s", want, testenv.HTMLText(dom))
		}
	}
	shot("status-page.png")

	// Redis down: not ready, and why.
	redis.Kill()
	dom = page(`#alsoboughtrediserrors">what to do</a></td>`) // not ready, and a failed call counted
	for _, want := range []string{
		`<span class="badge ERR">NOT READY</span>`, `id="not-ready-reason">redis: `, `href="` + runbook + `#alsoboughtrediserrors"`,
		`<td>failed Redis calls <a class="runbook" href="` + runbook + `#alsoboughtrediserrors">what to do</a></td>`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("Redis down: the page lacks %s:\n%s", want, testenv.HTMLText(dom))
		}
	}
	shot("status-page-redis-down.png")
	t.Logf("%d pages rendered by %s", browser.Runs, browser.Version)
}
