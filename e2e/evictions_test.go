package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/testenv"
)

// An evicting Redis corrupts the state silently (issue 15: 55,767 keys
// evicted during a replay, serve ready, `replay --wait` successful). These
// tests run on a redis-server of their own: they switch its policy and
// fill it until it evicts.

// letItEvict switches a Redis to allkeys-lru with a 4 MB maxmemory.
func letItEvict(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	for _, kv := range [][2]string{{"maxmemory-policy", "allkeys-lru"}, {"maxmemory", "4mb"}} {
		if err := rdb.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %s: %v", kv[0], kv[1], err)
		}
	}
}

// keepEvicting writes filler keys into rdb (which letItEvict let evict)
// until the test ends, so Redis keeps evicting meanwhile.
func keepEvicting(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		value := strings.Repeat("x", 10_000)
		for round := 0; ctx.Err() == nil; round++ {
			pipe := rdb.Pipeline()
			for i := 0; i < 20; i++ {
				pipe.Set(ctx, fmt.Sprintf("filler:%d:%d", round, i), value, 0)
			}
			_, _ = pipe.Exec(ctx) // a failed round is followed by the next
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond): // 10 MB/s: 4 MB fill in well under a second
			}
		}
	}()
}

func TestServeRefusesARedisThatMayEvict(t *testing.T) {
	t.Parallel()
	srv := testenv.PrivateRedis(t)
	env := testenv.NewOn(t, sharedBrokers(t), srv.Addr, 1)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	letItEvict(t, rdb)

	// bootstrap, the way to rebuild a state lost to evictions, refuses it
	// too.
	file, _ := testenv.EventsFile(t, 20)
	for _, args := range [][]string{{"serve", "-http", "127.0.0.1:0"}, {"bootstrap", "-data", file}} {
		_, stderr, code := testenv.RunCLI(t, env.ServeConfig(200), args[0], args[1:]...)
		if code != 1 {
			t.Fatalf("%s on an allkeys-lru Redis exited %d, want 1; stderr:\n%s", args[0], code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		last := lines[len(lines)-1]
		for _, want := range []string{srv.Addr, "maxmemory-policy allkeys-lru", "CONFIG SET maxmemory-policy noeviction"} {
			if !strings.Contains(last, want) {
				t.Errorf("%s: the refusal does not say %q: %s", args[0], want, last)
			}
		}
	}
}

func TestEvictionsMakeServeNotReadyAndReplayWaitFail(t *testing.T) {
	t.Parallel()
	redisSrv := testenv.PrivateRedis(t)
	env := testenv.NewOn(t, sharedBrokers(t), redisSrv.Addr, 2)
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr})
	t.Cleanup(func() { rdb.Close() })
	cfg := env.ServeConfig(200)
	cfg.Args = []string{"-lag-interval", "200ms"} // the guard checks as often
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(2 * time.Minute)

	// The operator switches the policy after start, and Redis evicts.
	letItEvict(t, rdb)
	keepEvicting(t, rdb)
	_, body := srv.WaitReadyStatus(2*time.Minute, "503 naming the evictions", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, "evicted")
	})
	t.Logf("/readyz: %s", strings.TrimSpace(body))
	if v, err := srv.Metric("alsobought_redis_evicted_keys_since_start"); err != nil || v <= 0 {
		t.Errorf("alsobought_redis_evicted_keys_since_start = %v (%v), want above 0", v, err)
	}
	if v, err := srv.Metric("alsobought_redis_unsafe_settings"); err != nil || v != 1 {
		t.Errorf("alsobought_redis_unsafe_settings = %v (%v), want 1 (the policy)", v, err)
	}
	if !strings.Contains(srv.LogTail(200), "Redis evicted keys since start") {
		t.Error("serve did not log the evictions")
	}
	if code, took := srv.Term(); code != 0 {
		t.Errorf("serve exited %d after %s on SIGTERM", code, took)
	}

	// With no consumer the wait could only end at its timeout: it ends
	// with the evictions that happen meanwhile instead.
	file, _ := testenv.EventsFile(t, 50)
	stdout, stderr, code := testenv.RunCLI(t, cfg, "replay", "-data", file, "-wait", "-wait-timeout", "10m", "-quiet")
	if code != 1 || !strings.Contains(stderr, "evicted") || strings.Contains(stdout, "applied and re-scored") {
		t.Fatalf("replay --wait while Redis evicts: exit %d, want 1 with the evictions\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("replay --wait: %s", strings.TrimSpace(stderr))
}
