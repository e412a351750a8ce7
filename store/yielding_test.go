package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// TestBackgroundPipelinesTakeTurnsAndReadsDoNot: while the store itself
// reads, the pipelines of a Yielding view run at most its turns at a time,
// all callers together, and the reads go straight to Redis; a background
// caller that gives up waits no longer. Without recent reads the view
// limits nothing.
func TestBackgroundPipelinesTakeTurnsAndReadsDoNot(t *testing.T) {
	testenv.ForEachRedis(t, testBackgroundPipelinesTakeTurnsAndReadsDoNot)
}

// background marks the contexts of the pipelines the hook holds.
type background struct{}

// holdHook holds every pipeline of customer reads whose context is marked
// background until release is closed, and records how many it held at once.
// (A new connection's handshake is a pipeline too, with the same context.)
type holdHook struct {
	pipelinesOnly
	release chan struct{}
	entered chan struct{} // a value per held pipeline
	in, max atomic.Int64
}

func (h *holdHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(background{}) == nil || cmds[0].Name() != "hgetall" {
			return next(ctx, cmds)
		}
		n := h.in.Add(1)
		for m := h.max.Load(); n > m && !h.max.CompareAndSwap(m, n); m = h.max.Load() {
		}
		h.entered <- struct{}{}
		<-h.release
		defer h.in.Add(-1)
		return next(ctx, cmds)
	}
}

