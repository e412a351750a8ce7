package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/feed"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// TestListFeedMatchesRedis: the compacted topic of list changes, read from
// the start and folded by key, equals every list and popularity list in
// Redis, including changes whose publish a crash interrupted (they wait in
// the outbox and are published from Redis's current value).
func TestListFeedMatchesRedis(t *testing.T) {
	env := testenv.New(t, 2)
	ctx := context.Background()
	feedTopic := env.Topic + ".lists"
	if err := kafkaadmin.EnsureTopic(ctx, env.Kafka(), kafkaadmin.Topic{Name: feedTopic, Partitions: 2, Replication: 1, Configs: feed.TopicConfig}); err != nil {
		t.Fatal(err)
	}
	pub, perr := feed.New(feed.Config{Kafka: env.Kafka(), Topic: feedTopic})
	if perr != nil {
		t.Fatal(perr)
	}
	defer pub.Close()
	evs := loadDunnhumby(t)[:8000]

	// First half: lists written by a process that dies before publishing
	// (no publisher: the changes stay in the outbox).
	produce(t, env, evs[:4000])
	p := startPipeline(t, env, 200)
	p.waitApplied()
	crashed, err := rescore.New(rescore.Config{Feed: true}, rescore.StateOf(env.Store), testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crashed.RescoreAll(ctx); err != nil {
		t.Fatal(err)
	}
	// A serve process takes the orphaned changes over and publishes them.
	live, err := rescore.New(rescore.Config{Feed: true, Publisher: pub, PendingGrace: time.Millisecond}, rescore.StateOf(env.Store), testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // older than the grace
	n, err := live.PublishPending(ctx)
	if err != nil || n == 0 {
		t.Fatalf("published %d pending changes, err %v", n, err)
	}
	// Second half: published as the lists change.
	produce(t, env, evs[4000:])
	p.waitApplied()
	p.close()
	if _, err := live.RescoreAll(ctx); err != nil {
		t.Fatal(err)
	}
	if left, err := env.Store.Outbox.Pending(ctx, 10, time.Now().Add(time.Hour)); err != nil || len(left) != 0 {
		t.Fatalf("outbox still holds %d changes (err %v)", len(left), err)
	}

	got := readFeed(t, env.Kafka(), feedTopic)
	snap, err := env.Store.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for kind, lists := range snap.Lists {
		for item, l := range lists {
			want[string(kind)+":"+item] = mustJSON(t, l)
		}
	}
	for kind, lists := range snap.Popular {
		for cat, l := range lists {
			want[store.PopularFeedKey(kind, cat)] = mustJSON(t, l)
		}
	}
	mismatches := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || !sameJSON(t, g, w) {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("feed %s: %.200s, Redis: %.200s", k, got[k], w)
			}
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && g != nil {
			mismatches++
			t.Errorf("feed holds %s, which Redis does not", k)
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d lists differ between the feed and Redis", mismatches, len(want))
	}
	t.Logf("feed and Redis agree on %d lists (%d pending changes published after the crash)", len(want), n)
}

// readFeed reads a topic from the start to its end and keeps the last
// value of each key (nil for a tombstone).
func readFeed(t *testing.T, conn *kafkaconn.Conn, topic string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, m := range testenv.ReadTopic(t, conn, topic) {
		out[string(m.Key)] = m.Value
	}
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(mustJSON(t, x), mustJSON(t, y))
}
