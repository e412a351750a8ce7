package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// TestReadingRowsByTheirIndexEqualsReadingThemWhole: a state recorded with
// row indexes (Meta.Ensure on a new state) reads each row by its index,
// and what a re-score gets is what reading the whole row gives: the
// candidates at or above the min support with their B, the histogram, M_X
// for viewed-then-bought rows, the revision and the watched items. Checked
// after every batch of a random stream of purchases, views and erasures
// over two partitions, with writes and replays cut differently from the
// first write (the group-by-group path), and after a bootstrap of the state into a
// new prefix. Each row counts the co-counts its index names. Once every
// customer is erased, no index names a co-count.
func TestReadingRowsByTheirIndexEqualsReadingThemWhole(t *testing.T) {
	testenv.ForEachRedis(t, testReadingRowsByTheirIndexEqualsReadingThemWhole)
}

func testReadingRowsByTheirIndexEqualsReadingThemWhole(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	const support = 2
	const historySize = 6
	settings := indexedSettings(support, historySize)
	indexed := env.Store
	if err := indexed.Meta.EnsureWithRowIndexes(ctx, settings, support); err != nil {
		t.Fatal(err)
	}
	// This test's rows are small, and would be read whole: read them by
	// their indexes all the same.
	store.ReadRowsByIndexOnly(indexed)
	whole := openStore(t, env, env.Prefix, nil) // never told of the indexes: reads whole rows

	items := make([]string, 14)
	for i := range items {
		items[i] = fmt.Sprintf("i%02d", i)
	}
	type ev struct {
		customer, item string
		view, erase    bool
	}
	rng := rand.New(rand.NewPCG(19, 5))
	const streamed = 400 // then the erasures
	evs := make([]ev, streamed)
	for i := range evs {
		// Skewed: low items are popular, so their co-counts reach the
		// support while the tail's stay below it.
		e := ev{customer: fmt.Sprintf("c%d", rng.IntN(25)), item: items[min(rng.IntN(len(items)), rng.IntN(len(items)))]}
		switch r := rng.IntN(20); {
		case r == 0:
			e.erase = true
		case r < 7:
			e.view = true
		}
		evs[i] = e
	}
	// At the end every customer is erased, in both partitions: each
	// co-count falls to zero, and must leave its index.
	for c := range 25 {
		e := ev{customer: fmt.Sprintf("c%d", c), erase: true}
		evs = append(evs, e, e)
	}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	retention := delta.Retention{Purchases: historySize, Views: historySize}
	// batchOf builds partition p's batch of evs[from:to] as a consumer
	// would after replaying evs[:from] into the customers' histories.
	batchOf := func(p, from, to int) *delta.Batch {
		hs, vs := map[string]*delta.History{}, map[string]*delta.History{}
		b := delta.NewBatch(p)
		b.MinSupport = support
		for off := 0; off < to; off++ {
			e := evs[off]
			if off%2 != p {
				continue // the other partition's
			}
			if hs[e.customer] == nil {
				hs[e.customer], vs[e.customer] = &delta.History{}, &delta.History{}
			}
			target := b
			if off < from {
				target = delta.NewBatch(p) // only to move the histories on
			}
			at := t0.Add(time.Duration(off) * time.Minute)
			switch {
			case e.erase:
				target.Erase(hs[e.customer], vs[e.customer], int64(off))
			case e.view:
				target.View(hs[e.customer], vs[e.customer], e.item, at, int64(off), retention)
			default:
				target.Purchase(hs[e.customer], vs[e.customer], e.item, at, int64(off), retention)
			}
		}
		return b
	}
	compare := func(st, whole *store.Store, what string) {
		t.Helper()
		sameRows(t, st, whole, store.ListKinds(), items, support, what)
	}
	applyRange := func(p, from, to int) {
		t.Helper()
		b := batchOf(p, from, to)
		if err := indexed.Batches.Apply(ctx, b, nil, int64(to-1), -1); err != nil {
			t.Fatalf("partition %d, events %d to %d: %v", p, from, to, err)
		}
	}
	var snap *store.Snapshot // the state before the erasures, bootstrapped below
	for from := 0; from < len(evs); from += 40 {
		to := min(from+40, len(evs))
		// Partition 0's first half first, as a write that stopped there:
		// the whole batch's rows that the half touched take the rest
		// group by group (applyOpsScript).
		applyRange(0, from, min(from+20, to))
		for p := range 2 {
			applyRange(p, from, to)
		}
		// A replay from halfway through the batch, cut at another place:
		// the hashes both touched take its groups one by one.
		if from >= 40 {
			applyRange(0, from-20, to)
		}
		compare(indexed, whole, fmt.Sprintf("after event %d", to))
		countsOfIndexed(t, indexed, items, fmt.Sprintf("after event %d", to))
		if to == streamed {
			var err error
			if snap, err = indexed.State.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Lists written: the revision and the watched items are in the row.
	lists := make([]store.List, 0, len(items))
	rows, err := indexed.Lists.ReadRows(ctx, store.Bought, items, support)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		next := items[(i+1)%len(items)]
		lists = append(lists, store.List{List: store.Bought, Item: it, Revision: rows.Revisions[i],
			Items: []scoring.Related{{Item: next, Score: 1}}, Watch: []string{next}})
	}
	if _, err := indexed.Lists.Write(ctx, lists, false); err != nil {
		t.Fatal(err)
	}
	compare(indexed, whole, "after the lists were written")

	// No co-count that left a row is still named by its index.
	client := indexed.Client()
	keys := indexed.Keys()
	for _, kind := range store.ListKinds() {
		for _, it := range items {
			names, err := client.HKeys(ctx, keys.RowIndex(kind, it)).Result()
			if err != nil {
				t.Fatal(err)
			}
			fields, err := client.HGetAll(ctx, keys.Row(kind, it)).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range names {
				if _, ok := fields[f]; !ok && !strings.Contains(f, "|") {
					t.Errorf("%s index of %s names %q, which its row does not hold", kind, it, f)
				}
			}
		}
	}

	// A bootstrap of the state into a new prefix indexes the rows too.
	boot := openStore(t, env, env.Prefix+"-boot", nil)
	if err := boot.Meta.EnsureWithRowIndexes(ctx, settings, support); err != nil {
		t.Fatal(err)
	}
	store.ReadRowsByIndexOnly(boot)
	if err := boot.State.Write(ctx, snap); err != nil {
		t.Fatal(err)
	}
	compare(boot, openStore(t, env, env.Prefix+"-boot", nil), "after a bootstrap")
	countsOfIndexed(t, boot, items, "after a bootstrap")
}

// countsOfIndexed fails the test unless each row's count of indexed
// co-counts (schema.FieldIndexedCoCounts, absent for none) is the number
// of co-counts its index names: what lets a write leave a row without
// candidates unmarked.
func countsOfIndexed(t *testing.T, st *store.Store, items []string, what string) {
	t.Helper()
	ctx := context.Background()
	client, keys := st.Client(), st.Keys()
	for _, kind := range store.ListKinds() {
		for _, it := range items {
			names, want := namedCoCounts(t, st, kind, it)
			got, err := client.HGet(ctx, keys.Row(kind, it), schema.FieldIndexedCoCounts).Int()
			if errors.Is(err, redis.Nil) {
				got, err = 0, nil
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%s, %s row of %s: counts %d indexed co-counts, its index names %d (%v)", what, kind, it, got, want, names)
			}
		}
	}
}

// namedCoCounts returns the names in the index of item's row of a kind
// and how many of them are co-counts: what the row's count must say.
func namedCoCounts(t *testing.T, st *store.Store, kind store.ListKind, item string) (names []string, coCounts int) {
	t.Helper()
	names, err := st.Client().HKeys(context.Background(), st.Keys().RowIndex(kind, item)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range names {
		if schema.IsCoCountField(f) {
			coCounts++
		}
	}
	return names, coCounts
}

// TestARowWhoseIndexNamesMostOfItIsReadWhole: a re-score reads a row
// whose index names few of its fields (an item bought once with many
// others) by its index, and a row whose index names most of them whole;
// both as the whole row says.
func TestARowWhoseIndexNamesMostOfItIsReadWhole(t *testing.T) {
	testenv.ForEachRedis(t, testARowWhoseIndexNamesMostOfItIsReadWhole)
}

func testARowWhoseIndexNamesMostOfItIsReadWhole(t *testing.T, env *testenv.Env) {
	const support = 2
	// sparse: 40 first co-buyers, none at the support; dense: two
	// co-counts of 3, both named.
	pairs := firstCoBuyers("sparse", 40)
	for c := range 3 {
		for _, it := range []string{"dense", "a", "b"} {
			pairs = append(pairs, [2]string{fmt.Sprintf("d%d", c), it})
		}
	}
	reads := &readsOf{}
	hybrid := indexedState(t, env, support, reads, pairs...)
	sameRows(t, hybrid, openStore(t, env, env.Prefix, nil), []store.ListKind{store.Bought}, []string{"sparse", "dense"}, support, "one batch")
	keys := env.Store.Keys()
	want := map[string]string{
		keys.Row(store.Bought, "sparse"): "hmget", keys.Row(store.Bought, "dense"): "hgetall",
		keys.RowIndex(store.Bought, "sparse"): "hkeys", keys.RowIndex(store.Bought, "dense"): "hkeys",
	}
	rows := []string{keys.Row(store.Bought, "sparse"), keys.Row(store.Bought, "dense")}
	expectReads(t, "first read", reads, want, rows, 1)
	// The next re-score reads the dense row whole at once, without asking
	// its index again; the sparse one by its index, as before, without
	// asking its length.
	reads.reset()
	sameRows(t, hybrid, openStore(t, env, env.Prefix, nil), []store.ListKind{store.Bought}, []string{"sparse", "dense"}, support, "read again")
	want[keys.RowIndex(store.Bought, "dense")] = ""
	expectReads(t, "read again", reads, want, rows, 0)
}

// TestASmallSparseRowIsNotAskedItsWatch: a shortlisted re-score asks a
// row read by its index for its stored list's watched items (the
// shortlist's hint) until it knows the row's index names too few to pay
// for it (hintAtLeast); a row of many names is asked at every re-score.
// Both rows read as a whole read says.
func TestASmallSparseRowIsNotAskedItsWatch(t *testing.T) {
	testenv.ForEachRedis(t, testASmallSparseRowIsNotAskedItsWatch)
}

func testASmallSparseRowIsNotAskedItsWatch(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	const support = 2
	// small: 150 first co-buyers, none at the support. wide: 100 items
	// each bought with it by 2 customers (100 co-counts at the support,
	// all named), and 300 first co-buyers: read by its index still.
	pairs := append(firstCoBuyers("small", 150), firstCoBuyers("wide", 300)...)
	for y := range 100 {
		for c := range 2 {
			customer := fmt.Sprintf("w%d-%d", y, c)
			pairs = append(pairs, [2]string{customer, "wide"}, [2]string{customer, fmt.Sprintf("y%d", y)})
		}
	}
	reads := &readsOf{}
	st := indexedState(t, env, support, reads, pairs...)
	items := []string{"small", "wide"}
	sl := &store.Shortlist{Floor: func(scoring.Row, scoring.Globals) int64 { return support }}
	whole, err := env.Store.Lists.ReadRows(ctx, store.Bought, items, support)
	if err != nil {
		t.Fatal(err)
	}
	keys := env.Store.Keys()
	for round, wantSmall := range []int{1, 0, 0} {
		reads.reset()
		got, err := st.Lists.ReadRowsShortlisted(ctx, store.Bought, items, support, sl)
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			if a, b := describeRow(got, i), describeRow(whole, i); a != b {
				t.Fatalf("round %d, %s: read %s, whole %s", round, it, a, b)
			}
			if how := reads.of(keys.Row(store.Bought, it)); how != "hmget" {
				t.Fatalf("round %d: %s read by %q, want by its index", round, it, how)
			}
		}
		if n := reads.counted("hget", keys.Row(store.Bought, "small")); n != wantSmall {
			t.Errorf("round %d: the small row's watch asked %d times, want %d", round, n, wantSmall)
		}
		if n := reads.counted("hget", keys.Row(store.Bought, "wide")); n != 1 {
			t.Errorf("round %d: the wide row's watch asked %d times, want 1", round, n)
		}
	}
}

// firstCoBuyers is n purchases of item, each by a customer of its own who
// bought another item of their own too: n co-counts of 1 in item's row.
func firstCoBuyers(item string, n int) [][2]string {
	var pairs [][2]string
	for c := range n {
		customer := fmt.Sprintf("%s-c%d", item, c)
		pairs = append(pairs, [2]string{customer, item}, [2]string{customer, fmt.Sprintf("%s-with%d", item, c)})
	}
	return pairs
}

// indexedState applies the purchases to env's empty state, kept with row
// indexes for support (histories of 10), as the consumer would, and
// returns a store on the state whose commands go through hook.
func indexedState(t *testing.T, env *testenv.Env, support int64, hook redis.Hook, pairs ...[2]string) *store.Store {
	t.Helper()
	ctx := context.Background()
	settings := indexedSettings(support, 10)
	if err := env.Store.Meta.EnsureWithRowIndexes(ctx, settings, support); err != nil {
		t.Fatal(err)
	}
	b, updates, last := purchaseBatch(t, env.Store, 0, pairs...)
	b.MinSupport = support // as the consumer's: a co-count enters the index at the support
	if err := env.Store.Batches.Apply(ctx, b, updates, last, -1); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, env, env.Prefix, hook)
	if err := st.Meta.EnsureWithRowIndexes(ctx, settings, support); err != nil {
		t.Fatal(err)
	}
	return st
}

