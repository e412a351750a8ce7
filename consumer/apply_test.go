package consumer

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/lab/verify"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// crashingStore is the real store, except that its writes stop after the
// counter step, as a process killed between the steps would.
type crashingStore struct {
	*store.Batches
	st      *store.Store
	crashes *int // writes stopped so far: a test checks that its crashes happened
}

func (c crashingStore) ApplyMany(ctx context.Context, writes []store.BatchWrite) error {
	*c.crashes++
	for _, w := range writes {
		// The first step records how far the batch reaches, as the real
		// one does, so that sweeps wait for it.
		field := schema.ClockField(schema.ClockAttempted, w.Batch.Partition)
		if err := c.st.Client().HSet(ctx, c.st.Keys().Clock, field, w.LastOffset).Err(); err != nil {
			return err
		}
		// Then only the counter changes and dirty marks: no customers, no
		// progress.
		if err := c.st.Batches.Apply(ctx, w.Batch, nil, -1, w.Recorded); err != nil {
			return err
		}
	}
	return nil
}

// messages puts the events on partition 0 and, like a producer that
// retries, appends about one event in ten a second time a few messages
// later (same event id, new offset).
func messages(r *rand.Rand, evs []event.Event) []kafka.Message {
	var order []event.Event
	var pending []event.Event
	for _, e := range evs {
		order = append(order, e)
		if r.IntN(10) == 0 {
			pending = append(pending, e)
		}
		if len(pending) > 0 && r.IntN(3) == 0 {
			order = append(order, pending[0])
			pending = pending[1:]
		}
	}
	order = append(order, pending...)
	msgs := make([]kafka.Message, len(order))
	for i, e := range order {
		msgs[i] = kafka.Message{Partition: 0, Offset: int64(i), Key: []byte(e.CustomerID), Value: event.Encode(e)}
	}
	return msgs
}

func randomEvents(r *rand.Rand, n int) []event.Event {
	evs := make([]event.Event, n)
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		evs[i] = event.Event{ID: "e" + strconv.Itoa(i), Type: event.Purchase,
			CustomerID: "c" + strconv.Itoa(r.IntN(25)),
			ItemID:     "i" + strconv.Itoa(int(40*r.Float64()*r.Float64())),
			Time:       t0.Add(time.Duration(i) * time.Minute)}
	}
	return evs
}

// TestReplaysAndCrashesLeaveOneCleanPass drives the applier against the real
// Redis scripts: batches cut at random, crashes between the counter step and
// the customer step, pipelines retried whole, replays of already-applied
// ranges with other boundaries and events appended twice by a retrying
// producer all end equal to the oracle of one clean pass. A re-scorer runs
// between the batches, and with ageing (seeds 3 and 4: histories keep an
// hour of a ten-hour stream) it forgets the items whose state aged out
// (docs/DESIGN.md §10) while crashes and replays go on around it.
func TestReplaysAndCrashesLeaveOneCleanPass(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		age := time.Duration(0)
		if seed > 2 {
			age = time.Hour
		}
		t.Run("seed="+strconv.FormatUint(seed, 10)+"/age="+age.String(), func(t *testing.T) {
			testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) { replaysAndCrashes(t, env, seed, age) })
		})
	}
}

