package store_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/alsobought/alsobought/internal/testenv"
)

// TestReplayCutDifferentlyAppliesOnce: a batch's counter changes are
// written as sums per field only where the hash's fence admits all of its
// groups. A replay that cuts the events differently from the write before
// it (a consumer that died after writing a batch's counters, and whose
// successor reads a longer batch from the same offset) meets hashes whose
// watermark falls inside its offsets: they take exactly the groups above
// it, and the state equals one clean pass.
func TestReplayCutDifferentlyAppliesOnce(t *testing.T) {
	testenv.ForAllRedisModes(t, testReplayCutDifferentlyAppliesOnce)
}

func testReplayCutDifferentlyAppliesOnce(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	pairs := [][2]string{{"c1", "milk"}, {"c1", "bread"}, {"c2", "milk"}, {"c1", "eggs"}, {"c2", "bread"}, {"c3", "jam"}}
	off := purchases(t, st, 0, [2]string{"c2", "eggs"})
	// The first write: the counters of the first three events only (its
	// customers were never written).
	short, _, shortLast := purchaseBatch(t, st, off, pairs[:3]...)
	if err := st.Batches.Apply(ctx, short, nil, shortLast, off-1); err != nil {
		t.Fatal(err)
	}
	// The replay: all six events, from the same customers' states.
	long, updates, last := purchaseBatch(t, st, off, pairs...)
	if err := st.Batches.Apply(ctx, long, updates, last, off-1); err != nil {
		t.Fatal(err)
	}
	clean := openStore(t, env, env.Prefix+".clean", nil)
	cleanOff := purchases(t, clean, 0, [2]string{"c2", "eggs"})
	purchases(t, clean, cleanOff, pairs...)
	sameAsCleanPass(t, "a replay cut differently", st, clean)
}

// TestAWideBatchSplitOverCallsAppliesOnce: a batch whose sums are too many
// for one script call (a single Redis takes many hashes per call, bounded
// in sums) lands as several calls; written once, then replayed whole and
// cut differently, it leaves the state of one clean pass.
func TestAWideBatchSplitOverCallsAppliesOnce(t *testing.T) {
	testenv.ForAllRedisModes(t, testAWideBatchSplitOverCallsAppliesOnce)
}

func testAWideBatchSplitOverCallsAppliesOnce(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	// 40 customers buy 12 of 50 items each: about 5,000 pair changes on
	// 50 rows, thousands of sums.
	var pairs [][2]string
	for c := range 40 {
		for i := range 12 {
			pairs = append(pairs, [2]string{"c" + strconv.Itoa(c), "item" + strconv.Itoa((c*7+i*3)%50)})
		}
	}
	short, _, shortLast := purchaseBatch(t, st, 0, pairs[:len(pairs)/3]...)
	if err := st.Batches.Apply(ctx, short, nil, shortLast, -1); err != nil {
		t.Fatal(err)
	}
	long, updates, last := purchaseBatch(t, st, 0, pairs...)
	if err := st.Batches.Apply(ctx, long, updates, last, -1); err != nil {
		t.Fatal(err)
	}
	if err := st.Batches.Apply(ctx, long, updates, last, last); err != nil { // the whole batch again
		t.Fatal(err)
	}
	clean := openStore(t, env, env.Prefix+".clean", nil)
	purchases(t, clean, 0, pairs...)
	sameAsCleanPass(t, "a wide batch written in parts, replayed", st, clean)
}
