package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/testenv"
)

// Redis with Sentinel (-redis-mode sentinel): a master and its replica,
// watched by a sentinel that serve asks for the master. Every write step
// waits for the replica (WAIT 1, serve's default), and the batch guards of
// a single Redis stay on. The check is the cluster tests': `alsobought
// verify` finds no difference from the oracle.

// TestSentinelStream consumes a stream through the shared sentinel of
// `make sentinel-up` (make test starts it) and verifies the state.
func TestSentinelStream(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	env := testenv.NewSentinel(t, chaosPartitions)
	stream := newChaosStream(t, chaosEvents/2)
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)
	chaosProduce(t, env, stream.evs)
	clock.finish(env, cfg, stream, srv)
}

// TestSentinelFailoverMidStream makes the sentinel fail the master over
// (SENTINEL FAILOVER: not coordinated like CLUSTER FAILOVER, the old
// master takes writes until the sentinel turns it into a replica) while a
// serve instance consumes, then empties the new master's script cache:
// serve must follow the sentinel to the new master by itself, load its
// scripts again (NOSCRIPT), and lose or double-count no event. On a Redis
// with Sentinel of the test's own, so that no other test meets the
// failover.
func TestSentinelFailoverMidStream(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	sentinel := testenv.PrivateSentinel(t)
	brokers := strings.Split(testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")
	env := testenv.NewSentinelOn(t, brokers, sentinel.Addr, testenv.PrivateSentinelMaster, chaosPartitions)
	stream := newChaosStream(t, chaosEvents)
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)

	head, rest := splitMidStream(stream.evs)
	chaosProduce(t, env, head)
	lag := waitHeadStarted(t, env, head)
	// The failover is one step with nothing to watch but its end:
	// chaosReady bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), chaosReady)
	defer cancel()
	from, to := testenv.SentinelFailover(ctx, t, sentinel.Addr, testenv.PrivateSentinelMaster)
	clock.logf("failed over from %s to %s with %d of %d messages left", from, to, lag+int64(len(rest)), len(stream.evs))
	master := redis.NewClient(&redis.Options{Addr: to})
	defer master.Close()
	if err := master.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	clock.logf("script cache of the new master flushed")
	chaosProduce(t, env, rest)
	clock.finish(env, cfg, stream, srv)
}
