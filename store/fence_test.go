package store_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// purchases applies one purchase per (customer, item) pair at consecutive
// offsets of partition 0, as the consumer would.
func purchases(t *testing.T, st *store.Store, from int64, pairs ...[2]string) int64 {
	t.Helper()
	ctx := context.Background()
	b := delta.NewBatch(0)
	ids := make([]string, 0, len(pairs))
	for _, p := range pairs {
		ids = append(ids, p[0])
	}
	customers, err := st.Customers.Load(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var updates []store.CustomerUpdate
	off := from
	for _, p := range pairs {
		c := customers[p[0]]
		b.Purchase(&c.Purchases, &c.Views, p[1], off, 10)
		customers[p[0]] = c
		updates = append(updates, store.CustomerUpdate{ID: p[0], Purchases: c.Purchases, Offset: off})
		off++
	}
	if err := st.Batches.Apply(ctx, b, updates, off-1, from-1); err != nil {
		t.Fatal(err)
	}
	return off
}

// TestStaleListNeverReplacesNewer: a re-scorer that read a row before a
// change (a slow or paused instance) loses to one that read it after.
func TestStaleListNeverReplacesNewer(t *testing.T) {
	env := testenv.NewRedis(t)
	st, ctx := env.Store, context.Background()
	off := purchases(t, st, 0, [2]string{"c1", "milk"}, [2]string{"c1", "bread"})
	old, err := st.Lists.ReadRows(ctx, store.Bought, []string{"milk"})
	if err != nil {
		t.Fatal(err)
	}
	purchases(t, st, off, [2]string{"c2", "milk"}, [2]string{"c2", "eggs"})
	fresh, err := st.Lists.ReadRows(ctx, store.Bought, []string{"milk"})
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
	again, err := st.Lists.ReadRows(ctx, store.Bought, []string{"milk"})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Rows[0].Candidates) != len(fresh.Rows[0].Candidates) || again.Revisions[0] != fresh.Revisions[0] {
		t.Fatalf("writing the list changed the row: %+v vs %+v", again, fresh)
	}
}

func TestStateRefusesOtherSettings(t *testing.T) {
	env := testenv.NewRedis(t)
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
}

// lossyProxy forwards TCP to Redis. While armed, it lets the next request
// that runs a script (the fenced writes) through to Redis, swallows the
// reply and drops the connection, as a network failure after Redis executed
// a pipeline would. go-redis then sends the whole pipeline again.
type lossyProxy struct {
	ln       net.Listener
	upstream string
	armed    atomic.Bool
	dropped  atomic.Int64
	wg       sync.WaitGroup
}