// drainer returns a function that re-scores every dirty list.
func drainer(t *testing.T, st *store.Store) func() {
	rs, err := rescore.New(rescore.Config{}, rescore.StateOf(st), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := rs.DrainDirty(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func replaysAndCrashes(t *testing.T, env *testenv.Env, seed uint64, age time.Duration) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 99))
	const k = 4 // small K_hist: histories evict
	evs := randomEvents(r, 600)
	msgs := messages(r, evs)
	lim := event.DefaultLimits(time.Now())
	drain := drainer(t, env.Store)
	good := applier{store: env.Store.Batches, retention: delta.Retention{Purchases: k, MaxAge: age}, dedup: delta.DefaultDedup, limits: lim, maxSkew: time.Hour}
	crashing, crashes, crashed := good, 0, 0
	crashing.store = crashingStore{env.Store.Batches, env.Store, &crashes}
	run := func(a applier, from, to int) {
		valid, bad := a.decode(msgs[from:to])
		if len(bad) > 0 {
			t.Fatalf("unexpected bad events: %v", bad[0].Err)
		}
		if _, err := a.apply(ctx, 0, valid, int64(to-1), -1, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	for applied := 0; applied < len(msgs); {
		end := min(len(msgs), applied+1+r.IntN(60))
		switch r.IntN(4) {
		case 0: // crash after the counters, then restart from progress
			run(crashing, applied, end)
			crashed++
			sweep(t, env.Store, age) // must wait until the batch is applied again
			continue
		case 1: // a client retries the whole batch
			run(good, applied, end)
			run(good, applied, end)
		case 2: // a rebalance re-delivers an already-applied range
			run(good, applied, end)
			back := r.IntN(end)
			run(good, back, back+1+r.IntN(end-back))
		default:
			run(good, applied, end)
		}
		if r.IntN(2) == 0 {
			drain()
		}
		applied = end
		if r.IntN(3) == 0 {
			sweep(t, env.Store, age)
		}
	}
	if crashes != crashed || crashed == 0 {
		t.Fatalf("%d writes crashed, want %d (at least one): the crashing store did not stand in the write", crashes, crashed)
	}
	expectOneCleanPass(t, env.Store, evs, k, age, int64(len(msgs)-1))
	expectForgotten(t, env, evs, age)
}

// expectForgotten fails unless, with ageing, some item of evs has no
// counter left and has been forgotten: on a single Redis its purchase row
// is gone (in a cluster its fences stay).
func expectForgotten(t *testing.T, env *testenv.Env, evs []event.Event, age time.Duration) {
	t.Helper()
	if age == 0 {
		return
	}
	ctx := context.Background()
	var items []string
	for _, e := range evs {
		items = append(items, e.ItemID)
	}
	slices.Sort(items)
	items = slices.Compact(items)
	rows, err := env.Store.Lists.ReadRows(ctx, store.Bought, items, 0)
	if err != nil {
		t.Fatal(err)
	}
	forgotten := 0
	for i, it := range items {
		if rows.Counted(i) {
			continue
		}
		forgotten++
		if env.RedisMode == store.Cluster {
			continue
		}
		if n, err := env.Store.Client().Exists(ctx, env.Store.Keys().Row(store.Bought, it)).Result(); err != nil || n != 0 {
			t.Errorf("%s has no counter left and still has its row (err %v)", it, err)
		}
	}
	if forgotten == 0 {
		t.Fatalf("no item of %d aged out of every history: the case checks no forgetting", len(items))
	}
	t.Logf("%d of %d items forgotten", forgotten, len(items))
}

// pausedStore is the real store, except that before its first write
// it runs meanwhile: the consumer has loaded its customers and computed its
// changes, then stalls (a GC pause, a network partition) while the
// partition moves to a new owner.
type pausedStore struct {
	*store.Batches
	meanwhile func()
}

func (p *pausedStore) ApplyMany(ctx context.Context, writes []store.BatchWrite) error {
	if p.meanwhile != nil {
		p.meanwhile()
		p.meanwhile = nil
	}
	return p.Batches.ApplyMany(ctx, writes)
}

// TestZombieConsumerChangesNothing: a consumer that lost its partition in a
// rebalance but still writes the batch it computed from the old state (its
// customer histories are stale by then) changes nothing: the new owner's
// counters, customers and progress stand. With ageing, the items whose
// state the new owner's batches aged out are forgotten (their rows
// deleted) before the zombie writes: its changes to them must stay out too.
func TestZombieConsumerChangesNothing(t *testing.T) {
	for _, age := range []time.Duration{0, time.Hour} {
		t.Run("age="+age.String(), func(t *testing.T) {
			testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) { testZombieConsumerChangesNothing(t, env, age) })
		})
	}
}

