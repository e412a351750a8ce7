package testenv

import (
	"testing"

	"github.com/alsobought/alsobought/store"
)

// ForEachRedis runs test twice, as the subtests "single" and "cluster":
// on an environment like NewRedis's, and on one with the same shape on the
// local Redis Cluster (ALSOBOUGHT_REDIS_CLUSTER_ADDRS, cluster mode, one
// replica acknowledging each write step as serve's default). Each has only
// Redis (no topics) and its own prefix. The cluster write path (one
// pipeline per master, global keys last, WAIT, its own retries) is not the
// single one, so a store contract holds only once it holds on both.
//
// The subtests run in parallel with each other: everything the test needs
// must happen inside test, not after ForEachRedis returns. Under -short
// the test skips (Integration); a missing setting skips or fails that
// subtest alone (Setting).
func ForEachRedis(t *testing.T, test func(t *testing.T, env *Env)) {
	t.Helper()
	Integration(t, "Redis and the Redis Cluster")
	for _, mode := range []store.Mode{store.Single, store.Cluster} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			if mode == store.Single {
				test(t, NewRedis(t))
				return
			}
			test(t, newEnv(t, Setting(t, "ALSOBOUGHT_REDIS_CLUSTER_ADDRS"), store.Cluster))
		})
	}
}

// ForAllRedisModes runs test as ForEachRedis does, and a third time, as the
// subtest "sentinel", on the local Redis with Sentinel
// (ALSOBOUGHT_REDIS_SENTINEL_ADDRS and ALSOBOUGHT_REDIS_SENTINEL_MASTER,
// sentinel mode, one replica acknowledging each write step as serve's
// default). Sentinel mode shares the single mode's write path but for the
// WAIT that ends each write pipeline, so a representative few contracts
// (the fences and batch guards, the basic reads and writes) run on it, not
// every store test: the suite's time is counted.
func ForAllRedisModes(t *testing.T, test func(t *testing.T, env *Env)) {
	t.Helper()
	ForEachRedis(t, test)
	t.Run(string(store.Sentinel), func(t *testing.T) {
		t.Parallel()
		test(t, newSentinelEnv(t))
	})
}
