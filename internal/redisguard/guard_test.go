package redisguard_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/redisguard"
	"github.com/alsobought/alsobought/internal/testenv"
)

// privateRedis is a redis-server of this test alone (these tests change
// its settings and fill it until it evicts), with a client on it.
func privateRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := testenv.PrivateRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func configSet(t *testing.T, rdb *redis.Client, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if err := rdb.ConfigSet(context.Background(), kv[i], kv[i+1]).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %s: %v", kv[i], kv[i+1], err)
		}
	}
}

// EvictSome lets rdb evict (a small maxmemory, allkeys-lru) and writes
// until it has evicted keys. It returns the keys evicted meanwhile.
func EvictSome(t testing.TB, rdb *redis.Client) int64 {
	t.Helper()
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "4mb").Err(); err != nil {
		t.Fatal(err)
	}
	before := evicted(t, rdb)
	value := strings.Repeat("x", 10_000)
	for round := 0; round < 200; round++ { // 200 rounds of 100 keys: 200 MB, far above 4 MB
		pipe := rdb.Pipeline()
		for i := 0; i < 100; i++ {
			pipe.Set(ctx, fmt.Sprintf("filler:%d:%d", round, i), value, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("fill: %v", err)
		}
		if n := evicted(t, rdb); n > before {
			return n - before
		}
	}
	t.Fatal("no key evicted after writing 200 MB into 4 MB under allkeys-lru")
	return 0
}

