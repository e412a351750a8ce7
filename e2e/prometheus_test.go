package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
)

// TestLagAlertFiresAndResolves runs a real Prometheus server (Debian
// package) with the project's alert rules, scraping a serve process that
// reports the lag status without consuming (-consume=false), next to a
// serve that consumes. Stopping the consumer while events keep coming makes
// AlsoboughtNoGroupMembers fire; starting it again resolves it. The rules
// are those of deploy/prometheus/alerts.yml with their `for` durations
// shortened to seconds.
func TestLagAlertFiresAndResolves(t *testing.T) {
	t.Parallel()
	testenv.Integration(t, "prometheus, Kafka and Redis")
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		testenv.Need(t, "needs prometheus: deploy/prometheus/check.sh (run by make test) installs the Debian package")
	}
	env := testenv.New(t, 2)
	stream := newChaosStream(t, 4000)
	fast := []string{"-lag-interval", "1s", "-lag-samples", "3"}
	monitorCfg := env.ServeConfig(20)
	monitorCfg.Args = append([]string{"-consume=false"}, fast...)
	monitor := testenv.StartServe(t, monitorCfg)
	monitor.WaitReady(chaosReady)
	consumerCfg := env.ServeConfig(20)
	consumerCfg.Args = fast
	cons := testenv.StartServe(t, consumerCfg)
	cons.WaitReady(chaosReady)
	prom := startPrometheus(t, promBin, strings.TrimPrefix(monitor.URL(), "http://"))

	chaosProduce(t, env, stream.evs[:2000])
	waitApplied(t, env)
	checkMetrics(t, filepath.Join(filepath.Dir(promBin), "promtool"), cons.URL()+"/metrics")
	if code, _ := cons.Term(); code != 0 {
		t.Fatalf("consumer exited %d", code)
	}
	chaosProduce(t, env, stream.evs[2000:])
	prom.waitAlert(t, "AlsoboughtNoGroupMembers", true, chaosReady)
	t.Log("the consumer is stopped and events wait: AlsoboughtNoGroupMembers fires")

	cons.Start()
	cons.WaitReady(chaosReady)
	waitApplied(t, env)
	prom.waitAlert(t, "AlsoboughtNoGroupMembers", false, chaosReady)
	t.Log("the consumer is back and caught up: the alert resolved")
}

type promServer struct{ url string }

// startPrometheus runs prometheus with a 1 s scrape and evaluation
// interval on the project's rules, `for` durations cut to 3 s.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := os.ReadFile(testenv.RepoFile("deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	fast := regexp.MustCompile(`(?m)^(\s*for:\s*)\S+`).ReplaceAll(rules, []byte("${1}3s"))
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), fast, 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: alsobought
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})
	p := &promServer{url: "http://" + addr}
	deadline := time.Now().Add(chaosReady)
	for {
		if resp, err := http.Get(p.url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after %s", chaosReady)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitAlert waits until the alert is firing (or no longer active).
func (p *promServer) waitAlert(t *testing.T, name string, firing bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		state := p.alertState(t, name)
		if (firing && state == "firing") || (!firing && state == "") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert %s: state %q after %s, want firing=%v", name, state, timeout, firing)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// alertState returns "firing", "pending" or "" (not active).
func (p *promServer) alertState(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	state := ""
	for _, a := range body.Data.Alerts {
		if a.Labels["alertname"] == name && (state == "" || a.State == "firing") {
			state = a.State
		}
	}
	return state
}

// checkMetrics runs `promtool check metrics` (names, help, units, types)
// on what a running serve exports.
func checkMetrics(t *testing.T, promtool, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = resp.Body
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
