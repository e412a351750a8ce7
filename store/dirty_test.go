package store_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
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
	// Its items sit in several shards, whose claims a loaded machine may
	// renew (and so expire) some milliseconds apart: "three" claims until
	// it holds them all (a claim returns the owner's earlier ones too).
	var taken []store.DirtyItem
	for deadline := time.Now().Add(30 * time.Second); len(taken) < 3; time.Sleep(10 * time.Millisecond) {
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

// TestOnlyChangesThatCanMoveAListMarkIt: with the lists' min support set
// on the batch, a row is marked dirty only when its changes can move its
// list (docs/DESIGN.md §4, "What marks a list"): a candidate reaching the
// support, or a histogram bin. A new purchase by a customer holding 9
// items moves it inside log bin [8,9], so its held items' rows gain only a
// co-count of 1, below the support of 2, and wait for nothing; the item
// bought gains histogram bins, and an item that two customers' purchases
// bring to 2 co-buyers of it gains a listable candidate. A replay of the
// batch, whose counters were applied before, cannot tell and marks every
// dirty row.
func TestOnlyChangesThatCanMoveAListMarkIt(t *testing.T) {
	testenv.ForEachRedis(t, testOnlyChangesThatCanMoveAListMarkIt)
}

func testOnlyChangesThatCanMoveAListMarkIt(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	var setup [][2]string
	for i := range 9 {
		setup = append(setup, [2]string{"c1", "i" + strconv.Itoa(i)})
	}
	for i := range 8 {
		setup = append(setup, [2]string{"c2", "j" + strconv.Itoa(i)})
	}
	setup = append(setup, [2]string{"c2", "i0"})
	off := purchases(t, st, 0, setup...)
	claimDirty(t, st) // the set-up's marks

	b, updates, last := purchaseBatch(t, st, off, [2]string{"c1", "new"}, [2]string{"c2", "new"})
	b.MinSupport = scoring.DefaultListRules().MinSupport
	if err := st.Batches.Apply(ctx, b, updates, last, off-1); err != nil {
		t.Fatal(err)
	}
	if got, want := claimDirty(t, st), []string{"i0", "new"}; !slices.Equal(got, want) {
		t.Errorf("marked %v, want %v: only the rows whose list can move", got, want)
	}

	if err := st.Batches.Apply(ctx, b, nil, last, off-1); err != nil {
		t.Fatal(err)
	}
	want := []string{"new"}
	for _, p := range setup {
		if !slices.Contains(want, p[1]) {
			want = append(want, p[1])
		}
	}
	slices.Sort(want)
	if got := claimDirty(t, st); !slices.Equal(got, want) {
		t.Errorf("a replay marked %v, want every dirty row %v", got, want)
	}
}

// claimDirty claims and clears every dirty list of st and returns their
// items, sorted.
func claimDirty(t *testing.T, st *store.Store) []string {
	t.Helper()
	ctx := context.Background()
	items, err := st.Dirty.Claim(ctx, 1000, time.Now().Add(time.Hour), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Dirty.Clear(ctx, items, time.Now()); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Item)
	}
	slices.Sort(out)
	return out
}

// TestARowWithoutCandidatesIsNotMarkedByItsHistogram: in a state whose
// rows count their indexed co-counts, a row that had and has no candidate
// at the support keeps its empty list whatever its histogram does, and a
// write leaves it unmarked; a row with a candidate is marked by the same
// kind of change, and a row whose co-count reaches the support by that.
// With support 2: c1 and c2 hold x and y (each the other's candidate), c3
// holds a. Then c1 buys z and c3 buys b: every row touched gains a
// histogram change, but only x and y have a candidate. Then c4 buys a and
// b, which become each other's candidates. A state whose indexes were kept
// before the counts (no row_index_counts) marks every row, as before.
func TestARowWithoutCandidatesIsNotMarkedByItsHistogram(t *testing.T) {
	testenv.ForEachRedis(t, testARowWithoutCandidatesIsNotMarkedByItsHistogram)
}

