package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// purchases applies one purchase per (customer, item) pair at consecutive
// offsets of partition 0 from from on, as the consumer would, and returns
// the next offset.
func purchases(t *testing.T, st *store.Store, from int64, pairs ...[2]string) int64 {
	t.Helper()
	b, updates, last := purchaseBatch(t, st, from, pairs...)
	if err := st.Batches.Apply(context.Background(), b, updates, last, from-1); err != nil {
		t.Fatal(err)
	}
	return last + 1
}

// purchaseBatch computes the batch of purchases from the customers' stored
// state, and returns it with the customers' new states and its last offset.
func purchaseBatch(t *testing.T, st *store.Store, from int64, pairs ...[2]string) (*delta.Batch, []store.CustomerUpdate, int64) {
	t.Helper()
	ids := make([]string, 0, len(pairs))
	for _, p := range pairs {
		ids = append(ids, p[0])
	}
	customers, err := st.Customers.Load(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	return batchOf(customers, from, pairs...)
}

// batchOf is the batch of purchases on the customers' loaded states, with
// the customers' new states and its last offset.
func batchOf(customers map[string]store.Customer, from int64, pairs ...[2]string) (*delta.Batch, []store.CustomerUpdate, int64) {
	w := partitionBatch(customers, 0, from, pairs...)
	return w.Batch, w.Customers, w.LastOffset
}

// TestStaleListNeverReplacesNewer: a re-scorer that read a row before a
// change (a slow or paused instance) loses to one that read it after.
func TestStaleListNeverReplacesNewer(t *testing.T) {
	testenv.ForEachRedis(t, testStaleListNeverReplacesNewer)
}

func testStaleListNeverReplacesNewer(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	off := purchases(t, st, 0, [2]string{"c1", "milk"}, [2]string{"c1", "bread"})
	old, err := st.Lists.ReadRows(ctx, store.Bought, []string{"milk"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	purchases(t, st, off, [2]string{"c2", "milk"}, [2]string{"c2", "eggs"})
	fresh, err := st.Lists.ReadRows(ctx, store.Bought, []string{"milk"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Revisions[0] <= old.Revisions[0] {
		t.Fatalf("row revision did not grow with a change: %d then %d", old.Revisions[0], fresh.Revisions[0])
	}
	list := func(rb store.RowBatch, marker string) store.List {
		return store.List{List: store.Bought, Item: "milk", Method: scoring.Count, Revision: rb.Revisions[0],
			Items: []scoring.Related{{Item: marker, Score: 1, Support: 1}}}
	}
	if p, err := st.Lists.Write(ctx, []store.List{list(fresh, "from-fresh-row")}, false); err != nil || p.Written != 1 {
		t.Fatalf("fresh list: written %d, %v", p.Written, err)
	}
	if p, err := st.Lists.Write(ctx, []store.List{list(old, "from-stale-row")}, false); err != nil || p.Written != 0 {
		t.Fatalf("stale list: written %d, %v; want 0", p.Written, err)
	}
	// Same revision (a sweep after the globals moved) may replace it.
	if p, err := st.Lists.Write(ctx, []store.List{list(fresh, "same-row-later")}, false); err != nil || p.Written != 1 {
		t.Fatalf("same-revision list: written %d, %v", p.Written, err)
	}
	got, err := st.Lists.Read(ctx, store.Bought, "milk")
	if err != nil {
		t.Fatal(err)
	}
	if got.Items[0].Item != "same-row-later" {
		t.Fatalf("stored list is %q", got.Items[0].Item)
	}
	// The fence field is not a counter: the row still reads the same.
	again, err := st.Lists.ReadRows(ctx, store.Bought, []string{"milk"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Rows[0].Candidates) != len(fresh.Rows[0].Candidates) || again.Revisions[0] != fresh.Revisions[0] {
		t.Fatalf("writing the list changed the row: %+v vs %+v", again, fresh)
	}
}

func TestStateRefusesOtherSettings(t *testing.T) {
	testenv.ForEachRedis(t, testStateRefusesOtherSettings)
}

func testStateRefusesOtherSettings(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	built := map[string]string{"topic": "shop.events", "history_size": "200", "list_size": "20", "min_support": "2", "scorer": "amazon2017"}
	if err := st.Meta.Ensure(ctx, built); err != nil {
		t.Fatal(err)
	}
	if err := st.Meta.Ensure(ctx, built); err != nil {
		t.Fatalf("same settings refused: %v", err)
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range built {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name, key, value string
		wantHint         string
	}{
		{"another topic", "topic", "other.events", "another prefix"},
		{"another K_hist", "history_size", "20", "another prefix"},
		{"another list size", "list_size", "50", "-adopt-list-settings"},
		{"another scorer", "scorer", "llr", "-adopt-list-settings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := st.Meta.Ensure(ctx, with(tc.key, tc.value))
			if !errors.Is(err, store.ErrStateMismatch) {
				t.Fatalf("want ErrStateMismatch, got %v", err)
			}
			for _, want := range []string{tc.key, tc.value, tc.wantHint} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not mention %q", err, want)
				}
			}
		})
	}
	if err := st.Meta.AdoptListSettings(ctx, map[string]string{"list_size": "50"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Meta.Ensure(ctx, with("list_size", "50")); err != nil {
		t.Fatalf("adopted list size refused: %v", err)
	}
	if err := st.Meta.AdoptListSettings(ctx, map[string]string{"history_size": "20"}); err == nil {
		t.Fatal("K_hist adopted on a built state")
	}
	// The state was recorded before it named its histogram bins: it was
	// built with exact bins, which is what it records, whatever the
	// default of the version that continues it.
	built["list_size"] = "50" // adopted above
	err := st.Meta.Ensure(ctx, with("histogram_bins", "log"))
	if want := `histogram_bins: state has "exact", configured "log"`; !errors.Is(err, store.ErrStateMismatch) || !strings.Contains(err.Error(), want) {
		t.Fatalf("log bins on a state recorded without bins: got %v, want a refusal saying %s", err, want)
	}
	if err := st.Meta.Ensure(ctx, with("histogram_bins", "exact")); err != nil {
		t.Fatalf("exact bins on a state recorded without bins refused: %v", err)
	}
}

// lossyReplies is a go-redis hook on the connections of a store. While
// armed, it lets the next request that runs a script (the fenced writes)
// through to Redis, swallows the reply and breaks the connection, as a
// network failure after Redis executed a pipeline would. The pipeline is
// then sent again: by go-redis on a single Redis, by the store's own retry
// of a write step in a cluster.
type lossyReplies struct {
	armed   atomic.Bool
	dropped atomic.Int64
}

func (l *lossyReplies) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &lossyConn{Conn: c, l: l}, nil
	}
}

func (l *lossyReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (l *lossyReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

type lossyConn struct {
	net.Conn
	l                 *lossyReplies
	dropReply, closed atomic.Bool
}

func (c *lossyConn) Write(b []byte) (int, error) {
	if bytes.Contains(bytes.ToLower(b), []byte("evalsha")) && c.l.armed.CompareAndSwap(true, false) {
		c.dropReply.Store(true)
	}
	return c.Conn.Write(b)
}

// Read returns what Redis sent, until the armed request's reply arrives:
// from then on the connection is closed and reads end, as when the peer
// closed it.
func (c *lossyConn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(b)
	if n > 0 && c.dropReply.Load() {
		// Redis executed the pipeline; the client never hears.
		c.l.dropped.Add(1)
		c.closed.Store(true)
		c.Conn.Close()
		return 0, io.EOF
	}
	return n, err
}

// TestRetriedPipelineAppliesOnce: a pipeline is sent again whole when the
// connection breaks before the reply (by go-redis on a single Redis, by the
// store's write retry in a cluster); the counters, customers and progress
// written through it must end as if it had been sent once.
func TestRetriedPipelineAppliesOnce(t *testing.T) {
	testenv.ForAllRedisModes(t, testRetriedPipelineAppliesOnce)
}

func testRetriedPipelineAppliesOnce(t *testing.T, env *testenv.Env) {
	lossy := &lossyReplies{}
	viaLossy := openStore(t, env, env.Prefix, lossy)
	pairs := [][2]string{{"c1", "milk"}, {"c1", "bread"}, {"c2", "milk"}, {"c2", "eggs"}, {"c1", "eggs"}, {"c3", "bread"}}
	off, armed := int64(0), int64(0)
	for i, p := range pairs {
		if i%2 == 0 { // every other batch loses its first reply
			lossy.armed.Store(true)
			armed++
		}
		off = purchases(t, viaLossy, off, p)
	}
	if n := lossy.dropped.Load(); n != armed {
		t.Fatalf("%d replies dropped, want %d: the test did not exercise every retry", n, armed)
	}
	// The same purchases applied once, directly, under another prefix.
	clean := openStore(t, env, env.Prefix+".clean", nil)
	off = 0
	for _, p := range pairs {
		off = purchases(t, clean, off, p)
	}
	sameAsCleanPass(t, "retried pipelines", env.Store, clean)
	t.Logf("%d replies dropped and pipelines resent", lossy.dropped.Load())
}

// sameAsCleanPass fails the test unless st holds the purchase counters,
// histories and progress of clean, which applied the same events once.
func sameAsCleanPass(t *testing.T, after string, st, clean *store.Store) {
	t.Helper()
	ctx := context.Background()
	got, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := clean.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cmp := range []struct {
		what      string
		got, want any
	}{
		{"counters", got.Bought, want.Bought}, {"histories", got.Histories, want.Histories}, {"progress", got.Progress, want.Progress},
	} {
		if !equalJSON(t, cmp.got, cmp.want) {
			t.Errorf("%s after %s: %v, one clean pass: %v", cmp.what, after, cmp.got, cmp.want)
		}
	}
}

// TestReplayedBatchAppliesOnce: a batch applied again (a consumer that
// died after writing it and before committing its offsets reads the same
// events again) changes nothing: the watermarks of the counters and of the
// customers skip every event they already hold.
func TestReplayedBatchAppliesOnce(t *testing.T) {
	testenv.ForAllRedisModes(t, testReplayedBatchAppliesOnce)
}

func testReplayedBatchAppliesOnce(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	off := purchases(t, st, 0, [2]string{"c1", "milk"}, [2]string{"c1", "bread"})
	b, updates, last := purchaseBatch(t, st, off, [2]string{"c2", "milk"}, [2]string{"c2", "eggs"}, [2]string{"c1", "eggs"})
	var snaps [3]*store.Snapshot // before, applied once, applied again
	for i := range snaps {
		if i > 0 {
			if err := st.Batches.Apply(ctx, b, updates, last, off-1); err != nil {
				t.Fatalf("apply %d: %v", i, err)
			}
		}
		snap, err := st.State.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		snaps[i] = snap
	}
	before, once, twice := snaps[0], snaps[1], snaps[2]
	if equalJSON(t, before.Bought, once.Bought) {
		t.Fatal("the batch changed no counter: the test checks nothing")
	}
	for _, cmp := range []struct {
		what        string
		once, twice any
	}{
		{"counters", once.Bought, twice.Bought}, {"histories", once.Histories, twice.Histories}, {"progress", once.Progress, twice.Progress},
	} {
		if !equalJSON(t, cmp.once, cmp.twice) {
			t.Errorf("%s: applied once %v, again %v", cmp.what, cmp.once, cmp.twice)
		}
	}
}

// TestWritesRefuseAGap: a batch computed while Redis held progress 1 for
// its partition must not land once Redis came back holding less (it lost
// acknowledged writes between the read and the writes, hidden by a
// transparent reconnect): the batch is refused with a *ProgressLostError,
// and no customer or progress moves. On a single Redis no counter moves
// either. In a cluster the counters of item rows are written unguarded
// (their slot cannot see the guard's), so they may: there the promise
// rests on no shard losing an acknowledged write (docs/guarantees.md).
func TestWritesRefuseAGap(t *testing.T) {
	testenv.ForAllRedisModes(t, testWritesRefuseAGap)
}

func testWritesRefuseAGap(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	off := purchases(t, st, 0, [2]string{"c1", "milk"}, [2]string{"c1", "bread"})
	before, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Client().HSet(ctx, st.Keys().Progress, "0", -1).Err(); err != nil {
		t.Fatal(err)
	}
	b := delta.NewBatch(0)
	h := delta.History{Items: []string{"milk", "bread"}}
	b.Purchase(&h, &delta.History{}, "eggs", time.UnixMilli(off), off, delta.Retention{Purchases: 10, Views: 10})
	err = st.Batches.Apply(ctx, b, []store.CustomerUpdate{{ID: "c1", Purchases: h, Offset: off}}, off, off-1)
	var lost *store.ProgressLostError
	if !errors.As(err, &lost) || lost.Stored != -1 || lost.Recorded != off-1 || !errors.Is(err, store.ErrProgressLost) {
		t.Fatalf("want ProgressLostError{stored -1, recorded %d}, got %v", off-1, err)
	}
	after, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Progress[0] != -1 {
		t.Fatalf("a refused batch moved the progress to %d", after.Progress[0])
	}
	after.Progress[0] = before.Progress[0] // the test itself moved it
	if !equalJSON(t, after.Histories, before.Histories) {
		t.Fatalf("a refused batch wrote customers: before %v, after %v", before.Histories, after.Histories)
	}
	if env.RedisMode != store.Cluster && !equalJSON(t, after.Bought, before.Bought) {
		t.Fatalf("a refused batch wrote counters: before %v, after %v", before.Bought, after.Bought)
	}
}

// forgetStep is a go-redis hook that deletes the in-flight markers before
// the first pipeline after the one that wrote a marker: a Redis that
// restarted between two steps of a batch and lost the first. In a cluster
// a step is several pipelines (one per master, the global keys last), and
// the hook runs on each node's client, in parallel.
type forgetStep struct {
	pipelinesOnly
	rdb      redis.UniversalClient
	inflight string

	mu           sync.Mutex
	marked, done bool
}

func (f *forgetStep) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		f.mu.Lock()
		forget := f.marked && !f.done
		f.done = f.done || forget
		f.mu.Unlock()
		if forget {
			if err := f.rdb.Del(ctx, f.inflight).Err(); err != nil {
				return err
			}
		}
		err := next(ctx, cmds)
		if writesMarker(cmds, f.inflight) {
			f.mu.Lock()
			f.marked = true
			f.mu.Unlock()
		}
		return err
	}
}

// writesMarker reports whether a pipeline holds a command on the in-flight
// hash (a step's marker is written last in the step).
func writesMarker(cmds []redis.Cmder, inflight string) bool {
	for _, c := range cmds {
		for _, a := range c.Args() {
			if a == inflight {
				return true
			}
		}
	}
	return false
}

// TestLostStepIsRefused: when the counter step of a batch is lost after
// Redis acknowledged it, the next step is refused with ErrBatchLost (a
// typed error, not a message to match), and the progress does not move on
// top of the gap. On a single Redis the customers do not move either; in a
// cluster they are written unguarded, and the step's marker, written after
// them, is what refuses (docs/guarantees.md).
func TestLostStepIsRefused(t *testing.T) {
	testenv.ForAllRedisModes(t, testLostStepIsRefused)
}

func testLostStepIsRefused(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	off := purchases(t, env.Store, 0, [2]string{"c1", "milk"})
	before, err := env.Store.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, env, env.Prefix, &forgetStep{rdb: env.Store.Client(), inflight: env.Store.Keys().Inflight})
	b := delta.NewBatch(0)
	h := delta.History{Items: []string{"milk"}}
	b.Purchase(&h, &delta.History{}, "eggs", time.UnixMilli(off), off, delta.Retention{Purchases: 10, Views: 10})
	err = st.Batches.Apply(ctx, b, []store.CustomerUpdate{{ID: "c1", Purchases: h, Offset: off}}, off, off-1)
	if !errors.Is(err, store.ErrBatchLost) {
		t.Fatalf("want ErrBatchLost, got %v", err)
	}
	after, err := env.Store.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, after.Progress, before.Progress) {
		t.Fatalf("a refused step moved the progress: %v then %v", before.Progress, after.Progress)
	}
	if env.RedisMode != store.Cluster && !equalJSON(t, after.Histories, before.Histories) {
		t.Fatalf("a refused step wrote customers: %v then %v", before.Histories, after.Histories)
	}
}

// TestAStepInPartsStopsAtARedisThatLostItsEarlierParts: while the store
// itself reads, a Yielding view writes a batch's steps in parts. A Redis
// that restarts between two parts of the first step, without the first
// part (acknowledged, then lost with the last moments of its AOF), must
// fail the step: the step's guards check the progress the batch was
// computed on, which survived, so a later part sent over a new connection
// would pass them and land on top of the gap, and the batch would end
// "applied" without some of its counters. Applied again, as the consumer
// does after a failed step, the batch ends exact. (Single mode: a
// cluster's parts already share their node's connection, runOnNode.)
func TestAStepInPartsStopsAtARedisThatLostItsEarlierParts(t *testing.T) {
	testenv.Integration(t, "a private redis-server")
	t.Parallel()
	ctx := context.Background()
	server := testenv.PrivateRedis(t)
	env := testenv.NewRedisOn(t, server.Addr)
	// So that the AOF holds the first batch when it is marked (AOFMark);
	// the restart goes back to everysec, which makes no difference after.
	if err := env.Store.Client().ConfigSet(ctx, "appendfsync", "always").Err(); err != nil {
		t.Fatal(err)
	}
	crash := &crashBetweenParts{server: server, inflight: env.Store.Keys().Inflight, reload: env.Store.Ping}
	st := openStore(t, env, env.Prefix, crash)
	bg := st.Yielding(1, time.Hour)

	first := [][2]string{{"c0", "i0"}, {"c1", "i1"}}
	// Enough counter changes that the first step is more than one part.
	var second [][2]string
	for c := range 40 {
		for i := range 10 {
			second = append(second, [2]string{fmt.Sprintf("c%d", c), fmt.Sprintf("i%d", (c*7+i*13)%200)})
		}
	}
	from := purchases(t, st, 0, first...)
	crash.mark = server.AOFMark() // the first batch survives the crash

	b, updates, last := purchaseBatch(t, st, from, second...) // a read: bg's pipelines take turns
	crash.armed.Store(true)
	err := bg.Batches.Apply(ctx, b, updates, last, from-1)
	if !crash.crashed.Load() {
		t.Fatal("the batch's steps went to Redis whole: the test needs more counter changes to write a step in parts")
	}
	if err == nil {
		t.Fatal("Apply took the rest of a step to a Redis that had lost its first part, and reported the batch applied")
	}
	t.Logf("the step failed as it must: %v", err)
	b, updates, last = purchaseBatch(t, st, from, second...)
	if err := bg.Batches.Apply(ctx, b, updates, last, from-1); err != nil {
		t.Fatalf("applying the batch again: %v", err)
	}

	clean := openStore(t, env, env.Prefix+"-clean", nil)
	purchases(t, clean, purchases(t, clean, 0, first...), second...)
	sameAsCleanPass(t, "a crash between two parts and the batch applied again", st, clean)
}

// crashBetweenParts is a go-redis hook that, once armed, crashes the
// private Redis back to mark right after the first pipeline that is a part
// of a step and not its last (it holds no step marker), then loads the
// scripts again, as another client of the same process would.
type crashBetweenParts struct {
	pipelinesOnly
	server   *testenv.Service
	mark     testenv.AOFMark
	inflight string
	reload   func(context.Context) error

	armed, crashed atomic.Bool
}

func (h *crashBetweenParts) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if !h.armed.Load() || writesMarker(cmds, h.inflight) || !h.armed.CompareAndSwap(true, false) {
			return err
		}
		h.server.CrashBackTo(h.mark)
		if rerr := h.reload(ctx); rerr != nil {
			return fmt.Errorf("loading the scripts after the crash: %w", rerr)
		}
		h.crashed.Store(true)
		return err
	}
}

