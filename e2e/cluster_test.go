package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/dataset"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// Scale-out on Redis Cluster (issue 7): two serve instances in one group,
// the state on the local cluster of `make cluster-up` (three masters with
// a replica each, appendfsync always, min-replicas-to-write 1), every write
// step acknowledged by a replica (WAIT 1). The check is always the same:
// `alsobought verify` finds no difference from the oracle.

// yoochooseStream is the first n events of the YOOCHOOSE sample (views and
// purchases) as a stream and an events file for verify. The cluster tests
// check routing, fencing and failover, not the data set: a stream that
// outlasts the interruption is enough, and the cluster applies it slowly
// (every step waits for a replica's fsync), as verify then reads it back.
func yoochooseStream(t *testing.T, n int) chaosStream {
	t.Helper()
	evs, err := dataset.Load(filepath.Join(testenv.SharedData(t), "yoochoose-1pct", "events.csv.gz"), dataset.Yoochoose,
		event.DefaultLimits(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if n < len(evs) {
		evs = evs[:n:n]
	}
	return chaosStream{file: testenv.WriteEvents(t, evs), evs: evs}
}

// TestClusterTwoInstancesOneKilled replays YOOCHOOSE events into two
// serve instances on Redis Cluster, kills one mid-stream, and lets the
// other finish. Both must have consumed and re-scored before the kill:
// the work is shared.
func TestClusterTwoInstancesOneKilled(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	env := testenv.NewCluster(t, chaosPartitions)
	stream := yoochooseStream(t, 100000)
	cfg := env.ServeConfig(chaosHistory)
	survivor, victim := clock.startTwo(env, cfg)

	head, rest := splitMidStream(stream.evs)
	chaosProduce(t, env, head)
	lag := waitHeadStarted(t, env, head)
	for srv, role := range map[*testenv.Serve]string{survivor: "surviving", victim: "killed"} {
		mustHaveCounted(t, srv, "alsobought_events_consumed_total", role)
		mustHaveCounted(t, srv, "alsobought_items_rescored_total", role)
	}
	victim.Kill()
	clock.logf("one instance killed, %d of %d messages left", lag+int64(len(rest)), len(stream.evs))
	chaosProduce(t, env, rest)
	chaosWaitGroup(t, env, 1)
	clock.finish(env, cfg, stream, survivor)
}

// TestClusterFailoverMidStream fails over the master that holds {#} (the
// progress and the step markers) and another master, with CLUSTER FAILOVER on
// their replicas, while a serve instance consumes, then empties every
// node's script cache (as a restarted node has it): no event may be lost
// or counted twice, and the scripts must be loaded again (NOSCRIPT).
func TestClusterFailoverMidStream(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	env := testenv.NewCluster(t, chaosPartitions)
	stream := yoochooseStream(t, 60000)
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)

	head, rest := splitMidStream(stream.evs)
	chaosProduce(t, env, head)
	waitHeadStarted(t, env, head)
	cl := env.Store.Client().(*redis.ClusterClient)
	// The slot of the global keys, then one item's slot on another master.
	// Each failover is one step with nothing to watch but its end:
	// chaosReady bounds it.
	for _, key := range []string{env.Store.Keys().Progress, env.Store.Keys().Row(store.Bought, "214826829")} {
		ctx, cancel := context.WithTimeout(context.Background(), chaosReady)
		replica := replicaOf(ctx, t, cl, key)
		failover(ctx, t, replica)
		cancel()
		clock.logf("failed over %s to its replica %s", key, replica)
	}
	ctx, cancel := context.WithTimeout(context.Background(), chaosReady)
	defer cancel()
	if err := cl.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.ScriptFlush(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	clock.logf("script caches flushed on every node")
	chaosProduce(t, env, rest)
	clock.finish(env, cfg, stream, srv)
}

// replicaOf returns the address of a replica of the master that owns key.
func replicaOf(ctx context.Context, t *testing.T, cl *redis.ClusterClient, key string) string {
	t.Helper()
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 1 {
			return s.Nodes[1].Addr
		}
	}
	t.Fatalf("no replica serves slot %d of %s", slot, key)
	return ""
}

// failover runs CLUSTER FAILOVER on a replica and waits until it is a
// master: a coordinated failover, in which the replica first catches up
// with its master.
func failover(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	node := redis.NewClient(&redis.Options{Addr: addr})
	defer node.Close()
	if err := node.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		t.Fatalf("CLUSTER FAILOVER on %s: %v", addr, err)
	}
	for {
		info, err := node.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "role:master") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not become a master: %v", addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
