package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

func TestConfigurationErrorsSayWhatToFix(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"history size zero", nil, []string{"serve", "-history-size", "0"}, `-history-size "0": want an integer from 1 to 10000`},
		{"unknown scorer", nil, []string{"serve", "-scorer", "magic"}, "-scorer"},
		{"bad prefix", nil, []string{"serve", "-prefix", "a b"}, "-prefix"},
		{"env var not a number", map[string]string{"ALSOBOUGHT_HISTORY_SIZE": "lots"}, []string{"serve"}, `ALSOBOUGHT_HISTORY_SIZE="lots": want an integer`},
		{"env var not a duration", map[string]string{"ALSOBOUGHT_SWEEP_INTERVAL": "hourly"}, []string{"serve"}, "ALSOBOUGHT_SWEEP_INTERVAL"},
		{"bad min event time", nil, []string{"serve", "-min-event-time", "1990"}, "-min-event-time"},
		{"replay without data", nil, []string{"replay"}, "-data is required"},
		{"unknown format", nil, []string{"replay", "-data", "x", "-format", "parquet"}, "-format"},
		{"related without item", nil, []string{"related"}, "exactly one item id"},
		{"negative dedup window", nil, []string{"serve", "-dedup-window", "-1h"}, "-dedup-window"},
		{"unknown partitioner", map[string]string{"ALSOBOUGHT_KEY_PARTITIONER": "crc32"}, []string{"serve"}, `ALSOBOUGHT_KEY_PARTITIONER="crc32": want murmur2 or none`},
		{"adopt without all", nil, []string{"rescore", "-adopt-list-settings", "i1"}, "needs -all"},
		{"count indexed with items", nil, []string{"rescore", "-count-indexed-co-counts", "i1"}, "runs alone"},
		{"two redis addresses in single mode", map[string]string{"ALSOBOUGHT_REDIS_ADDRS": "127.0.0.1:7001,127.0.0.1:7002"}, []string{"serve"}, "ALSOBOUGHT_REDIS_MODE=cluster"},
		{"unknown redis mode", nil, []string{"serve", "-redis-mode", "replicated"}, "-redis-mode"},
		{"sentinel without a master name", map[string]string{"ALSOBOUGHT_REDIS_SENTINEL_MASTER": ""}, []string{"serve", "-redis-mode", "sentinel"}, "-redis-sentinel-master"},
		{"sentinel URL", nil, []string{"serve", "-redis-mode", "sentinel", "-redis-sentinel-master", "m", "-redis", "redis://:t0p-secret@127.0.0.1:26379"}, "host:port"},
		{"redis URL and another address", nil, []string{"serve", "-redis", "redis://:t0p-secret@127.0.0.1:6379,127.0.0.1:6380"}, `-redis "redis://:xxxxx@127.0.0.1:6379,127.0.0.1:6380"`},
		{"wait replicas in sentinel mode", nil, []string{"serve", "-redis-mode", "sentinel", "-redis-wait-replicas", "-1"}, `-redis-wait-replicas "-1"`},
		{"negative wait replicas", nil, []string{"serve", "-redis-mode", "cluster", "-redis-wait-replicas", "-1"}, `-redis-wait-replicas "-1"`},
		{"eval protocol", nil, []string{"eval", "-data", "x", "-protocol", "visitor"}, "-protocol"},
		{"eval horizon", nil, []string{"eval", "-data", "x", "-horizon", "fortnight"}, "-horizon"},
		{"eval cutoff", nil, []string{"eval", "-data", "x", "-cutoff", "yesterday"}, "-cutoff"},
		{"eval windows", nil, []string{"eval", "-data", "x", "-windows", "0"}, "-windows"},
		{"eval plot format", nil, []string{"eval", "-data", "x", "-plot", "chart.pdf"}, ".svg or .png"},
		{"eval without data", nil, []string{"eval"}, "-data is required"},
		{"operators' port on the API's", nil, []string{"serve", "-http", "127.0.0.1:8080", "-ops-http", "127.0.0.1:8080"}, `-ops-http "127.0.0.1:8080": the operators' port must differ from -http`},
		{"token file missing", nil, []string{"serve", "-api-token-file", "/nonexistent/token"}, `-api-token-file "/nonexistent/token": read the tokens`},
		{"token file empty", nil, []string{"serve", "-api-token-file", os.DevNull}, "the file holds no token"},
		{"token twice", map[string]string{"ALSOBOUGHT_API_TOKEN": "t0p-secret"}, []string{"serve", "-api-token-file", os.DevNull}, "give the token once"},
		{"read timeout zero", nil, []string{"serve", "-http-read-timeout", "0"}, `-http-read-timeout "0": want a duration`},
		{"header limit too small", map[string]string{"ALSOBOUGHT_HTTP_MAX_HEADER_BYTES": "100"}, []string{"serve"}, `ALSOBOUGHT_HTTP_MAX_HEADER_BYTES="100"`},
		{"kafka TLS files with TLS off", nil, []string{"serve", "-kafka-tls-ca", "/ca.pem"}, "turn TLS on (-kafka-tls"},
		{"kafka certificate without key", nil, []string{"serve", "-kafka-tls", "-kafka-tls-cert", "/c.pem"}, "give both files or neither"},
		{"unknown kafka mechanism", nil, []string{"serve", "-kafka-sasl-mechanism", "gssapi"}, `-kafka-sasl-mechanism "gssapi"`},
		{"kafka password twice", map[string]string{"ALSOBOUGHT_KAFKA_PASSWORD": "t0p-secret"},
			[]string{"serve", "-kafka-sasl-mechanism", "scram-sha-512", "-kafka-username", "u", "-kafka-password-file", os.DevNull}, "give the Kafka password once"},
		{"kafka password without mechanism", map[string]string{"ALSOBOUGHT_KAFKA_PASSWORD": "t0p-secret"}, []string{"replay", "-data", "x"}, "-kafka-sasl-mechanism"},
		{"kafka password file missing", nil, []string{"serve", "-kafka-sasl-mechanism", "plain", "-kafka-username", "u",
			"-kafka-password-file", "/nonexistent/password"}, "kafka password file"},
		{"kafka CA missing", nil, []string{"serve", "-kafka-tls", "-kafka-tls-ca", "/nonexistent/ca.pem"}, "kafka TLS CA bundle"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 {
				t.Fatalf("want a usage error (exit 2), got %v", err)
			}
			if !strings.Contains(ee.msg, tc.want) {
				t.Fatalf("message %q does not contain %q", ee.msg, tc.want)
			}
			if strings.Contains(ee.msg, "t0p-secret") {
				t.Fatalf("message %q shows the token", ee.msg)
			}
		})
	}
}