// TestACustomersTombstoneExpiresAndAReturnKeepsItsState: a write that
// empties a customer (its histories aged out or erased) leaves its fences
// with a time to live; the customer's next purchase keeps its state for
// good; and a write to a live customer neither sets a time to live nor
// needs one removed (writeCustomersScript asks PERSIST only of a hash whose
// fields it created).
func TestACustomersTombstoneExpiresAndAReturnKeepsItsState(t *testing.T) {
	testenv.ForEachRedis(t, testACustomersTombstoneExpiresAndAReturnKeepsItsState)
}

func testACustomersTombstoneExpiresAndAReturnKeepsItsState(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	key := st.Keys().Customer("c1")
	ttl := func(when string) time.Duration {
		t.Helper()
		d, err := st.Client().PTTL(ctx, key).Result()
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		return d
	}
	held := func(when string) []string {
		t.Helper()
		c, err := st.Customers.Load(ctx, []string{"c1"})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		return c["c1"].Purchases.Items
	}
	off := purchases(t, st, 0, [2]string{"c1", "milk"}, [2]string{"c1", "bread"})
	if d := ttl("after the first purchases"); d != -1 {
		t.Fatalf("a live customer has a time to live of %s, want none", d)
	}
	off = purchases(t, st, off, [2]string{"c1", "eggs"})
	if d, got := ttl("after another purchase"), held("after another purchase"); d != -1 || len(got) != 3 {
		t.Fatalf("after another purchase: time to live %s, holds %v; want none and 3 items", d, got)
	}
	// The customer's histories are emptied, in a batch of someone else's
	// purchase (as a sweep would): the hash keeps only its fences, and
	// expires.
	b, updates, last := purchaseBatch(t, st, off, [2]string{"c2", "tea"})
	updates = append(updates, store.CustomerUpdate{ID: "c1", Offset: last})
	if err := st.Batches.Apply(ctx, b, updates, last, off-1); err != nil {
		t.Fatal(err)
	}
	off = last + 1
	if d := ttl("emptied"); d <= 0 {
		t.Fatalf("an emptied customer has time to live %s, want its tombstone's", d)
	}
	if got := held("emptied"); len(got) != 0 {
		t.Fatalf("an emptied customer holds %v", got)
	}
	fields, err := st.Client().HKeys(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if slices.Contains([]string{schema.CustomerPurchases, schema.CustomerViews, schema.CustomerRecent, schema.CustomerEver}, f) {
			t.Errorf("the tombstone holds state field %q (all: %v)", f, fields)
		}
	}
	// The customer returns: the state is kept for good.
	purchases(t, st, off, [2]string{"c1", "jam"})
	if d, got := ttl("returned"), held("returned"); d != -1 || len(got) != 1 || got[0] != "jam" {
		t.Fatalf("a returning customer: time to live %s, holds %v; want none and [jam]", d, got)
	}
}
