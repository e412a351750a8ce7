package rescore_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// markDirty writes a purchase of each item by its own new customer, which
// marks the item dirty the way the consumer does.
func markDirty(t *testing.T, st *store.Store, offset int64, items ...string) {
	t.Helper()
	b := delta.NewBatch(0)
	for _, it := range items {
		var h delta.History
		b.Purchase(&h, &delta.History{}, it, offset, 10)
	}
	if err := st.Batches.Apply(context.Background(), b, nil, offset, -1); err != nil {
		t.Fatal(err)
	}
}

func backlog(t *testing.T, st *store.Store) int64 {
	t.Helper()
	n, _, err := st.Dirty.Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAMarkDuringRescoreKeepsTheItemDirty: a change that lands after the
// re-scorer read the dirty set is not lost when it clears what it did.
func TestAMarkDuringRescoreKeepsTheItemDirty(t *testing.T) {
	env := testenv.NewRedis(t)
	ctx := context.Background()
	markDirty(t, env.Store, 1, "a", "b")
	read, err := env.Store.Dirty.Claim(ctx, 10, time.Now().Add(time.Hour), "me", time.Minute)
	if err != nil || len(read) != 2 {
		t.Fatalf("dirty items %v, %v", read, err)
	}
	markDirty(t, env.Store, 2, "a") // lands while a and b are being re-scored
	readAt := time.Now().Add(time.Second).Truncate(time.Millisecond)
	if err := env.Store.Dirty.Clear(ctx, read, readAt); err != nil {
		t.Fatal(err)
	}
	left, err := env.Store.Dirty.Claim(ctx, 10, time.Now().Add(time.Hour), "me", time.Minute)
	if err != nil || len(left) != 1 || left[0].Item != "a" {
		t.Fatalf("after clearing, dirty = %v (%v); want only a", left, err)
	}
	// Only the change after the read waits: a is first marked at the read,
	// so it is re-scored once per interval, not at every poll.
	if !left[0].Since.Equal(readAt) {
		t.Fatalf("a's first mark is %s, want the time of the read %s", left[0].Since, readAt)
	}
}

// TestClaimsShareDirtyItems: two re-scorers never get the same item while
// a claim lasts, and an item whose claimer died is claimed again once the
// claim expires.
func TestClaimsShareDirtyItems(t *testing.T) {
	env := testenv.NewRedis(t)
	ctx := context.Background()
	markDirty(t, env.Store, 1, "a", "b", "c", "d", "e")
	far := time.Now().Add(time.Hour)
	first, err := env.Store.Dirty.Claim(ctx, 3, far, "one", 300*time.Millisecond)
	if err != nil || len(first) != 3 {
		t.Fatalf("first claim: %v, %v", first, err)
	}
	second, err := env.Store.Dirty.Claim(ctx, 10, far, "two", time.Minute)
	if err != nil || len(second) != 2 {
		t.Fatalf("second claim: %v, %v; want the 2 items the first left", second, err)
	}
	seen := map[string]bool{}
	for _, d := range append(first, second...) {
		if seen[d.Item] {
			t.Fatalf("%s claimed twice", d.Item)
		}
		seen[d.Item] = true
	}
	if again, err := env.Store.Dirty.Claim(ctx, 10, far, "two", time.Minute); err != nil || len(again) != 2 {
		t.Fatalf("an owner claims its own items again (a retry after a failed round): %v, %v", again, err)
	}
	// "one" dies without clearing; its claims expire.
	time.Sleep(400 * time.Millisecond)
	taken, err := env.Store.Dirty.Claim(ctx, 10, far, "three", time.Minute)
	if err != nil || len(taken) != 3 {
		t.Fatalf("after the dead owner's claims expired: %v, %v; want its 3 items", taken, err)
	}
	if err := env.Store.Dirty.Clear(ctx, append(taken, second...), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _, err := env.Store.Dirty.Backlog(ctx); err != nil || n != 0 {
		t.Fatalf("backlog %d, %v after clearing everything", n, err)
	}
	if n, err := env.Store.Client().HLen(ctx, env.Store.Keys().DirtyClaims).Result(); err != nil || n != 0 {
		t.Fatalf("%d claims left after clearing (%v): claims must not leak", n, err)
	}
}

// TestLeaseRunsATaskOncePerTTL: of several instances, one holds a lease
// until it expires.
func TestLeaseRunsATaskOncePerTTL(t *testing.T) {
	env := testenv.NewRedis(t)
	ctx := context.Background()
	for _, tc := range []struct {
		owner string
		want  bool
	}{{"one", true}, {"two", false}, {"one", true}} {
		if got, err := env.Store.Leases.Try(ctx, "sweep", tc.owner, 300*time.Millisecond); err != nil || got != tc.want {
			t.Fatalf("Leases.Try(%s) = %v, %v; want %v", tc.owner, got, err, tc.want)
		}
	}
	time.Sleep(400 * time.Millisecond)
	if got, err := env.Store.Leases.Try(ctx, "sweep", "two", time.Minute); err != nil || !got {
		t.Fatalf("after expiry, two takes the lease: %v, %v", got, err)
	}
}

// TestRowsAreRescoredAtMostOncePerMinInterval: Run leaves a fresh mark alone
// until it is MinInterval old, then re-scores and clears it.
func TestRowsAreRescoredAtMostOncePerMinInterval(t *testing.T) {
	env := testenv.NewRedis(t)
	rs, err := rescore.New(rescore.Config{MinInterval: 2 * time.Second, PollInterval: 20 * time.Millisecond}, rescore.StateOf(env.Store), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rs.Run(ctx) }()
	defer func() { cancel(); <-done }()

	marked := time.Now()
	markDirty(t, env.Store, 1, "x")
	for backlog(t, env.Store) > 0 {
		if time.Since(marked) > 10*time.Second {
			t.Fatal("dirty item never re-scored")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if waited := time.Since(marked); waited < 2*time.Second {
		t.Fatalf("re-scored after %s, before the 2s minimum interval", waited)
	}
}

// TestStatsSayWhatTheRescorerDid: the figures the status page reads are
// the re-scorer's own: the lists it re-scored, one freshness observation
// per dirty mark it cleared, and the backlog its last poll read.
func TestStatsSayWhatTheRescorerDid(t *testing.T) {
	env := testenv.NewRedis(t)
	ctx := context.Background()
	markDirty(t, env.Store, 1, "a", "b", "c")
	rs, err := rescore.New(rescore.Config{PollInterval: 10 * time.Millisecond}, rescore.StateOf(env.Store), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := rs.Stats(); st.Rescored != 0 || st.BacklogKnown {
		t.Fatalf("stats before any work: %+v", st)
	}
	n, err := rs.DrainDirty(ctx)
	if err != nil || n < 3 {
		t.Fatalf("drained %d, %v; want at least the 3 marked items", n, err)
	}
	if st := rs.Stats(); st.Rescored != uint64(n) || st.Freshness.GetSampleCount() != uint64(n) {
		t.Fatalf("after re-scoring %d lists: %d re-scored, %d freshness observations", n, st.Rescored, st.Freshness.GetSampleCount())
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = rs.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(time.Minute)
	for !rs.Stats().BacklogKnown {
		if time.Now().After(deadline) {
			t.Fatal("no poll read the backlog in a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := rs.Stats(); st.DirtyItems != 0 {
		t.Fatalf("backlog %d after draining everything", st.DirtyItems)
	}
}
