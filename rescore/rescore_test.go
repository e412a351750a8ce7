package rescore_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/rescore"
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
	if err := st.ApplyBatch(context.Background(), b, nil, offset, -1); err != nil {
		t.Fatal(err)
	}
}

func backlog(t *testing.T, st *store.Store) int64 {
	t.Helper()
	n, _, err := st.DirtyBacklog(context.Background())
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
	read, err := env.Store.DirtyItems(ctx, 10, time.Now().Add(time.Hour))
	if err != nil || len(read) != 2 {
		t.Fatalf("dirty items %v, %v", read, err)
	}
	markDirty(t, env.Store, 2, "a") // lands while a and b are being re-scored
	if err := env.Store.ClearDirty(ctx, read); err != nil {
		t.Fatal(err)
	}
	left, err := env.Store.DirtyItems(ctx, 10, time.Now().Add(time.Hour))
	if err != nil || len(left) != 1 || left[0].Item != "a" {
		t.Fatalf("after clearing, dirty = %v (%v); want only a", left, err)
	}
}

// TestRowsAreRescoredAtMostOncePerMinInterval: Run leaves a fresh mark alone
// until it is MinInterval old, then re-scores and clears it.
func TestRowsAreRescoredAtMostOncePerMinInterval(t *testing.T) {
	env := testenv.NewRedis(t)
	rs, err := rescore.New(rescore.Config{MinInterval: 2 * time.Second, PollInterval: 20 * time.Millisecond}, env.Store, zerolog.Nop(), nil)
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
