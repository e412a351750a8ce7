package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// partitionBatch is the batch of purchases (customer, item) at
// consecutive offsets of partition from from, on the customers' loaded
// states (which it moves on), ready to write.
func partitionBatch(customers map[string]store.Customer, partition int, from int64, pairs ...[2]string) store.BatchWrite {
	b := delta.NewBatch(partition)
	var updates []store.CustomerUpdate
	off := from
	for _, p := range pairs {
		c := customers[p[0]]
		b.Purchase(&c.Purchases, &c.Views, p[1], time.UnixMilli(off), off, delta.Retention{Purchases: 10, Views: 10})
		customers[p[0]] = c
		updates = append(updates, store.CustomerUpdate{ID: p[0], Purchases: c.Purchases, Offset: off})
		off++
	}
	return store.BatchWrite{Batch: b, Customers: updates, LastOffset: off - 1, Recorded: from - 1}
}

// TestAMergedWriteAppliesEachPartitionsBatchOnce: the batches of several
// partitions written in one write (Batches.ApplyMany), their changes to a
// shared row summed, end as the same batches written one by one, also
// when a partition's batch, or a part of it, was written before (a retry
// after a merged write failed half way, a replay cut differently), and
// when the whole write is applied again.
func TestAMergedWriteAppliesEachPartitionsBatchOnce(t *testing.T) {
	testenv.ForAllRedisModes(t, testAMergedWriteAppliesEachPartitionsBatchOnce)
}

func testAMergedWriteAppliesEachPartitionsBatchOnce(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	merged := env.Store
	clean := openStore(t, env, env.Prefix+".clean", nil)
	customers := map[string]store.Customer{}
	// Each partition's customers are its own; the items are shared, so
	// the rows of milk, bread and eggs take changes from every partition.
	round1 := []store.BatchWrite{
		partitionBatch(customers, 0, 0, [2]string{"a1", "milk"}, [2]string{"a1", "bread"}, [2]string{"a2", "milk"}),
		partitionBatch(customers, 1, 0, [2]string{"b1", "milk"}, [2]string{"b1", "eggs"}),
		partitionBatch(customers, 2, 0, [2]string{"c1", "bread"}, [2]string{"c1", "milk"}, [2]string{"c1", "eggs"}),
	}
	round2 := []store.BatchWrite{
		partitionBatch(customers, 0, 3, [2]string{"a2", "eggs"}, [2]string{"a1", "eggs"}),
		partitionBatch(customers, 1, 2, [2]string{"b1", "bread"}, [2]string{"b2", "milk"}),
	}
	// Partition 2's next batch, and the first half of it on its own: a
	// replay that cut the partition's events differently.
	whole := partitionBatch(customers, 2, 3, [2]string{"c2", "milk"}, [2]string{"c2", "bread"}, [2]string{"c1", "jam"}, [2]string{"c2", "eggs"})
	halfCustomers := map[string]store.Customer{"c1": customers["c1"]}
	half := partitionBatch(halfCustomers, 2, 3, [2]string{"c2", "milk"}, [2]string{"c2", "bread"})
	round3 := []store.BatchWrite{whole, partitionBatch(customers, 0, 5, [2]string{"a1", "jam"})}

	for _, w := range append(append(round1, round2...), round3...) {
		if err := clean.Batches.ApplyMany(ctx, []store.BatchWrite{w}); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		what   string
		writes []store.BatchWrite
	}{
		{"three partitions merged", round1},
		{"partition 0 alone, as a retry's first write", round2[:1]},
		{"partition 0 again, merged with partition 1", round2},
		{"half of partition 2's batch alone", []store.BatchWrite{half}},
		{"partition 2's whole batch, merged with partition 0", round3},
		{"earlier batches of three partitions again, merged", []store.BatchWrite{round1[2], round2[0], round2[1]}},
		{"the last merged write again", round3},
	}
	for _, s := range steps {
		if err := merged.Batches.ApplyMany(ctx, s.writes); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
	}
	sameAsCleanPass(t, "merged writes", merged, clean)
	snap, err := merged.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Bought.Co["milk"]["eggs"]; got != 5 {
		t.Errorf("milk-eggs co-count %d, want 5 (a1, a2, b1, c1, c2): the comparison with one clean pass checks nothing", got)
	}
}

// TestAMergedWriteRefusesAGapInAnyPartition: a merged write in which one
// partition's stored progress is behind what its consumer recorded is
// refused whole, with an error that is ErrProgressLost, and moves no
// customer or progress of any partition (nor, on a single Redis, any
// counter): each partition then applies its batch alone, where the lost
// one learns its stored progress.
func TestAMergedWriteRefusesAGapInAnyPartition(t *testing.T) {
	testenv.ForAllRedisModes(t, testAMergedWriteRefusesAGapInAnyPartition)
}

func testAMergedWriteRefusesAGapInAnyPartition(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	customers := map[string]store.Customer{}
	first := []store.BatchWrite{
		partitionBatch(customers, 0, 0, [2]string{"a1", "milk"}, [2]string{"a1", "bread"}),
		partitionBatch(customers, 1, 0, [2]string{"b1", "milk"}, [2]string{"b1", "bread"}),
	}
	if err := st.Batches.ApplyMany(ctx, first); err != nil {
		t.Fatal(err)
	}
	before, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Redis lost partition 1's progress after the consumer saw it.
	if err := st.Client().HSet(ctx, st.Keys().Progress, "1", -1).Err(); err != nil {
		t.Fatal(err)
	}
	next := []store.BatchWrite{
		partitionBatch(customers, 0, 2, [2]string{"a1", "eggs"}),
		partitionBatch(customers, 1, 2, [2]string{"b1", "eggs"}),
	}
	err = st.Batches.ApplyMany(ctx, next)
	if !errors.Is(err, store.ErrProgressLost) {
		t.Fatalf("want an error that is ErrProgressLost, got %v", err)
	}
	after, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Progress[0] != before.Progress[0] || after.Progress[1] != -1 {
		t.Fatalf("a refused write moved the progress: %v, before %v", after.Progress, before.Progress)
	}
	if !equalJSON(t, after.Histories, before.Histories) {
		t.Fatalf("a refused write wrote customers: before %v, after %v", before.Histories, after.Histories)
	}
	if env.RedisMode != store.Cluster && !equalJSON(t, after.Bought, before.Bought) {
		t.Fatalf("a refused write wrote counters: before %v, after %v", before.Bought, after.Bought)
	}
	// Alone, the partition whose progress was lost learns where it is.
	var lost *store.ProgressLostError
	if err := st.Batches.ApplyMany(ctx, next[1:]); !errors.As(err, &lost) || lost.Partition != 1 || lost.Stored != -1 {
		t.Fatalf("partition 1 alone: want ProgressLostError{partition 1, stored -1}, got %v", err)
	}
	if err := st.Batches.ApplyMany(ctx, next[:1]); err != nil {
		t.Fatalf("partition 0 alone: %v", err)
	}
}
