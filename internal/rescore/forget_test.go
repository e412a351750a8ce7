package rescore_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/feed"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// shopper is one customer's histories, kept in memory across batches as
// the consumer keeps them in the customer's hash.
type shopper struct{ bought, viewed delta.History }

// stream builds batches of partition 0 at increasing offsets, with ageing
// as -history-max-age gives it.
type stream struct {
	offset int64
	batch  *delta.Batch
	r      delta.Retention
}

// newStream starts a stream whose histories keep 10 items and age out
// after age.
func newStream(age time.Duration) *stream {
	return &stream{batch: delta.NewBatch(0), r: delta.Retention{Purchases: 10, Views: 10, MaxAge: age}}
}

func (s *stream) buy(c *shopper, item, category string, at time.Time) {
	s.offset++
	s.batch.Purchase(&c.bought, &c.viewed, item, at, s.offset, s.r)
	s.batch.Count(true, item, category, at, s.offset)
}

func (s *stream) view(c *shopper, item string, at time.Time) {
	s.offset++
	s.batch.View(&c.bought, &c.viewed, item, at, s.offset, s.r)
	s.batch.Count(false, item, "", at, s.offset)
}

// apply writes the batch built since the last apply (recorded: the
// progress it was computed on) and starts the next; it returns the batch
// and its progress, to apply it again.
func (s *stream) apply(t *testing.T, st *store.Store, recorded int64) (*delta.Batch, int64) {
	t.Helper()
	b := s.batch
	if err := st.Batches.Apply(context.Background(), b, nil, s.offset, recorded); err != nil {
		t.Fatal(err)
	}
	s.batch = delta.NewBatch(0)
	return b, s.offset
}

// keysOf returns every key of the state whose hash tag is the item.
func keysOf(t *testing.T, st *store.Store, item string) []string {
	t.Helper()
	ctx := context.Background()
	pattern := st.Keys().Prefix + ":*{" + item + "}*"
	var out []string
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 10000).Iterator() // the shared Redis holds other tests' keys too
		for iter.Next(ctx) {
			out = append(out, iter.Val())
		}
		return iter.Err()
	}
	var err error
	switch c := st.Client().(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex // the masters are scanned in parallel
		err = c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return scan(ctx, node)
		})
	case *redis.Client:
		err = scan(ctx, c)
	default:
		t.Fatalf("client %T", c)
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// feedTopic is a list change feed on the shared broker, for one test.
type feedTopic struct {
	conn *kafkaconn.Conn
	name string
	read int // messages already returned by next
	pub  *feed.Kafka
}