func TestUnreachableRedisStopsStartup(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	err = run(context.Background(), []string{"serve", "-redis", addr}, &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, "cannot reach Redis at "+addr) {
		t.Fatalf("want exit 1 naming the Redis address, got %v", err)
	}
}

func TestUnreachableKafkaStopsStartup(t *testing.T) {
	env := testenv.NewRedis(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	err = run(context.Background(), []string{"serve", "-redis", env.RedisAddr, "-prefix", env.Prefix, "-brokers", addr,
		"-http", "127.0.0.1:0"}, &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, "cannot reach Kafka at "+addr) {
		t.Fatalf("want exit 1 naming the Kafka address, got %v", err)
	}
}

func TestStateBuiltWithOtherSettingsStopsStartup(t *testing.T) {
	env := testenv.NewRedis(t)
	ctx := context.Background()
	if err := env.Store.Meta.Ensure(ctx, map[string]string{"history_size": "50"}); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"serve", "-redis", env.RedisAddr, "-prefix", env.Prefix, "-history-size", "200",
		"-http", "127.0.0.1:0"}, &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, `history_size: state has "50", configured "200"`) {
		t.Fatalf("want exit 1 naming the setting, got %v", err)
	}
}

// TestOtherSchemaStopsStartup: a state written in schema version 2 (its
// histories hold no entry times) stops serve with a message naming both
// versions and the upgrade path; a state of a newer version, too, naming
// the way back.
func TestOtherSchemaStopsStartup(t *testing.T) {
	env := testenv.NewRedis(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	defer rdb.Close()
	keys := schema.NewKeys(env.Prefix)
	for _, tc := range []struct {
		version string
		want    []string
	}{
		{"2", []string{"schema version 2", fmt.Sprintf("version %d", schema.Version), "alsobought bootstrap -prefix NEW", "alsobought serve -prefix NEW", "Upgrading the state's schema"}},
		{"4", []string{"schema version 4", fmt.Sprintf("version %d", schema.Version), "Upgrading the state's schema"}}, // before the sharded global keys
		{"99", []string{"schema version 99", "newer", "run the alsobought that wrote it"}},
	} {
		t.Run("schema="+tc.version, func(t *testing.T) {
			// What a schema-2 state holds: its meta record, and histories
			// of bare item ids.
			if err := rdb.HSet(ctx, keys.Meta, schema.MetaSchema, tc.version, schema.MetaHistorySize, "200").Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.HSet(ctx, keys.Customer("c1"), schema.CustomerPurchases, "a|b").Err(); err != nil {
				t.Fatal(err)
			}
			err := run(ctx, []string{"serve", "-redis", env.RedisAddr, "-prefix", env.Prefix, "-http", "127.0.0.1:0"}, &bytes.Buffer{}, &bytes.Buffer{})
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 1 {
				t.Fatalf("want exit 1, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(ee.msg, w) {
					t.Errorf("message %q does not say %q", ee.msg, w)
				}
			}
			// The refusal leaves the old state's record as it was.
			if got, err := rdb.HKeys(ctx, keys.Meta).Result(); err != nil || len(got) != 2 {
				t.Errorf("the refused state's meta now holds %v (%v), want only its own 2 fields", got, err)
			}
		})
	}
}

// TestCommandsEndToEnd runs the commands a user runs, in process, against
// the real services: serve, replay --wait, rescore --all, verify, related.
func TestCommandsEndToEnd(t *testing.T) {
	env := testenv.New(t, 2)
	data := sampleFile(t, 6000)
	common := []string{"-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix,
		"-http", "127.0.0.1:0", "-history-size", "50", "-log-level", "warn"}

	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, append([]string{"serve"}, common...), &bytes.Buffer{}, &bytes.Buffer{}) }()

	mustRun := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append(append(args[:1:1], common...), args[1:]...), &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}
	out := mustRun("replay", "-data", data, "-format", "dunnhumby", "-wait", "-quiet")
	if !strings.Contains(out, "replayed 6000 events") || !strings.Contains(out, "end to end") {
		t.Fatalf("replay output: %s", out)
	}
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve did not stop cleanly: %v", err)
		}
	case <-time.After(2 * time.Minute): // serve bounds its own stop at shutdownTimeout
		t.Fatal("serve did not stop within 2 minutes of cancellation")
	}
	mustRun("rescore", "-all")
	if out := mustRun("verify", "-data", data, "-format", "dunnhumby"); !strings.Contains(out, "OK: Redis matches the oracle") {
		t.Fatalf("verify output: %s", out)
	}
	// A list exists for the best seller of the sample, printed as a table.
	snap, err := env.Store.State.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	best, most := "", int64(0)
	for it, b := range snap.Bought.Buyers {
		if _, ok := snap.Lists[store.Bought][it]; ok && (b > most || b == most && it < best) {
			best, most = it, b
		}
	}
	if best == "" {
		t.Fatal("no item has a related list")
	}
	if out := mustRun("related", best); !strings.Contains(out, "customers who bought "+best+" also bought") {
		t.Fatalf("related output: %s", out)
	}

	// verify fails, with a non-zero exit, when the state differs.
	env.Store.Client().HIncrBy(context.Background(), env.Store.Keys().Buyers(schema.ItemShard(best)), best, 1)
	var vout bytes.Buffer
	err = run(context.Background(), append(append([]string{"verify"}, common...), "-data", data, "-format", "dunnhumby"), &vout, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(vout.String(), "counters:") || !strings.Contains(vout.String(), "1 mismatching") {
		t.Fatalf("verify of a changed state: err %v, output %s", err, vout.String())
	}
}