// expectReads fails the test unless reads saw each key of want last read
// by the command it names ("": not read), and the length of each of rows
// asked lengths times.
func expectReads(t *testing.T, when string, reads *readsOf, want map[string]string, rows []string, lengths int) {
	t.Helper()
	for key, want := range want {
		if got := reads.of(key); got != want {
			t.Errorf("%s: %s read by %q, want %q", when, key, got, want)
		}
	}
	for _, row := range rows {
		if n := reads.counted("hlen", row); n != lengths {
			t.Errorf("%s: the length of %s asked %d times, want %d", when, row, n, lengths)
		}
	}
}

// readsOf is a go-redis hook that records, by key, the last command of
// the pipelines that read a whole hash, some of its fields or its field
// names, and counts the HLENs and HGETs of each key.
type readsOf struct {
	pipelinesOnly
	mu    sync.Mutex
	cmd   map[string]string
	count map[[2]string]int // by command (hlen, hget) and key
}

func (r *readsOf) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.mu.Lock()
		if r.cmd == nil {
			r.cmd, r.count = map[string]string{}, map[[2]string]int{}
		}
		for _, c := range cmds {
			switch name := c.Name(); name {
			case "hgetall", "hmget", "hkeys":
				r.cmd[fmt.Sprint(c.Args()[1])] = name
			case "hlen", "hget":
				r.count[[2]string{name, fmt.Sprint(c.Args()[1])}]++
			}
		}
		r.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (r *readsOf) reset() {
	r.mu.Lock()
	r.cmd, r.count = nil, nil
	r.mu.Unlock()
}

