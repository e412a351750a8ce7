package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/testenv"
)

func TestBenchFlagErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no data":          {"bench"},
		"data and synth":   {"bench", "-data", "x.csv", "-synthetic", "10"},
		"negative synth":   {"bench", "-synthetic", "-5"},
		"paced load above": {"bench", "-synthetic", "10", "-paced-load", "2"},
		"paced share 1":    {"bench", "-synthetic", "10", "-paced-share", "1"},
		"zero days":        {"bench", "-synthetic", "10", "-synthetic-days", "0"},
		"churn of a file":  {"bench", "-data", "x.csv", "-churn"},
		"turnover alone":   {"bench", "-synthetic", "10", "-item-turnover", "0.1"},
		"turnover of 1":    {"bench", "-synthetic", "10", "-churn", "-item-turnover", "1"},
		"growth and hides": {"bench", "-synthetic", "10", "-sample-every", "24h", "-hides", "3"},
		"growth and inc":   {"bench", "-synthetic", "10", "-sample-every", "24h", "-incremental"},
		"plot, no growth":  {"bench", "-synthetic", "10", "-plot", "g.png"},
		"plot format":      {"bench", "-synthetic", "10", "-sample-every", "24h", "-plot", "g.pdf"},
		"plot nothing":     {"bench", "-plot", "g.png"},
		"reports, no plot": {"bench", "-synthetic", "10", "-sample-every", "24h", "old.json"},
	} {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Fatalf("want a usage error (exit 2), got %v", err)
			}
		})
	}
}

// benchJSON runs `alsobought bench` with the real serve binary as the
// child and returns its JSON object.
func benchJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	brokers := testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS")
	redisAddr := testenv.Setting(t, "ALSOBOUGHT_REDIS_ADDRS")
	all := append([]string{"bench", "-brokers", brokers, "-redis", redisAddr, "-serve-binary", testenv.Binary(t),
		"-json", "-quiet", "-timeout", "5m"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, all, &out, &errOut); err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	var rep map[string]any
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	t.Logf("report: %s", out.String())
	return rep
}

func num(t *testing.T, rep map[string]any, field string) float64 {
	t.Helper()
	v, ok := rep[field].(float64)
	if !ok {
		t.Fatalf("report has no number %q: %v", field, rep)
	}
	return v
}