// newFeedTopic creates a compacted feed topic (deleted at cleanup) and its
// publisher.
func newFeedTopic(t *testing.T, env *testenv.Env) *feedTopic {
	t.Helper()
	conn := kafkaconn.Plain(strings.Split(testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")...)
	name := "test." + env.Prefix + ".lists"
	ctx := context.Background()
	if err := kafkaadmin.EnsureTopic(ctx, conn, kafkaadmin.Topic{Name: name, Partitions: 1, Replication: 1, Configs: feed.TopicConfig}); err != nil {
		t.Fatal(err)
	}
	pub, err := feed.New(feed.Config{Kafka: conn, Topic: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = kafkaadmin.DeleteTopics(ctx, conn, name)
	})
	return &feedTopic{conn: conn, name: name, pub: pub}
}

// next returns the messages published since the last call, folded by key
// (nil: a tombstone), and checks that the outbox kept nothing back.
func (f *feedTopic) next(t *testing.T, st *store.Store) map[string][]byte {
	t.Helper()
	if left, err := st.Outbox.Pending(context.Background(), 10, time.Now().Add(time.Hour)); err != nil || len(left) != 0 {
		t.Fatalf("the outbox holds %d unpublished changes (err %v)", len(left), err)
	}
	msgs := testenv.ReadTopic(t, f.conn, f.name)
	out := map[string][]byte{}
	for _, m := range msgs[f.read:] {
		out[string(m.Key)] = m.Value
	}
	f.read = len(msgs)
	return out
}

// expectForgotten fails unless the item has no key left but, in a
// cluster, its rows' fences (its tombstone), and no field in the global
// hashes of items.
func expectForgotten(t *testing.T, env *testenv.Env, item string) {
	t.Helper()
	ctx := context.Background()
	st := env.Store
	keys := st.Keys()
	indexed := st.Client().HExists(ctx, keys.Meta, schema.MetaRowIndexSupport).Val()
	for _, k := range keysOf(t, st, item) {
		tombstone := strings.HasPrefix(k, keys.Prefix+":row:") || strings.HasPrefix(k, keys.Prefix+":rowix:")
		if env.RedisMode != store.Cluster || !tombstone {
			t.Errorf("%s: key %s left", item, k)
			continue
		}
		fields, err := st.Client().HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for f := range fields {
			if _, ok := schema.ParseWatermarkField(f); !ok && f != schema.FieldListRevision {
				t.Errorf("%s: the tombstone %s holds %s=%s", item, k, f, fields[f])
			}
		}
		// A tombstone row's index, where the state keeps them, names
		// exactly its fences.
		if row, ok := strings.CutPrefix(k, keys.Prefix+":row:"); ok && indexed {
			index := keys.Prefix + ":rowix:" + row
			names, err := st.Client().HKeys(ctx, index).Result()
			if err != nil {
				t.Fatal(err)
			}
			if slices.Sort(names); !slices.Equal(names, slices.Sorted(maps.Keys(fields))) {
				t.Errorf("%s: the index %s names %v, its row holds %v", item, index, names, fields)
			}
		}
	}
	s := schema.ItemShard(item)
	for _, h := range []string{keys.Buyers(s), keys.Viewers(s), keys.ItemCategories(s)} {
		if ok, err := st.Client().HExists(ctx, h, item).Result(); err != nil || ok {
			t.Errorf("%s: field in %s left (err %v)", item, h, err)
		}
	}
}

// TestAnItemWithNoStateLeftLosesItsKeys: when ageing retracts every
// counter of an item (the histories that held it aged out), re-scoring it
// deletes its lists and announces their removal on the change feed, and
// deletes its rows, its holders and its category; a list that held it is
// rewritten without it. A zombie's late copy of the batch that retracted
// it brings nothing back.
func TestAnItemWithNoStateLeftLosesItsKeys(t *testing.T) {
	testenv.ForEachRedis(t, testAnItemWithNoStateLeftLosesItsKeys)
}

func testAnItemWithNoStateLeftLosesItsKeys(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	st := env.Store
	// A state with row indexes: each row is read by its index, and a
	// tombstone row's index names its fences.
	if err := st.Meta.EnsureWithRowIndexes(ctx, map[string]string{schema.MetaMinSupport: "2",
		schema.MetaHistogramBins: string(scoring.LogBins), schema.MetaHistorySize: "200", schema.MetaViewHistorySize: "30"}, 2); err != nil {
		t.Fatal(err)
	}
	topic := newFeedTopic(t, env)
	cfg := rescore.Config{Feed: true, Publisher: topic.pub, Method: scoring.Count, Rules: scoring.ListRules{Size: 20, MinSupport: 2}}
	reg := prometheus.NewRegistry()
	rs, err := rescore.New(cfg, rescore.StateOf(st), zerolog.Nop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(24 * time.Hour)
	t0 := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

	// Three customers buy x and a, then view x and b: x has a purchase row
	// and a view row, lists of both kinds, a category, and a's list holds
	// it (so x's holders name a's list).
	old := make([]*shopper, 3)
	for i := range old {
		old[i] = &shopper{}
		s.buy(old[i], "x", "shoes", t0)
		s.buy(old[i], "a", "", t0)
		s.view(old[i], "x", t0)
		s.view(old[i], "b", t0)
	}
	_, first := s.apply(t, st, -1)
	if _, err := rs.DrainDirty(ctx); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		kind       store.ListKind
		item, want string
	}{{store.Bought, "x", "a"}, {store.Viewed, "x", "b"}, {store.Bought, "a", "x"}} {
		got, err := st.Lists.Read(ctx, l.kind, l.item)
		if err != nil || len(got.Items) != 1 || got.Items[0].Item != l.want {
			t.Fatalf("before ageing, the %s list of %s is %+v (%v), want %s", l.kind, l.item, got.Items, err, l.want)
		}
	}
	if ks := keysOf(t, st, "x"); len(ks) < 5 { // 2 rows, 2 lists, holders
		t.Fatalf("before ageing, x has the keys %v", ks)
	}
	if published := topic.next(t, st); published["bought:x"] == nil || published["viewed:x"] == nil {
		t.Fatalf("x's lists were not published: %q", published)
	}

	// A month later the same customers buy z: their histories age out,
	// taking every counter of x and b. Three new customers buy a and w.
	t1 := t0.AddDate(0, 1, 0)
	for _, c := range old {
		s.buy(c, "z", "", t1)
	}
	for range 3 {
		c := &shopper{}
		s.buy(c, "a", "", t1)
		s.buy(c, "w", "", t1)
	}
	retraction, second := s.apply(t, st, first)
	if _, err := rs.DrainDirty(ctx); err != nil {
		t.Fatal(err)
	}
	expectForgotten(t, env, "x")
	expectForgotten(t, env, "b")
	if got, err := st.Lists.Read(ctx, store.Bought, "a"); err != nil || len(got.Items) != 1 || got.Items[0].Item != "w" {
		t.Fatalf("a's list after ageing: %+v (%v), want w alone", got.Items, err)
	}
	published := topic.next(t, st)
	for _, k := range []string{"bought:x", "viewed:x", "viewed:b"} {
		if v, ok := published[k]; !ok || v != nil {
			t.Errorf("feed: %s published %t with value %q, want a tombstone", k, ok, v)
		}
	}
	if v := published["bought:a"]; !strings.Contains(string(v), `"item":"w"`) || strings.Contains(string(v), `"item":"x"`) {
		t.Errorf("feed: bought:a is %s, want the list of w without x", v)
	}

	// A zombie consumer writes the retracting batch again, late: its
	// changes were applied, and must stay applied once.
	if err := st.Batches.Apply(ctx, retraction, nil, second, first); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.RescoreAll(ctx); err != nil {
		t.Fatal(err)
	}
	expectForgotten(t, env, "x")
	expectForgotten(t, env, "b")
	if got, err := st.Lists.Read(ctx, store.Bought, "a"); err != nil || len(got.Items) != 1 || got.Items[0].Support != 3 {
		t.Fatalf("a's list after the zombie's batch: %+v (%v), want w with support 3", got.Items, err)
	}
	if n := forgottenTotal(t, reg); n != 2 {
		t.Fatalf("alsobought_items_forgotten_total %v, want 2 (x and b, once each)", n)
	}
}

// forgottenTotal reads alsobought_items_forgotten_total.
func forgottenTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "alsobought_items_forgotten_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no alsobought_items_forgotten_total")
	return 0
}