// counted returns how many times a command (hlen, hget) was sent for key.
func (r *readsOf) counted(command, key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[[2]string{command, key}]
}

func (r *readsOf) of(key string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd[key]
}

// sameRows fails the test unless st reads every row of items, of every
// kind, as whole (never told of the indexes) reads it.
func sameRows(t *testing.T, st, whole *store.Store, kinds []store.ListKind, items []string, support int64, what string) {
	t.Helper()
	ctx := context.Background()
	for _, kind := range kinds {
		a, err := st.Lists.ReadRows(ctx, kind, items, support)
		if err != nil {
			t.Fatal(err)
		}
		b, err := whole.Lists.ReadRows(ctx, kind, items, support)
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range items {
			if got, want := describeRow(a, i), describeRow(b, i); got != want {
				t.Fatalf("%s, %s row of %s: read %s, whole %s", what, kind, it, got, want)
			}
		}
	}
}

// indexedSettings are the recorded settings of a state whose rows are read
// by their indexes: log bins, and the history sizes the reader names the
// bins from.
func indexedSettings(support int64, historySize int) map[string]string {
	return map[string]string{schema.MetaMinSupport: fmt.Sprint(support), schema.MetaHistogramBins: string(scoring.LogBins),
		schema.MetaHistorySize: fmt.Sprint(historySize), schema.MetaViewHistorySize: fmt.Sprint(historySize)}
}