func testZombieConsumerChangesNothing(t *testing.T, env *testenv.Env, age time.Duration) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	const k = 4
	evs := randomEvents(r, 400)
	msgs := messages(r, evs)
	lim := event.DefaultLimits(time.Now())
	drain := drainer(t, env.Store)
	owner := applier{store: env.Store.Batches, retention: delta.Retention{Purchases: k, MaxAge: age}, dedup: delta.DefaultDedup, limits: lim, maxSkew: time.Hour}
	run := func(a applier, from, to int) {
		t.Helper()
		valid, _ := a.decode(msgs[from:to])
		if _, err := a.apply(ctx, 0, valid, int64(to-1), -1, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	half := len(msgs) / 2
	run(owner, 0, half)
	zombie := owner
	paused := &pausedStore{Batches: env.Store.Batches, meanwhile: func() {
		run(owner, half, len(msgs)) // the new owner applies everything from the progress on
		drain()                     // and its lists are re-scored
	}}
	zombie.store = paused
	run(zombie, half, half+80) // computed from the state before the new owner's writes
	if paused.meanwhile != nil {
		t.Fatal("the zombie's write did not pause: the paused store did not stand in the write")
	}

	expectOneCleanPass(t, env.Store, evs, k, age, int64(len(msgs)-1))
	expectForgotten(t, env, evs, age)
}

// expectOneCleanPass re-scores every list and fails unless the state equals
// the oracle of one clean pass over evs and partition 0's progress is last.
// testLateness is the allowed lateness of these tests' sweeps: messages()
// delays a few events by minutes, far less.
const testLateness = 2 * time.Hour

// sweep runs partition 0's ageing sweeps as its owner would between
// batches (nothing without an age).
func sweep(t *testing.T, st *store.Store, age time.Duration) {
	t.Helper()
	if age == 0 {
		return
	}
	ctx := context.Background()
	progress, err := st.Batches.Progress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recorded, ok := progress[0]
	if !ok {
		recorded = -1
	}
	c := &Consumer{cfg: Config{HistoryMaxAge: age, AllowedLateness: testLateness},
		apply: applier{store: st.Batches}, sweeps: st.Sweeps}
	if err := c.sweep(ctx, &partitionSweeper{partition: 0}, recorded); err != nil {
		t.Fatal(err)
	}
}

// expectOneCleanPass sweeps as the stream does once it is idle, re-scores
// every list and compares the state with the oracle of one clean pass.
func expectOneCleanPass(t *testing.T, st *store.Store, evs []event.Event, k int, age time.Duration, last int64) {
	t.Helper()
	ctx := context.Background()
	sweep(t, st, age)
	rs, err := rescore.New(rescore.Config{}, rescore.StateOf(st), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.RescoreAll(ctx); err != nil {
		t.Fatal(err)
	}
	snap, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := oracle.Build(evs, oracle.Settings{HistorySize: k, Dedup: delta.DefaultDedup, HistoryMaxAge: age, AllowedLateness: testLateness})
	if report := verify.Compare(want, snap, scoring.DefaultMethod, scoring.DefaultListRules()); !report.OK() {
		t.Fatalf("state differs from one clean pass:\n%s", report)
	}
	if snap.Progress[0] != last {
		t.Fatalf("progress %d, want %d", snap.Progress[0], last)
	}
}

// TestLostWritesAreDetected: when Redis comes back with an older progress
// than the consumer saw acknowledged (it lost a suffix of writes), the next
// batch writes nothing and says where to re-read from.
func TestLostWritesAreDetected(t *testing.T) {
	testenv.ForEachRedis(t, testLostWritesAreDetected)
}

func testLostWritesAreDetected(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 5))
	msgs := messages(r, randomEvents(r, 150))
	a := applier{store: env.Store.Batches, retention: delta.Retention{Purchases: 4}, dedup: delta.DefaultDedup, limits: event.DefaultLimits(time.Now()), maxSkew: time.Hour}
	valid, _ := a.decode(msgs[:100])
	if _, err := a.apply(ctx, 0, valid, 99, -1, 0, false); err != nil {
		t.Fatal(err)
	}
	// As after a crash that lost the last acknowledged batches.
	if err := env.Store.Client().HSet(ctx, env.Store.Keys().Progress, "0", 49).Err(); err != nil {
		t.Fatal(err)
	}
	valid, _ = a.decode(msgs[100:])
	_, err := a.apply(ctx, 0, valid, int64(len(msgs)-1), 99, 0, false)
	var lost *store.ProgressLostError
	if !errors.As(err, &lost) || lost.Stored != 49 || lost.Recorded != 99 {
		t.Fatalf("want store.ProgressLostError{49, 99}, got %v", err)
	}
	progress, err := env.Store.Batches.Progress(ctx)
	if err != nil || progress[0] != 49 {
		t.Fatalf("progress %v (%v): the batch must not move it past the gap", progress, err)
	}
}

// TestLateEventsAreCountedAndApplied: an event older than the watermark
// less the allowed lateness (docs/DESIGN.md section 10) is late: it is
// counted, and applied against the customer's current histories, whatever
// a sweep removed from them.
func TestLateEventsAreCountedAndApplied(t *testing.T) {
	env := testenv.NewRedis(t)
	ctx := context.Background()
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	evs := []event.Event{
		{ID: "1", Type: event.Purchase, CustomerID: "c", ItemID: "a", Time: t0},
		{ID: "2", Type: event.Purchase, CustomerID: "c", ItemID: "b", Time: t0.Add(2 * time.Hour)}, // ages a out
		{ID: "3", Type: event.Purchase, CustomerID: "c", ItemID: "z", Time: t0.Add(30 * time.Minute)},
	}
	msgs := make([]kafka.Message, len(evs))
	for i, e := range evs {
		msgs[i] = kafka.Message{Offset: int64(i), Key: []byte(e.CustomerID), Value: event.Encode(e)}
	}
	a := applier{store: env.Store.Batches, retention: delta.Retention{Purchases: 10, Views: 10, MaxAge: time.Hour},
		dedup: delta.DefaultDedup, limits: event.DefaultLimits(time.Now()), maxSkew: time.Hour}
	valid, bad := a.decode(msgs)
	if len(bad) > 0 {
		t.Fatalf("rejected %v", bad)
	}
	lateBefore := t0.Add(time.Hour).UnixMilli() // the watermark less the allowed lateness
	res, err := a.apply(ctx, 0, valid, 2, -1, lateBefore, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Late != 2 || res.Applied[event.Purchase] != 3 {
		t.Fatalf("late %d, applied %v: want the events at t0 and t0+30m late, and all three applied", res.Late, res.Applied)
	}
	got, err := env.Store.Customers.Load(ctx, []string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	// z, 30 minutes after a, holds b (its own clock keeps what is an hour
	// old or younger), so the history is b then z: the late event saw b.
	if h := got["c"].Purchases; len(h.Items) != 2 || h.Items[0] != "b" || h.Items[1] != "z" {
		t.Fatalf("history %v, want [b z]", h.Items)
	}
}