func testARowWithoutCandidatesIsNotMarkedByItsHistogram(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	const support = 2
	setup := [][2]string{{"c1", "x"}, {"c1", "y"}, {"c2", "x"}, {"c2", "y"}, {"c3", "a"}}
	st := indexedState(t, env, support, nil, setup...)
	claimDirty(t, st) // the set-up's marks
	off := int64(len(setup))
	apply := func(st *store.Store, pairs ...[2]string) []string {
		t.Helper()
		b, updates, last := purchaseBatch(t, st, off, pairs...)
		b.MinSupport = support
		if err := st.Batches.Apply(ctx, b, updates, last, off-1); err != nil {
			t.Fatal(err)
		}
		off = last + 1
		return claimDirty(t, st)
	}
	if got, want := apply(st, [2]string{"c1", "z"}, [2]string{"c3", "b"}), []string{"x", "y"}; !slices.Equal(got, want) {
		t.Errorf("histogram changes marked %v, want %v: the rows with a candidate", got, want)
	}
	if got, want := apply(st, [2]string{"c4", "a"}, [2]string{"c4", "b"}), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("candidates reaching the support marked %v, want %v", got, want)
	}

	older := openStore(t, env, env.Prefix+"-older", nil)
	if err := older.Meta.EnsureWithRowIndexes(ctx, indexedSettings(support, 10), support); err != nil {
		t.Fatal(err)
	}
	if err := older.Client().HDel(ctx, older.Keys().Meta, schema.MetaRowIndexCounts).Err(); err != nil {
		t.Fatal(err)
	}
	older = openStore(t, env, env.Prefix+"-older", nil)
	if err := older.Meta.EnsureWithRowIndexes(ctx, indexedSettings(support, 10), support); err != nil {
		t.Fatal(err)
	}
	off = purchases(t, older, 0, setup...)
	claimDirty(t, older)
	if got, want := apply(older, [2]string{"c1", "z"}, [2]string{"c3", "b"}), []string{"a", "b", "x", "y", "z"}; !slices.Equal(got, want) {
		t.Errorf("without the counts, histogram changes marked %v, want every row %v", got, want)
	}
}

// TestThousandsOfListsPerShardAreMarkedClaimedAndClearedWhole: the
// dirty-set scripts write a shard's members with one command each, cut
// into chunks that Lua's unpack takes (4,000 arguments); with 140,000
// lists, about 4,400 per shard, every command of mark, claim and clear
// takes more than one chunk, and none may drop or repeat a member: every
// list is claimed once, and a clear keeps exactly those marked again
// during the re-score.
func TestThousandsOfListsPerShardAreMarkedClaimedAndClearedWhole(t *testing.T) {
	testenv.ForEachRedis(t, testThousandsOfListsPerShardAreMarkedClaimedAndClearedWhole)
}

func testThousandsOfListsPerShardAreMarkedClaimedAndClearedWhole(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	const n = 140_000
	lists := make([]store.ListRef, n)
	for i := range lists {
		lists[i] = store.ListRef{Kind: store.Bought, Item: "w" + strconv.Itoa(i)}
	}
	if err := env.Store.Dirty.Mark(ctx, lists, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	claimed, err := env.Store.Dirty.Claim(ctx, n, time.Now(), "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range claimed {
		names[d.Item] = true
	}
	if len(claimed) != n || len(names) != n {
		t.Fatalf("claimed %d items, %d distinct; want each of the %d once", len(claimed), len(names), n)
	}
	var again []store.ListRef // marked while being re-scored
	for i := 0; i < n; i += 7 {
		again = append(again, lists[i])
	}
	if err := env.Store.Dirty.Mark(ctx, again, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.Dirty.Clear(ctx, claimed, time.Now()); err != nil {
		t.Fatal(err)
	}
	for s := range schema.Shards {
		if c, err := env.Store.Client().HLen(ctx, env.Store.Keys().DirtyClaims(s)).Result(); err != nil || c != 0 {
			t.Fatalf("shard %d keeps %d claims (%v) after the clear; want none", s, c, err)
		}
	}
	left, err := env.Store.Dirty.Claim(ctx, n, time.Now().Add(time.Hour), "me", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, d := range left {
		kept[d.Item] = true
	}
	if len(left) != len(again) || len(kept) != len(again) {
		t.Fatalf("%d items left dirty (%d distinct); want the %d marked again", len(left), len(kept), len(again))
	}
	for _, l := range again {
		if !kept[l.Item] {
			t.Fatalf("%s was marked again during its re-score but was cleared", l.Item)
		}
	}
}
