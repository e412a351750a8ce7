package store_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
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
	st := env.Store
	pairs := [][2]string{{"c1", "milk"}, {"c1", "bread"}, {"c2", "milk"}, {"c1", "eggs"}, {"c2", "bread"}, {"c3", "jam"}}
	off := purchases(t, st, 0, [2]string{"c2", "eggs"})
	writeCutThenReplay(t, st, off, 3, pairs...)
	clean := openStore(t, env, env.Prefix+".clean", nil)
	cleanOff := purchases(t, clean, 0, [2]string{"c2", "eggs"})
	purchases(t, clean, cleanOff, pairs...)
	sameAsCleanPass(t, "a replay cut differently", st, clean)
}

// writeCutThenReplay writes, from offset from, the counters of the first
// cut purchases as a batch of their own (a consumer that died after its
// counter step: its customers were never written), then all of them from
// the same customers' states, as its successor reads a longer batch from
// the same offset. It returns the second batch, its customers' new states
// and its last offset.
func writeCutThenReplay(t *testing.T, st *store.Store, from int64, cut int, pairs ...[2]string) (*delta.Batch, []store.CustomerUpdate, int64) {
	t.Helper()
	ctx := context.Background()
	short, _, shortLast := purchaseBatch(t, st, from, pairs[:cut]...)
	if err := st.Batches.Apply(ctx, short, nil, shortLast, from-1); err != nil {
		t.Fatal(err)
	}
	long, updates, last := purchaseBatch(t, st, from, pairs...)
	if err := st.Batches.Apply(ctx, long, updates, last, from-1); err != nil {
		t.Fatal(err)
	}
	return long, updates, last
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
	long, updates, last := writeCutThenReplay(t, st, 0, len(pairs)/3, pairs...)
	if err := st.Batches.Apply(ctx, long, updates, last, last); err != nil { // the whole batch again
		t.Fatal(err)
	}
	clean := openStore(t, env, env.Prefix+".clean", nil)
	purchases(t, clean, 0, pairs...)
	sameAsCleanPass(t, "a wide batch written in parts, replayed", st, clean)
}

// TestAHashWiderThanOneCommandAppliesOnce: the write scripts read and
// write a hash's changed fields with one HMGET and one HSET, in chunks of
// 4,000 names (Lua's unpack takes no more at once). Two groups of 700
// customers hold the same 7,000 items, 10 each, and each group buys the
// same hub item in one batch: the first batch creates about 7,000 fields
// of the hub's row, the second adds to all of them. Written whole as
// sums, or the second batch written cut differently and replayed (about
// 4,700 fields through the group-by-group script), the state equals a
// clean pass whose batches are small enough never to chunk.
func TestAHashWiderThanOneCommandAppliesOnce(t *testing.T) {
	testenv.ForAllRedisModes(t, testAHashWiderThanOneCommandAppliesOnce)
}

func testAHashWiderThanOneCommandAppliesOnce(t *testing.T, env *testenv.Env) {
	st := env.Store
	const customers, owned = 700, 10
	var histories, first, second [][2]string
	for c := range customers {
		for _, group := range []string{"c", "d"} {
			for i := range owned {
				histories = append(histories, [2]string{group + strconv.Itoa(c), "item" + strconv.Itoa(c*owned+i)})
			}
		}
		first = append(first, [2]string{"c" + strconv.Itoa(c), "hub"})
		second = append(second, [2]string{"d" + strconv.Itoa(c), "hub"})
	}
	writeCutThenReplay(t, st, purchases(t, st, purchases(t, st, 0, histories...), first...), customers/3, second...)
	clean := openStore(t, env, env.Prefix+".clean", nil)
	cleanOff := purchases(t, clean, 0, histories...)
	for part := range slices.Chunk(append(first, second...), 50) {
		cleanOff = purchases(t, clean, cleanOff, part...)
	}
	sameAsCleanPass(t, "a hash wider than one command, replayed cut differently", st, clean)
	whole := openStore(t, env, env.Prefix+".whole", nil)
	purchases(t, whole, purchases(t, whole, purchases(t, whole, 0, histories...), first...), second...)
	sameAsCleanPass(t, "a hash wider than one command, written whole", whole, clean)
}