func newLossyProxy(t *testing.T, upstream string) *lossyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &lossyProxy{ln: ln, upstream: upstream}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *lossyProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.upstream)
		if err != nil {
			client.Close()
			continue
		}
		var dropReply atomic.Bool
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			defer server.Close()
			buf := make([]byte, 256<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					if bytes.Contains(bytes.ToLower(buf[:n]), []byte("evalsha")) && p.armed.CompareAndSwap(true, false) {
						dropReply.Store(true)
					}
					if _, werr := server.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer p.wg.Done()
			defer client.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 && dropReply.Load() {
					// Redis executed the pipeline; the client never hears.
					p.dropped.Add(1)
					server.Close()
					return
				}
				if n > 0 {
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// TestRetriedPipelineAppliesOnce: go-redis resends a whole pipeline when the
// connection breaks before the reply; the counters, customers and progress
// written through it must end as if it had been sent once.
func TestRetriedPipelineAppliesOnce(t *testing.T) {
	env := testenv.NewRedis(t)
	proxy := newLossyProxy(t, env.RedisAddr)
	viaProxy, err := store.New(store.Config{Addrs: []string{proxy.ln.Addr().String()}, Prefix: env.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer viaProxy.Close()
	ctx := context.Background()
	if err := viaProxy.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	pairs := [][2]string{{"c1", "milk"}, {"c1", "bread"}, {"c2", "milk"}, {"c2", "eggs"}, {"c1", "eggs"}, {"c3", "bread"}}
	off := int64(0)
	for i, p := range pairs {
		proxy.armed.Store(i%2 == 0) // every other batch loses its first reply
		off = purchases(t, viaProxy, off, p)
	}
	if proxy.dropped.Load() == 0 {
		t.Fatal("the proxy dropped no reply: the test did not exercise a retry")
	}
	// The same purchases applied once, directly, under another prefix.
	clean := testenv.NewRedis(t)
	off = 0
	for _, p := range pairs {
		off = purchases(t, clean.Store, off, p)
	}
	got, err := env.Store.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := clean.Store.State.Snapshot(ctx)
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
			t.Errorf("%s after retried pipelines: %v, one clean pass: %v", cmp.what, cmp.got, cmp.want)
		}
	}
	t.Logf("%d replies dropped and pipelines resent", proxy.dropped.Load())
}

// TestWritesRefuseAGap: a batch computed while Redis held progress 1 for
// its partition must not land once Redis came back holding less (it lost
// acknowledged writes between the read and the writes, hidden by a
// transparent reconnect): no counter, customer or progress moves.
func TestWritesRefuseAGap(t *testing.T) {
	env := testenv.NewRedis(t)
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
	b.Purchase(&h, &delta.History{}, "eggs", off, 10)
	err = st.Batches.Apply(ctx, b, []store.CustomerUpdate{{ID: "c1", Purchases: h, Offset: off}}, off, off-1)
	var lost *store.ProgressLostError
	if !errors.As(err, &lost) || lost.Stored != -1 || lost.Recorded != off-1 || !errors.Is(err, store.ErrProgressLost) {
		t.Fatalf("want ProgressLostError{stored -1, recorded %d}, got %v", off-1, err)
	}
	after, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after.Progress[0] = before.Progress[0] // the test itself moved it
	if !equalJSON(t, after.Bought, before.Bought) || !equalJSON(t, after.Histories, before.Histories) {
		t.Fatalf("a refused batch wrote: before %+v, after %+v", before, after)
	}
}

// forgetStep is a go-redis hook that, before the pipeline numbered at
// (counting from 1), deletes the in-flight markers: a Redis that restarted
// between two steps of a batch and lost the first.
type forgetStep struct {
	rdb      redis.UniversalClient
	inflight string
	at, n    int
}

func (f *forgetStep) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f *forgetStep) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (f *forgetStep) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if f.n++; f.n == f.at {
			if err := f.rdb.Del(ctx, f.inflight).Err(); err != nil {
				return err
			}
		}
		return next(ctx, cmds)
	}
}

// TestLostStepIsRefused: when the counter step of a batch is lost after
// Redis acknowledged it, the next step is refused with ErrBatchLost (a
// typed error, not a message to match), and neither the customers nor the
// progress move on top of the gap.
func TestLostStepIsRefused(t *testing.T) {
	env := testenv.NewRedis(t)
	st, ctx := env.Store, context.Background()
	off := purchases(t, st, 0, [2]string{"c1", "milk"})
	before, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := redis.NewClient(&redis.Options{Addr: env.RedisAddr})
	defer other.Close()
	// Pipeline 1 is the batch's counter step, 2 its customer step.
	st.Client().AddHook(&forgetStep{rdb: other, inflight: st.Keys().Inflight, at: 2})
	b := delta.NewBatch(0)
	h := delta.History{Items: []string{"milk"}}
	b.Purchase(&h, &delta.History{}, "eggs", off, 10)
	err = st.Batches.Apply(ctx, b, []store.CustomerUpdate{{ID: "c1", Purchases: h, Offset: off}}, off, off-1)
	if !errors.Is(err, store.ErrBatchLost) {
		t.Fatalf("want ErrBatchLost, got %v", err)
	}
	after, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, after.Histories, before.Histories) || !equalJSON(t, after.Progress, before.Progress) {
		t.Fatalf("a refused step wrote: histories %v then %v, progress %v then %v",
			before.Histories, after.Histories, before.Progress, after.Progress)
	}
}