func evicted(t testing.TB, rdb *redis.Client) int64 {
	t.Helper()
	m, err := redisguard.EvictedKeys(context.Background(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	return m[rdb.Options().Addr].Evicted
}

func newGuard(t *testing.T, rdb redis.UniversalClient) (*redisguard.Guard, *prometheus.Registry, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	g, err := redisguard.New(redisguard.Config{Interval: time.Second}, rdb, zerolog.New(&logs), reg)
	if err != nil {
		t.Fatal(err)
	}
	return g, reg, &logs
}

func gauge(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i, l := range m.GetLabel() {
				if i*2+1 >= len(labels) || l.GetName() != labels[i*2] || l.GetValue() != labels[i*2+1] {
					continue metrics
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func TestStartRefusesAMaxmemoryPolicyThatEvicts(t *testing.T) {
	rdb := privateRedis(t)
	ctx := context.Background()

	g, _, _ := newGuard(t, rdb)
	if err := g.Start(ctx); err != nil {
		t.Fatalf("noeviction (up.sh's setting): %v", err)
	}

	for _, policy := range []string{"allkeys-lru", "volatile-ttl"} {
		configSet(t, rdb, "maxmemory-policy", policy)
		g, _, _ := newGuard(t, rdb)
		err := g.Start(ctx)
		var unsafe *redisguard.UnsafeError
		if !errors.As(err, &unsafe) {
			t.Fatalf("%s: Start gave %v, want an *UnsafeError", policy, err)
		}
		for _, want := range []string{rdb.Options().Addr, "maxmemory-policy " + policy, "CONFIG SET maxmemory-policy noeviction"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the refusal %q does not say %q", policy, err, want)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("the refusal is not one line: %q", err)
		}
	}
}

func TestEvictionsAfterStartMakeTheGuardNotReady(t *testing.T) {
	rdb := privateRedis(t)
	ctx := context.Background()
	g, reg, logs := newGuard(t, rdb)
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	g.Observe(ctx)
	if r := g.NotReady(); r != "" {
		t.Fatalf("ready before any eviction, got %q", r)
	}
	if v := gauge(t, reg, "alsobought_redis_evicted_keys_since_start"); v != 0 {
		t.Fatalf("evicted keys since start before any eviction: %v", v)
	}

	n := EvictSome(t, rdb) // the policy is switched after start, as an operator might
	g.Observe(ctx)
	r := g.NotReady()
	if !strings.Contains(r, "evicted") || !strings.Contains(r, "noeviction") {
		t.Errorf("after %d evictions the guard says %q, want the evictions and the fix", n, r)
	}
	if v := gauge(t, reg, "alsobought_redis_evicted_keys_since_start"); v < float64(n) {
		t.Errorf("alsobought_redis_evicted_keys_since_start = %v, want at least %d", v, n)
	}
	if v := gauge(t, reg, "alsobought_redis_unsafe_settings", "setting", "maxmemory_policy"); v != 1 {
		t.Errorf("unsafe maxmemory_policy masters = %v, want 1", v)
	}
	for _, want := range []string{"Redis evicted keys since start", "maxmemory-policy is not noeviction"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	}

	// Back to noeviction: what was evicted is still lost, so the service
	// stays not ready until it restarts over a rebuilt state.
	configSet(t, rdb, "maxmemory-policy", "noeviction")
	g.Observe(ctx)
	if g.NotReady() == "" {
		t.Error("ready again once the policy was fixed: the evicted keys are still missing")
	}
	if v := gauge(t, reg, "alsobought_redis_unsafe_settings", "setting", "maxmemory_policy"); v != 0 {
		t.Errorf("unsafe maxmemory_policy masters after the fix = %v, want 0", v)
	}
}

func TestEvictionsCountAcrossARedisRestart(t *testing.T) {
	srv := testenv.PrivateRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	ev, err := redisguard.NewEvictions(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	first := EvictSome(t, rdb)
	if n, err := ev.Since(ctx); err != nil || n != first {
		t.Fatalf("Since = %d, %v; want %d", n, err, first)
	}
	// A restarted Redis counts evicted_keys from 0 again: what follows
	// adds up, even when it is fewer than before the restart.
	srv.Kill()
	srv.Start()
	second := EvictSome(t, rdb)
	if n, err := ev.Since(ctx); err != nil || n != first+second {
		t.Fatalf("Since = %d, %v; want %d + %d", n, err, first, second)
	}
	if err := ev.Error(ctx); !errors.Is(err, redisguard.ErrEvicted) || !strings.Contains(err.Error(), "noeviction") {
		t.Errorf("Error = %v, want ErrEvicted with the fix", err)
	}
}

func TestPersistenceOffIsReportedOnce(t *testing.T) {
	rdb := privateRedis(t)
	ctx := context.Background()
	g, reg, logs := newGuard(t, rdb)
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if v := gauge(t, reg, "alsobought_redis_unsafe_settings", "setting", "persistence"); v != 0 {
		t.Fatalf("AOF on (up.sh's setting), yet %v masters without persistence", v)
	}
	configSet(t, rdb, "appendonly", "no", "save", "")
	g.Observe(ctx)
	g.Observe(ctx)
	if v := gauge(t, reg, "alsobought_redis_unsafe_settings", "setting", "persistence"); v != 1 {
		t.Errorf("masters without persistence = %v, want 1", v)
	}
	if c := strings.Count(logs.String(), "persistence is off"); c != 1 {
		t.Errorf("the warning was logged %d times, want once:\n%s", c, logs)
	}
	if g.NotReady() != "" {
		t.Errorf("persistence off makes the service not ready: %q", g.NotReady())
	}
	// RDB snapshots alone keep the promise (docs/guarantees.md).
	configSet(t, rdb, "save", "3600 1")
	g.Observe(ctx)
	if v := gauge(t, reg, "alsobought_redis_unsafe_settings", "setting", "persistence"); v != 0 {
		t.Errorf("RDB snapshots on, yet %v masters without persistence", v)
	}
}

// A managed Redis often forbids CONFIG: the guard says so once, does not
// refuse, and still watches evictions where INFO is allowed.
func TestARedisThatRefusesConfigIsReportedNotRefused(t *testing.T) {
	admin := privateRedis(t)
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "app", "on", ">secret", "~*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: admin.Options().Addr, Username: "app", Password: "secret"})
	t.Cleanup(func() { rdb.Close() })
	if _, err := redisguard.ReadSettings(ctx, rdb); !errors.As(err, new(*redisguard.Denied)) {
		t.Fatalf("ReadSettings without CONFIG: %v, want a *Denied", err)
	}

	g, reg, logs := newGuard(t, rdb)
	if err := g.Start(ctx); err != nil {
		t.Fatalf("Start refused a Redis it cannot check: %v", err)
	}
	g.Observe(ctx)
	if c := strings.Count(logs.String(), "refuses CONFIG GET"); c != 1 {
		t.Errorf("the refusal of CONFIG was logged %d times, want once:\n%s", c, logs)
	}
	if v := gauge(t, reg, "alsobought_redis_settings_unchecked"); v != 1 {
		t.Errorf("alsobought_redis_settings_unchecked = %v, want 1", v)
	}
	EvictSome(t, admin)
	g.Observe(ctx)
	if !strings.Contains(g.NotReady(), "evicted") {
		t.Errorf("evictions not seen through INFO: %q", g.NotReady())
	}
}

// In a cluster every master is read; the local cluster (cluster-up.sh)
// runs noeviction with AOF on each. Read-only on the shared cluster.
func TestSettingsOfEveryClusterMaster(t *testing.T) {
	seeds := testenv.Setting(t, "ALSOBOUGHT_REDIS_CLUSTER_ADDRS")
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(seeds, ",")})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	settings, err := redisguard.ReadSettings(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if len(settings) != 3 {
		t.Fatalf("%d masters read, want the 3 of cluster-up.sh: %+v", len(settings), settings)
	}
	for _, s := range settings {
		if s.Evicts() || !s.Persistent() {
			t.Errorf("master %+v: want noeviction and persistence", s)
		}
	}
	keys, err := redisguard.EvictedKeys(ctx, rdb)
	if err != nil || len(keys) != 3 {
		t.Fatalf("evicted keys of every master: %v, %v", keys, err)
	}
	g, reg, _ := newGuard(t, rdb)
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	g.Observe(ctx)
	for _, setting := range []string{"maxmemory_policy", "persistence"} {
		if v := gauge(t, reg, "alsobought_redis_unsafe_settings", "setting", setting); v != 0 {
			t.Errorf("%v masters with an unsafe %s", v, setting)
		}
	}
	if r := g.NotReady(); r != "" {
		t.Errorf("not ready on a safe cluster: %q", r)
	}
}

// failoverClient is a client of the master that the sentinel at sentinel
// names, as the store builds it in sentinel mode.
func failoverClient(t *testing.T, sentinel, master string) *redis.Client {
	t.Helper()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: master, SentinelAddrs: []string{sentinel}})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// In sentinel mode the master the sentinel names is read, and named by its
// own address (go-redis calls every sentinel-mode client "FailoverClient").
// The local sentinel's data nodes (sentinel-up.sh) run noeviction with AOF.
// Read-only on the shared sentinel.
func TestSettingsOfTheSentinelMaster(t *testing.T) {
	sentinel := testenv.Setting(t, "ALSOBOUGHT_REDIS_SENTINEL_ADDRS")
	name := testenv.Setting(t, "ALSOBOUGHT_REDIS_SENTINEL_MASTER")
	rdb := failoverClient(t, sentinel, name)
	ctx := context.Background()
	master := testenv.SentinelMaster(ctx, t, sentinel, name)
	settings, err := redisguard.ReadSettings(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	if len(settings) != 1 || settings[0].Addr != master || settings[0].Evicts() || !settings[0].Persistent() {
		t.Fatalf("settings %+v: want those of the master %s, noeviction and persistence", settings, master)
	}
	keys, err := redisguard.EvictedKeys(ctx, rdb)
	if _, ok := keys[master]; err != nil || len(keys) != 1 || !ok {
		t.Fatalf("evicted keys of the master %s: %v, %v", master, keys, err)
	}
	g, _, _ := newGuard(t, rdb)
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	g.Observe(ctx)
	if r := g.NotReady(); r != "" {
		t.Errorf("not ready on a safe sentinel master: %q", r)
	}
}

// A sentinel-mode master whose policy evicts is refused at start-up like a
// single Redis, the message naming the master's address. On a Redis with
// Sentinel of the test's own, whose settings it changes.
func TestSentinelMasterThatEvictsIsRefused(t *testing.T) {
	t.Parallel()
	sentinel := testenv.PrivateSentinel(t)
	ctx := context.Background()
	master := testenv.SentinelMaster(ctx, t, sentinel.Addr, testenv.PrivateSentinelMaster)
	direct := redis.NewClient(&redis.Options{Addr: master})
	t.Cleanup(func() { direct.Close() })
	configSet(t, direct, "maxmemory-policy", "allkeys-lru")
	g, _, _ := newGuard(t, failoverClient(t, sentinel.Addr, testenv.PrivateSentinelMaster))
	err := g.Start(ctx)
	var unsafe *redisguard.UnsafeError
	if !errors.As(err, &unsafe) || unsafe.Settings.Addr != master || !strings.Contains(err.Error(), master) {
		t.Fatalf("want an UnsafeError naming the master %s, got %v", master, err)
	}
}