// sampleFile writes the first n lines of the bundled Dunnhumby sample.
func sampleFile(t *testing.T, n int) string {
	t.Helper()
	f, err := os.Open(testenv.RepoFile("testdata/dunnhumby/transactions.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	if _, err := all.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfterN(all.String(), "\n", n+2)
	path := filepath.Join(t.TempDir(), "sample.csv")
	if err := os.WriteFile(path, []byte(strings.Join(lines[:n+1], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBootstrapThenStream: bootstrap loads the first part of a data set into
// an empty Redis and records the topic's end offsets as progress; events
// published afterwards stream on top, and the result equals the oracle of
// the whole data set (no double count, no gap).
func TestBootstrapThenStream(t *testing.T) {
	env := testenv.New(t, 2)
	common := []string{"-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix,
		"-http", "127.0.0.1:0", "-history-size", "30", "-log-level", "warn"}
	cmd := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append(append(args[:1:1], common...), args[1:]...), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	all := sampleFile(t, 4000)
	first, second := splitCSV(t, all, 2500)

	// Events already on the topic before the bootstrap are covered by the file.
	if out, err := cmd("replay", "-data", first, "-format", "dunnhumby", "-quiet"); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if out, err := cmd("bootstrap", "-data", first, "-format", "dunnhumby"); err != nil || !strings.Contains(out, "bootstrapped") {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	// Progress markers: streaming continues after what the topic held.
	ends, err := kafkaadmin.EndOffsets(context.Background(), env.Kafka(), env.Topic)
	if err != nil {
		t.Fatal(err)
	}
	progress, err := env.Store.Batches.Progress(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for p, end := range ends {
		if end > 0 && progress[p] != end-1 {
			t.Fatalf("partition %d: progress marker %d, want %d (end offset - 1)", p, progress[p], end-1)
		}
	}
	if out, err := cmd("bootstrap", "-data", first, "-format", "dunnhumby"); err == nil || !strings.Contains(err.Error(), "needs an empty state") {
		t.Fatalf("a second bootstrap must refuse: %v\n%s", err, out)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, append([]string{"serve"}, common...), &bytes.Buffer{}, &bytes.Buffer{}) }()
	if out, err := cmd("replay", "-data", second, "-format", "dunnhumby", "-quiet", "-wait"); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if out, err := cmd("rescore", "-all"); err != nil {
		t.Fatalf("rescore: %v\n%s", err, out)
	}
	// The oracle of the whole file equals the bootstrap plus the stream.
	if out, err := cmd("verify", "-data", all, "-format", "dunnhumby"); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// splitCSV splits a Dunnhumby CSV at the event time of its n-th row: rows
// before that time go to the first file, the rest to the second, each in its
// original line order, so replaying the first and then the second gives the
// same per-customer order as the whole file.
func splitCSV(t *testing.T, path string, n int) (string, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimRight(string(b), "\n"), "\n")
	tsOf := func(line string) time.Time {
		f := strings.Split(strings.TrimSpace(line), ",")
		ts, err := time.Parse("2006-01-02T15:04:05-0700", strings.Trim(f[len(f)-1], `"`))
		if err != nil {
			t.Fatalf("timestamp of %q: %v", line, err)
		}
		return ts
	}
	cut := tsOf(lines[n])
	var a, c strings.Builder
	a.WriteString(lines[0])
	c.WriteString(lines[0])
	for _, l := range lines[1:] {
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		if tsOf(l).Before(cut) {
			a.WriteString(l)
		} else {
			c.WriteString(l)
		}
	}
	dir := t.TempDir()
	pa, pc := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	if err := os.WriteFile(pa, []byte(a.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pc, []byte(c.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return pa, pc
}

// TestBootstrapMatchesOracle: a bootstrapped state is the oracle's, lists
// and popularity included (the popularity window's day buckets, anchor and
// item categories are written too).
func TestBootstrapMatchesOracle(t *testing.T) {
	env := testenv.New(t, 2)
	file := testenv.RepoFile("testdata/dunnhumby/transactions.csv.gz")
	common := []string{"-topic", env.Topic, "-prefix", env.Prefix, "-history-size", "50", "-log-level", "warn"}
	for _, args := range [][]string{
		append([]string{"bootstrap", "-data", file, "-format", "dunnhumby"}, common...),
		append([]string{"verify", "-data", file, "-format", "dunnhumby"}, common...),
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err != nil {
			t.Fatalf("%s: %v\n%s", args[0], err, out.String())
		}
		t.Logf("%s: %s", args[0], strings.TrimSpace(out.String()))
	}
	pop, err := env.Store.Popularity.ReadList(context.Background(), store.Bought, "")
	if err != nil || len(pop.Items) == 0 {
		t.Fatalf("no popularity list after bootstrap: %+v, %v", pop, err)
	}
}

// TestBootstrapWithAgeingMatchesOracle: with -history-max-age, bootstrap
// writes the oracle's aged histories with their entry times, verify finds
// the state exact, and the age is part of the state's identity: serve with
// another age refuses it (changing the age means a new state,
// docs/operations.md "Ageing histories").
func TestBootstrapWithAgeingMatchesOracle(t *testing.T) {
	env := testenv.New(t, 2)
	file := testenv.RepoFile("testdata/dunnhumby/transactions.csv.gz")
	common := []string{"-topic", env.Topic, "-prefix", env.Prefix, "-log-level", "warn"}
	aged := append([]string{"-history-max-age", "720h"}, common...)
	for _, args := range [][]string{
		append([]string{"bootstrap", "-data", file, "-format", "dunnhumby"}, aged...),
		append([]string{"verify", "-data", file, "-format", "dunnhumby"}, aged...),
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err != nil {
			t.Fatalf("%s: %v\n%s", args[0], err, out.String())
		}
		t.Logf("%s: %s", args[0], strings.TrimSpace(out.String()))
	}
	err := run(context.Background(), append([]string{"serve", "-http", "127.0.0.1:0"}, common...), &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, `history_max_age_ms: state has "2592000000", configured "0"`) {
		t.Fatalf("want exit 1 naming the age, got %v", err)
	}
}

// TestLagCommand: with events waiting and no consumer, `alsobought lag`
// exits 2 (ERR: no member); once serve has applied everything, it exits 0.
func TestLagCommand(t *testing.T) {
	env := testenv.New(t, 2)
	common := []string{"-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix, "-log-level", "warn"}
	lagNow := func() (int, string) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"lag", "-samples", "2", "-interval", "300ms"}, common...), &out, &out)
		var ee *exitError
		switch {
		case err == nil:
			return 0, out.String()
		case errors.As(err, &ee):
			return ee.code, out.String() + ee.msg
		}
		t.Fatalf("lag: %v", err)
		return -1, ""
	}
	file := sampleFile(t, 1500)
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"replay", "-data", file, "-format", "dunnhumby", "-quiet"}, common...), &out, &out); err != nil {
		t.Fatalf("replay: %v\n%s", err, out.String())
	}
	if code, text := lagNow(); code != 2 || !strings.Contains(text, "no member") {
		t.Fatalf("no consumer and 1500 waiting events: exit %d, want 2 (ERR)\n%s", code, text)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, append([]string{"serve", "-http", "127.0.0.1:0"}, common...), &bytes.Buffer{}, &bytes.Buffer{})
	}()
	defer func() { stop(); <-served }()
	// Generous: 1,500 events take seconds, but a loaded machine may be slow
	// to sample the window the status is judged over.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		code, text := lagNow()
		if code == 0 {
			t.Logf("caught up:\n%s", text)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag still exits %d after five minutes of serve:\n%s", code, text)
		}
	}
}
