package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// TestAMarkDuringRescoreKeepsTheItemDirty: a change that lands after the
// re-scorer read the dirty set is not lost when it clears what it did.
func TestAMarkDuringRescoreKeepsTheItemDirty(t *testing.T) {
	testenv.ForEachRedis(t, testAMarkDuringRescoreKeepsTheItemDirty)
}

func testAMarkDuringRescoreKeepsTheItemDirty(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	testenv.MarkDirty(t, env.Store, 1, "a", "b")
	read, err := env.Store.Dirty.Claim(ctx, 10, time.Now().Add(time.Hour), "me", time.Minute)
	if err != nil || len(read) != 2 {
		t.Fatalf("dirty items %v, %v", read, err)
	}
	testenv.MarkDirty(t, env.Store, 2, "a") // lands while a and b are being re-scored
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
	if n, oldest, err := env.Store.Dirty.Backlog(ctx); err != nil || n != 1 || !oldest.Equal(readAt) {
		t.Fatalf("backlog %d, oldest %s (%v); want 1 marked at the read %s", n, oldest, err, readAt)
	}
}

// TestClaimsShareDirtyItems: two re-scorers never get the same item while
// a claim lasts, and an item whose claimer died is claimed again once the
// claim expires.
func TestClaimsShareDirtyItems(t *testing.T) {
	testenv.ForEachRedis(t, testClaimsShareDirtyItems)
}