// TestAnItemStillPopularKeepsItsCategoryUntilTheWindowPasses: an item
// whose histories aged out within its popularity window loses its lists
// but keeps its category (popularity lists may still hold it, and the
// category filter needs it) and its rows, which bring it to the sweeps;
// the first sweep after its days left the window forgets it.
func TestAnItemStillPopularKeepsItsCategoryUntilTheWindowPasses(t *testing.T) {
	testenv.ForEachRedis(t, testAnItemStillPopularKeepsItsCategoryUntilTheWindowPasses)
}

func testAnItemStillPopularKeepsItsCategoryUntilTheWindowPasses(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	st := env.Store
	cfg := rescore.Config{Method: scoring.Count, Rules: scoring.ListRules{Size: 20, MinSupport: 2}}
	rs, err := rescore.New(cfg, rescore.StateOf(st), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(time.Hour)
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	shoppers := make([]*shopper, 3)
	for i := range shoppers {
		shoppers[i] = &shopper{}
		s.buy(shoppers[i], "x", "shoes", t0)
		s.buy(shoppers[i], "a", "", t0)
	}
	_, progress := s.apply(t, st, -1)
	// Two hours later, the same day: x and a age out of every history.
	for _, c := range shoppers {
		s.buy(c, "z", "", t0.Add(2*time.Hour))
	}
	_, progress = s.apply(t, st, progress)
	if _, err := rs.DrainDirty(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lists.Read(ctx, store.Bought, "x"); err != store.ErrNotFound {
		t.Fatalf("x's list with no co-buyer left: %v, want none", err)
	}
	cats, err := st.Popularity.ItemCategories(ctx, []string{"x"})
	if err != nil || cats[0] != "shoes" {
		t.Fatalf("x's category while x is in the popularity window: %q (%v), want shoes", cats, err)
	}
	if ks := keysOf(t, st, "x"); !slices.Contains(ks, st.Keys().Row(store.Bought, "x")) {
		t.Fatalf("x's keys while x is in the popularity window: %v, want its purchase row", ks)
	}

	// A month later another customer buys q: the window has moved on.
	s.buy(&shopper{}, "q", "", t0.AddDate(0, 1, 0))
	s.apply(t, st, progress)
	if _, err := rs.RescoreAll(ctx); err != nil {
		t.Fatal(err)
	}
	expectForgotten(t, env, "x")
	expectForgotten(t, env, "a")
}