// describeRow is what a re-score reads of row i, in a canonical order.
func describeRow(rb store.RowBatch, i int) string {
	r := rb.Rows[i]
	c := slices.Clone(r.Candidates)
	slices.SortFunc(c, func(a, b scoring.Candidate) int { return strings.Compare(a.Item, b.Item) })
	h := slices.Clone(r.Hist)
	slices.SortFunc(h, func(a, b scoring.HistBin) int { return int(a.Others - b.Others) })
	return fmt.Sprintf("candidates %v, B %d, hist %v, M_X %d, revision %d, watched %v, counted %v",
		c, r.Buyers, h, rb.ViewedTotals[i], rb.Revisions[i], rb.Watched[i], rb.Counted(i))
}

// TestTheStateRecordsTheSupportItsRowIndexesAreCompleteFor: a state records
// row_index_support (and row_index_counts beside it) with its first record
// only, when asked
// (EnsureWithRowIndexes), so a state recorded before, or started without
// them, keeps reading whole rows;
// adopting the same min support keeps it, another removes it.
func TestTheStateRecordsTheSupportItsRowIndexesAreCompleteFor(t *testing.T) {
	testenv.ForEachRedis(t, testTheStateRecordsTheSupportItsRowIndexesAreCompleteFor)
}

func testTheStateRecordsTheSupportItsRowIndexesAreCompleteFor(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	// The support, and whether the rows count their indexed co-counts:
	// the two come and go together.
	indexSupport := func(st *store.Store) string {
		t.Helper()
		v, err := st.Client().HMGet(ctx, st.Keys().Meta, schema.MetaRowIndexSupport, schema.MetaRowIndexCounts).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case v[0] == nil && v[1] == nil:
			return ""
		case v[1] == "1":
			return fmt.Sprint(v[0])
		}
		return fmt.Sprintf("%v, counts %v", v[0], v[1])
	}
	settings := map[string]string{schema.MetaMinSupport: "2", schema.MetaListSize: "20"}

	fresh := env.Store
	if err := fresh.Meta.EnsureWithRowIndexes(ctx, settings, 2); err != nil {
		t.Fatal(err)
	}
	if got := indexSupport(fresh); got != "2" {
		t.Fatalf("a new state records %q, want 2", got)
	}
	if err := fresh.Meta.AdoptListSettings(ctx, map[string]string{schema.MetaMinSupport: "2", schema.MetaListSize: "30"}); err != nil {
		t.Fatal(err)
	}
	if got := indexSupport(fresh); got != "2" {
		t.Fatalf("after adopting another list size: %q, want 2", got)
	}
	if err := fresh.Meta.AdoptListSettings(ctx, map[string]string{schema.MetaMinSupport: "3"}); err != nil {
		t.Fatal(err)
	}
	if got := indexSupport(fresh); got != "" {
		t.Fatalf("after adopting min support 3: %q, want none", got)
	}

	// A state whose first record did not ask for them (written by a
	// version before them, or started with -row-indexes=false) keeps
	// none when a later start asks, and is not refused for it.
	without := openStore(t, env, env.Prefix+"-without", nil)
	if err := without.Meta.Ensure(ctx, settings); err != nil {
		t.Fatal(err)
	}
	if err := without.Meta.EnsureWithRowIndexes(ctx, settings, 2); err != nil {
		t.Fatalf("asking for row indexes on a state without them: %v", err)
	}
	if got := indexSupport(without); got != "" {
		t.Fatalf("a state started without row indexes records %q, want none", got)
	}
}