// assertCleanedUp checks that the run's topic and keys are gone.
func assertCleanedUp(t *testing.T, rep map[string]any) {
	t.Helper()
	topic, _ := rep["topic"].(string)
	prefix, _ := rep["prefix"].(string)
	if topic == "" || prefix == "" {
		t.Fatalf("the report names no scratch topic (%q) or prefix (%q) to check", topic, prefix)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Setting(t, "ALSOBOUGHT_REDIS_ADDRS")})
	defer rdb.Close()
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil || len(keys) > 0 {
		t.Errorf("keys left under %s: %d, first %.10q (%v)", prefix, len(keys), keys, err)
	}
	brokers := strings.Split(testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")
	// Topic deletion is asynchronous in the broker: wait for it a little.
	for deadline := time.Now().Add(time.Minute); ; {
		_, err := kafkaadmin.PartitionCount(ctx, kafkaconn.Plain(brokers...), topic)
		if errors.Is(err, kafka.UnknownTopicOrPartition) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("topic %s still exists after the bench (%v)", topic, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBenchSyntheticReportIsCoherent runs the whole bench on a small
// synthetic stream through the real broker, Redis and a serve process.
// It checks that the report adds up, not how fast anything was.
func TestBenchSyntheticReportIsCoherent(t *testing.T) {
	const n = 3000
	rep := benchJSON(t, "-synthetic", "3000", "-seed", "3")
	for _, f := range []string{"events", "events_per_sec", "redis_cmds_per_event", "freshness_p50_ms", "freshness_p99_ms",
		"redis_bytes_per_event", "consumer_cpu_sec_per_million", "redis_bytes_per_customer", "redis_bytes_per_item"} {
		num(t, rep, f)
	}
	if got := num(t, rep, "events"); got != n {
		t.Errorf("events %v, want %d", got, n)
	}
	if got := num(t, rep, "sustained_events") + num(t, rep, "paced_events"); got != n {
		t.Errorf("sustained + paced events = %v, want %d", got, n)
	}
	if got := num(t, rep, "events_applied"); got != n {
		t.Errorf("serve applied %v events, want %d", got, n)
	}
	for _, f := range []string{"events_per_sec", "redis_cmds_per_event", "redis_bytes_per_event", "consumer_cpu_sec_per_million",
		"redis_bytes_per_customer", "redis_bytes_per_item", "state_changes_per_event", "freshness_samples", "offered_events_per_sec"} {
		if v := num(t, rep, f); !(v > 0) {
			t.Errorf("%s = %v, want > 0", f, v)
		}
	}
	p50, p99 := num(t, rep, "freshness_p50_ms"), num(t, rep, "freshness_p99_ms")
	if !(p50 > 0 && p99 >= p50) {
		t.Errorf("freshness p50 %v ms, p99 %v ms: want 0 < p50 <= p99", p50, p99)
	}
	if num(t, rep, "redis_customer_keys") != num(t, rep, "customers") {
		t.Errorf("%v customer keys for %v customers", rep["redis_customer_keys"], rep["customers"])
	}
	if num(t, rep, "caught_up_seconds") < num(t, rep, "applied_seconds") {
		t.Error("caught up before everything was applied")
	}
	assertCleanedUp(t, rep)
}

func TestBenchIncrementalReportIsCoherent(t *testing.T) {
	rep := benchJSON(t, "-incremental", "-synthetic", "3000", "-synthetic-days", "3")
	if num(t, rep, "history_events")+num(t, rep, "last_day_events") != 3000 {
		t.Errorf("history + last day events = %v + %v, want 3000", rep["history_events"], rep["last_day_events"])
	}
	if last := num(t, rep, "last_day_events"); last < 500 || last > 1500 {
		t.Errorf("last day of 3 holds %v of 3000 events, want about a third", last)
	}
	for _, f := range []string{"batch_seconds", "incremental_seconds", "batch_lists", "wall_ratio", "batch_redis_cmds", "incremental_redis_cmds", "incremental_cpu_seconds"} {
		if v := num(t, rep, f); !(v > 0) {
			t.Errorf("%s = %v, want > 0", f, v)
		}
	}
	// wall_ratio itself is batch_seconds / incremental_seconds, both
	// checked positive above; what the phases measured must be ordered.
	if applied, caught := num(t, rep, "incremental_applied_seconds"), num(t, rep, "incremental_seconds"); !(applied > 0 && applied <= caught) {
		t.Errorf("incremental side applied at %v s and caught up at %v s: want 0 < applied <= caught up", applied, caught)
	}
	if steps := num(t, rep, "batch_build_seconds") + num(t, rep, "batch_write_seconds"); !(steps > 0 && steps < num(t, rep, "batch_seconds")) {
		t.Errorf("batch build and write took %v s of %v s: want a positive part, the re-score the rest", steps, rep["batch_seconds"])
	}
}

// TestBenchGrowthReportIsCoherent runs the growth mode on three days of a
// churning stream: one sample per day, each after everything before its
// boundary was applied, and a chart of the run with an earlier one.
func TestBenchGrowthReportIsCoherent(t *testing.T) {
	dir := t.TempDir()
	chart := filepath.Join(dir, "growth.png")
	rep := benchJSON(t, "-synthetic", "3000", "-synthetic-days", "3", "-churn", "-sample-every", "24h")
	earlier := filepath.Join(dir, "earlier.json")
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(earlier, b, 0o600); err != nil {
		t.Fatal(err)
	}
	samples, _ := rep["samples"].([]any)
	if len(samples) != 3 {
		t.Fatalf("%d samples of 3 days, want 3", len(samples))
	}
	events := 0.0
	for i, x := range samples {
		s := x.(map[string]any)
		if num(t, s, "day") != float64(i+1) || num(t, s, "events") <= events {
			t.Errorf("sample %d: day %v after %v events, want day %d after more than %v", i, s["day"], s["events"], i+1, events)
		}
		events = num(t, s, "events")
		if c, k := num(t, s, "customer_keys"), num(t, s, "keys"); !(c > 0 && k > c+num(t, s, "item_keys")-1 && num(t, s, "redis_state_bytes") > 0) {
			t.Errorf("sample %d: %v customer keys, %v keys, %v item keys, %v bytes: want customers and items among the keys, and bytes", i, c, k, s["item_keys"], s["redis_state_bytes"])
		}
	}
	if events != 3000 || num(t, rep, "events_applied") != 3000 {
		t.Errorf("last sample after %v events, serve applied %v: want all 3000", events, rep["events_applied"])
	}
	if last := samples[2].(map[string]any); num(t, last, "customer_keys") != num(t, rep, "customers") {
		t.Errorf("%v customer keys at the end for %v customers (no ageing)", last["customer_keys"], rep["customers"])
	}
	if rep["label"] != "history-max-age=0 (off)" {
		t.Errorf("label %q", rep["label"])
	}
	assertCleanedUp(t, rep)
	// Drawing saved runs needs no services.
	if err := run(context.Background(), []string{"bench", "-plot", chart, earlier, earlier}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(chart); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Fatalf("no PNG chart at %s (%v)", chart, err)
	}
}
