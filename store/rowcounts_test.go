package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// TestAStateRecordedBeforeTheCountsIsGivenThem: a state whose rows keep
// indexes but were written before the rows counted their indexed
// co-counts (no row_index_counts) gets each row's count from its index
// (Meta.CountIndexedCoCounts), records that it counts, and its writes keep
// the counts from then on; counting again does nothing, and a state
// without row indexes is refused.
func TestAStateRecordedBeforeTheCountsIsGivenThem(t *testing.T) {
	testenv.ForEachRedis(t, testAStateRecordedBeforeTheCountsIsGivenThem)
}

func testAStateRecordedBeforeTheCountsIsGivenThem(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	const support = 2
	settings := indexedSettings(support, 10)
	// A state recorded with row indexes, then without its counts' record,
	// as one recorded by an alsobought before them was.
	if err := env.Store.Meta.EnsureWithRowIndexes(ctx, settings, support); err != nil {
		t.Fatal(err)
	}
	client, keys := env.Store.Client(), env.Store.Keys()
	if err := client.HDel(ctx, keys.Meta, schema.MetaRowIndexCounts).Err(); err != nil {
		t.Fatal(err)
	}
	older := openStore(t, env, env.Prefix, nil)
	if err := older.Meta.Ensure(ctx, settings); err != nil {
		t.Fatal(err)
	}
	items := []string{"milk", "bread", "eggs", "jam", "tea", "caviar"}
	var offset int64
	buy := func(st *store.Store, pairs ...[2]string) {
		t.Helper()
		b, updates, last := purchaseBatch(t, st, offset, pairs...)
		b.MinSupport = support
		if err := st.Batches.Apply(ctx, b, updates, last, -1); err != nil {
			t.Fatal(err)
		}
		offset = last + 1
	}
	// milk, bread and eggs reach the support together; jam and tea are
	// bought once with them; caviar alone.
	buy(older, [2]string{"c1", "milk"}, [2]string{"c1", "bread"}, [2]string{"c1", "eggs"}, [2]string{"c1", "jam"})
	buy(older, [2]string{"c2", "milk"}, [2]string{"c2", "bread"}, [2]string{"c2", "eggs"}, [2]string{"c2", "tea"})
	buy(older, [2]string{"c3", "caviar"})

	// Their indexes name co-counts that no row counts yet.
	for _, it := range []string{"milk", "bread", "eggs"} {
		names, named := namedCoCounts(t, older, store.Bought, it)
		has, err := client.HExists(ctx, keys.Row(store.Bought, it), schema.FieldIndexedCoCounts).Result()
		if err != nil || has || named != 2 {
			t.Fatalf("%s before counting: index %v, a count %v (%v); want two co-counts named, no count", it, names, has, err)
		}
	}

	counted, err := older.Meta.CountIndexedCoCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every row of the state: the five items bought with others and
	// caviar, of the purchase kind (the purchases made no view rows).
	if counted != len(items) {
		t.Errorf("counted %d rows, want %d", counted, len(items))
	}
	countsOfIndexed(t, older, items, "after counting")
	if v, err := client.HGet(ctx, keys.Meta, schema.MetaRowIndexCounts).Result(); err != nil || v != "1" {
		t.Fatalf("the state records %q (%v) for %s, want 1", v, err, schema.MetaRowIndexCounts)
	}
	if n, err := older.Meta.CountIndexedCoCounts(ctx); err != nil || n != 0 {
		t.Errorf("counting a state that counts: %d rows, %v; want 0, nil", n, err)
	}

	// A serve started after it counts as it writes: tea and jam reach the
	// support with milk, and caviar gets its first candidates.
	restarted := openStore(t, env, env.Prefix, nil)
	if err := restarted.Meta.Ensure(ctx, settings); err != nil {
		t.Fatal(err)
	}
	buy(restarted, [2]string{"c4", "milk"}, [2]string{"c4", "tea"}, [2]string{"c4", "jam"}, [2]string{"c4", "caviar"})
	buy(restarted, [2]string{"c5", "milk"}, [2]string{"c5", "jam"}, [2]string{"c5", "caviar"})
	countsOfIndexed(t, restarted, items, "after the restarted writes")

	// A state without row indexes has nothing to count.
	plain := openStore(t, env, env.Prefix+"-plain", nil)
	if err := plain.Meta.Ensure(ctx, settings); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Meta.CountIndexedCoCounts(ctx); !errors.Is(err, store.ErrNoRowIndexes) {
		t.Errorf("a state without row indexes: %v, want ErrNoRowIndexes", err)
	}
}