func testClaimsShareDirtyItems(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	testenv.MarkDirty(t, env.Store, 1, "a", "b", "c", "d", "e")
	far := time.Now().Add(time.Hour)
	first, err := env.Store.Dirty.Claim(ctx, 3, far, "one", time.Minute)
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
	// "one" claims its items once more, for a moment, and dies without
	// clearing: a claim lasts its lease from the last claim, then expires.
	if renewed, err := env.Store.Dirty.Claim(ctx, 10, far, "one", 50*time.Millisecond); err != nil || len(renewed) != 3 {
		t.Fatalf("one renews its claims: %v, %v; want its 3 items", renewed, err)
	}
	var taken []store.DirtyItem
	for deadline := time.Now().Add(30 * time.Second); len(taken) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dead owner's claims did not expire in 30s")
		}
		if taken, err = env.Store.Dirty.Claim(ctx, 10, far, "three", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if len(taken) != 3 {
		t.Fatalf("after the dead owner's claims expired: %v; want its 3 items", taken)
	}
	if err := env.Store.Dirty.Clear(ctx, append(taken, second...), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, _, err := env.Store.Dirty.Backlog(ctx); err != nil || n != 0 {
		t.Fatalf("backlog %d, %v after clearing everything", n, err)
	}
	for s := range schema.Shards {
		if n, err := env.Store.Client().HLen(ctx, env.Store.Keys().DirtyClaims(s)).Result(); err != nil || n != 0 {
			t.Fatalf("shard %d: %d claims left after clearing (%v): claims must not leak", s, n, err)
		}
	}
}

// TestClaimTakesTheOldestAcrossShards: the dirty set is sharded by item
// (schema.Shards), and a claim still takes the oldest marks of them all,
// oldest first, whichever shards hold them.
func TestClaimTakesTheOldestAcrossShards(t *testing.T) {
	testenv.ForEachRedis(t, testClaimTakesTheOldestAcrossShards)
}

func testClaimTakesTheOldestAcrossShards(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	// Items in as many shards as possible, marked one millisecond apart,
	// the youngest first so that no shard's order matches the marks'.
	var items []string
	seen := map[int]bool{}
	for i := 0; len(items) < 12; i++ {
		it := "x" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if s := schema.ItemShard(it); !seen[s] {
			seen[s] = true
			items = append(items, it)
		}
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i, it := range items {
		at := base.Add(time.Duration(len(items)-i) * time.Millisecond)
		if err := env.Store.Dirty.Mark(ctx, []store.ListRef{{Kind: store.Bought, Item: it}}, at); err != nil {
			t.Fatal(err)
		}
	}
	got, err := env.Store.Dirty.Claim(ctx, 4, time.Now(), "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Item)
	}
	if want := []string{items[11], items[10], items[9], items[8]}; !slices.Equal(names, want) {
		t.Fatalf("claimed %v, want the four oldest %v, oldest first", names, want)
	}
	if n, oldest, err := env.Store.Dirty.Backlog(ctx); err != nil || n != int64(len(items)) || !oldest.Equal(base.Add(time.Millisecond)) {
		t.Fatalf("backlog %d, oldest %s (%v); want %d, %s", n, oldest, err, len(items), base.Add(time.Millisecond))
	}
}

// TestARecentlyRescoredListWaitsDirty: ClaimDue leaves a list re-scored
// after its cut-off in the dirty set, marked, for a later claim (the
// per-list rate limit); a list with no recent re-score is due however
// fresh its mark, and Claim, the drain's, takes every list.
func TestARecentlyRescoredListWaitsDirty(t *testing.T) {
	testenv.ForEachRedis(t, testARecentlyRescoredListWaitsDirty)
}

func testARecentlyRescoredListWaitsDirty(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	far := time.Now().Add(time.Hour)
	rescoredAt := time.Now().Truncate(time.Millisecond)
	testenv.MarkDirty(t, env.Store, 1, "a")
	first, err := env.Store.Dirty.ClaimDue(ctx, 10, far, rescoredAt.Add(-time.Second), "me", time.Minute)
	if err != nil || len(first) != 1 {
		t.Fatalf("a list never re-scored: claimed %v, %v; want it at once", first, err)
	}
	if err := env.Store.Dirty.Clear(ctx, first, rescoredAt); err != nil {
		t.Fatal(err)
	}
	testenv.MarkDirty(t, env.Store, 2, "a", "b") // a again, b for the first time
	for _, tc := range []struct {
		name           string
		rescoredBefore time.Time
		want           []string
	}{
		{"a re-scored after the cut-off waits", rescoredAt.Add(-time.Millisecond), []string{"b"}},
		{"a re-scored at the cut-off is due", rescoredAt, []string{"a", "b"}}, // b: the claim is this owner's
	} {
		got, err := env.Store.Dirty.ClaimDue(ctx, 10, far, tc.rescoredBefore, "me", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var items []string
		for _, d := range got {
			items = append(items, d.Item)
		}
		slices.Sort(items)
		if !slices.Equal(items, tc.want) {
			t.Fatalf("%s: claimed %v, want %v", tc.name, items, tc.want)
		}
		// Waiting lists stay dirty: the backlog counts them until cleared.
		if n, _, err := env.Store.Dirty.Backlog(ctx); err != nil || n != 2 {
			t.Fatalf("%s: backlog %d (%v), want 2: claimed lists stay dirty until cleared", tc.name, n, err)
		}
	}
	// The last claim forgot the re-score at its cut-off: nothing is left
	// to wait for.
	recent := env.Store.Keys().DirtyRecent(schema.ItemShard("a"))
	if n, err := env.Store.Client().ZCard(ctx, recent).Result(); err != nil || n != 0 {
		t.Fatalf("recent set holds %d (%v) after a claim past every re-score", n, err)
	}
	// A drain's claim ignores the rate limit: a re-scored again is taken.
	a := redis.Z{Score: float64(far.UnixMilli()), Member: schema.DirtyMember(schema.Bought, "a")}
	if err := env.Store.Client().ZAdd(ctx, recent, a).Err(); err != nil {
		t.Fatal(err)
	}
	all, err := env.Store.Dirty.Claim(ctx, 10, far, "me", time.Minute)
	if err != nil || len(all) != 2 {
		t.Fatalf("drain claimed %v, %v; want both dirty lists", all, err)
	}
}

// TestWaitingListsDoNotHideADueOne: however many lists wait for their
// rate limit ahead of it, a due list is claimed.
func TestWaitingListsDoNotHideADueOne(t *testing.T) {
	testenv.ForEachRedis(t, testWaitingListsDoNotHideADueOne)
}

func testWaitingListsDoNotHideADueOne(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	far := time.Now().Add(time.Hour)
	hot := make([]string, 40) // more than a claim of 1 scanned in pages of 2n
	for i := range hot {
		hot[i] = fmt.Sprintf("a%02d", i)
	}
	testenv.MarkDirty(t, env.Store, 1, hot...)
	rescoredAt := time.Now()
	all, err := env.Store.Dirty.Claim(ctx, len(hot)*3, far, "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.Dirty.Clear(ctx, all, rescoredAt); err != nil {
		t.Fatal(err)
	}
	testenv.MarkDirty(t, env.Store, 2, hot...) // they wait for their re-score to age
	testenv.MarkDirty(t, env.Store, 3, "z")    // marked after them, never re-scored
	got, err := env.Store.Dirty.ClaimDue(ctx, 1, far, rescoredAt.Add(-time.Second), "me", time.Minute)
	if err != nil || len(got) != 1 || got[0].Item != "z" {
		t.Fatalf("claimed %v (%v); want the due z behind %d waiting lists", got, err, len(hot))
	}
}