func testBackgroundPipelinesTakeTurnsAndReadsDoNot(t *testing.T, env *testenv.Env) {
	const callers = 6
	// held starts the callers through bg and waits until the hook holds
	// want of them.
	held := func(bg *store.Store, hook *holdHook, want int64) (wait func() []error) {
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), background{}, true), 2*time.Minute)
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = bg.Customers.Load(ctx, []string{"c1"})
			}()
		}
		for range want {
			select {
			case <-hook.entered:
			case <-ctx.Done():
				t.Fatalf("%d of %d background pipelines reached Redis", len(hook.entered), want)
			}
		}
		return func() []error { wg.Wait(); cancel(); return errs }
	}

	for _, turns := range []int64{1, 2} {
		hook := &holdHook{release: make(chan struct{}), entered: make(chan struct{}, 2*callers)}
		st := openStore(t, env, env.Prefix, hook)
		bg := st.Yielding(int(turns), time.Hour)
		if _, err := st.Customers.Load(context.Background(), []string{"c2"}); err != nil {
			t.Fatal(err)
		}
		wait := held(bg, hook, turns)

		// A read through the store itself passes the held turns.
		if _, err := st.Customers.Load(context.Background(), []string{"c1"}); err != nil {
			t.Fatalf("turns %d: a read while the background pipelines wait: %v", turns, err)
		}
		// A background caller that gives up gets its context's error.
		gone, stop := context.WithCancel(context.Background())
		stop()
		if _, err := bg.Customers.Load(gone, []string{"c1"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("turns %d: a cancelled background read waiting for a turn = %v, want context.Canceled", turns, err)
		}
		if got := hook.in.Load(); got != turns {
			t.Fatalf("turns %d: %d background pipelines in Redis while the turns are held", turns, got)
		}

		close(hook.release)
		for _, err := range wait() {
			if err != nil {
				t.Fatalf("turns %d: a background read once its turn came: %v", turns, err)
			}
		}
		if got := hook.max.Load(); got != turns {
			t.Errorf("turns %d: at most %d background pipelines ran at once, want %d", turns, got, turns)
		}
		if got := len(hook.entered); got != callers-int(turns) {
			t.Errorf("turns %d: %d pipelines ran after the first turns, want %d", turns, got, callers-int(turns))
		}
		if bg.TurnsWaited() <= 0 || st.TurnsWaited() != 0 {
			t.Errorf("turns %d: the view's callers waited %v, the store's %v; want some, and none", turns, bg.TurnsWaited(), st.TurnsWaited())
		}
	}

	// Nobody reads: first a store that never read, then one whose last
	// read is older than the view's window. Every caller reaches Redis at
	// once.
	for _, readFirst := range []bool{false, true} {
		hook := &holdHook{release: make(chan struct{}), entered: make(chan struct{}, 2*callers)}
		st := openStore(t, env, env.Prefix, hook)
		const window = 10 * time.Millisecond
		bg := st.Yielding(1, window)
		if readFirst {
			if _, err := st.Customers.Load(context.Background(), []string{"c2"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * window)
		}
		wait := held(bg, hook, callers)
		close(hook.release)
		for _, err := range wait() {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := env.Store; st.Yielding(0, time.Hour) != st {
		t.Error("Yielding(0) is not the store itself")
	}
}

// TestABackgroundPipelineGoesInPartsWhileReadsRun: while the store itself
// reads, a long pipeline of a Yielding view reaches Redis in parts, so
// that the reads queued behind one part run before the next: the first of
// 8 commands, each next one at most one command longer (shorter after a
// slow one). Its results are those of one pipeline, in order.
func TestABackgroundPipelineGoesInPartsWhileReadsRun(t *testing.T) {
	testenv.ForEachRedis(t, testABackgroundPipelineGoesInPartsWhileReadsRun)
}

// sizesHook records the length of every pipeline of customer reads, or
// with all of every pipeline but a new connection's handshake.
type sizesHook struct {
	pipelinesOnly
	all   bool
	mu    sync.Mutex
	sizes []int
}

func (h *sizesHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if name := cmds[0].Name(); name == "hgetall" || h.all && name != "hello" && name != "client" && name != "auth" {
			h.mu.Lock()
			h.sizes = append(h.sizes, len(cmds))
			h.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}

func testABackgroundPipelineGoesInPartsWhileReadsRun(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	hook := &sizesHook{}
	st := openStore(t, env, env.Prefix, hook)
	var ids []string
	for i := range 100 {
		id := fmt.Sprintf("parts-%d", i)
		ids = append(ids, id)
		h := delta.History{Items: []string{fmt.Sprintf("item-%d", i)}, Times: []int64{int64(i + 1)}, Seqs: []int64{1}}
		if err := st.Client().HSet(ctx, st.Keys().Customer(id), schema.CustomerPurchases, h.Encode()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, id := range ids {
			st.Client().Del(ctx, st.Keys().Customer(id))
		}
	})

	want, err := st.Customers.Load(ctx, ids) // a read: the view takes turns from now on
	if err != nil {
		t.Fatal(err)
	}
	hook.sizes = nil
	got, err := st.Yielding(1, time.Hour).Customers.Load(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !equalJSON(t, got, want) {
		t.Fatalf("read in parts:\n%v\nwant %v", got, want)
	}
	// In a cluster the hook sees each part's pipeline to each master.
	cluster := env.StoreConfig().Mode == store.Cluster
	total := 0
	for i, n := range hook.sizes {
		if cluster && n > 8+i {
			t.Errorf("pipelines of %v commands: want parts of at most 8 commands, then one more each", hook.sizes)
		}
		if !cluster && ((i == 0 && n != 8) || (i > 0 && n > hook.sizes[i-1]+1)) {
			t.Errorf("parts of %v commands: want 8 first, then at most one more each", hook.sizes)
		}
		total += n
	}
	if total != len(ids) {
		t.Errorf("parts of %v commands: want %d in all", hook.sizes, len(ids))
	}
}

// TestABackgroundWriteGoesInPartsWhileReadsRun: while the store itself
// reads, a Yielding view's write steps reach Redis in parts too (in a
// cluster each master's share of a step, its WAIT in the last part), and
// write what the same steps write whole.
func TestABackgroundWriteGoesInPartsWhileReadsRun(t *testing.T) {
	testenv.ForEachRedis(t, testABackgroundWriteGoesInPartsWhileReadsRun)
}

func testABackgroundWriteGoesInPartsWhileReadsRun(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	var items []string
	for i := range 150 {
		items = append(items, fmt.Sprintf("parts-%d", i))
	}
	hook := &sizesHook{all: true}
	inParts := openStore(t, env, env.Prefix+"-parts", hook)
	whole := openStore(t, env, env.Prefix+"-whole", nil)
	if _, err := inParts.Customers.Load(ctx, []string{"c"}); err != nil { // a read: the view takes turns
		t.Fatal(err)
	}
	hook.mu.Lock()
	hook.sizes = nil
	hook.mu.Unlock()
	testenv.MarkDirty(t, inParts.Yielding(1, time.Hour), 1, items...)
	testenv.MarkDirty(t, whole, 1, items...)

	hook.mu.Lock()
	sizes := hook.sizes
	hook.mu.Unlock()
	for i, n := range sizes {
		if n > 8+i+1 { // a part, then one more command each, and a WAIT
			t.Fatalf("pipelines of %v commands: want parts of at most 8 commands, then one more each", sizes)
		}
	}
	got, _, err := inParts.Dirty.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := whole.Dirty.Backlog(ctx)
	if err != nil || want < int64(len(items)) || got != want {
		t.Fatalf("lists marked in parts %d, whole %d (%v); want the same, at least %d", got, want, err, len(items))
	}
}
