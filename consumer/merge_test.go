package consumer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/store"
)

// recordingWrites is the batch writer's apply for these tests: it records
// the partitions of each write, and holds a write while hold is set.
type recordingWrites struct {
	mu     sync.Mutex
	writes [][]int
	hold   chan struct{} // a write waits for it to close; nil: none waits
	err    error
}

func (r *recordingWrites) apply(_ context.Context, ws []store.BatchWrite) error {
	r.mu.Lock()
	var ps []int
	for _, w := range ws {
		ps = append(ps, w.Batch.Partition)
	}
	slices.Sort(ps)
	r.writes = append(r.writes, ps)
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return r.err
}

func (r *recordingWrites) recorded() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.writes)
}

// submit writes a batch of partition p in a goroutine; its error arrives
// on the returned channel.
func submit(bw *batchWriter, p int) <-chan error {
	out := make(chan error, 1)
	go func() { out <- bw.write(context.Background(), store.BatchWrite{Batch: delta.NewBatch(p)}) }()
	return out
}

// waitFor polls cond with a generous bound: the tests wait on progress,
// never on the machine's speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestBatchesOfOwnedPartitionsReadyAtOnceShareAWrite: a batch that finds
// the writer idle waits (within the gather bound) for the batches of the
// other partitions the consumer owns, and they are written together.
func TestBatchesOfOwnedPartitionsReadyAtOnceShareAWrite(t *testing.T) {
	rec := &recordingWrites{}
	var observed []int
	bw := newBatchWriter(rec.apply, time.Hour, func() int { return 3 }, func(n int) { observed = append(observed, n) })
	var errs []<-chan error
	for p := range 3 {
		errs = append(errs, submit(bw, p))
	}
	for _, e := range errs {
		if err := <-e; err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.recorded(); !slices.EqualFunc(got, [][]int{{0, 1, 2}}, slices.Equal) {
		t.Fatalf("writes %v, want one of partitions 0, 1 and 2", got)
	}
	if !slices.Equal(observed, []int{3}) {
		t.Fatalf("observed writes %v, want one of 3 batches", observed)
	}
}

// TestBatchesArrivingDuringAWriteGoInTheNext: batches that arrive while a
// write runs wait for it and then share the next write, at most one batch
// per partition; a partition's second batch waits for the write after.
func TestBatchesArrivingDuringAWriteGoInTheNext(t *testing.T) {
	rec := &recordingWrites{hold: make(chan struct{})}
	bw := newBatchWriter(rec.apply, time.Hour, func() int { return 1 }, nil)
	first := submit(bw, 0)
	waitFor(t, "the first write", func() bool { return len(rec.recorded()) == 1 })
	var later []<-chan error
	for _, p := range []int{1, 2, 1, 0} {
		later = append(later, submit(bw, p))
		waitFor(t, "the batch to queue", func() bool { return bw.queued() == len(later) })
	}
	rec.mu.Lock()
	close(rec.hold)
	rec.hold = nil
	rec.mu.Unlock()
	for _, e := range append(later, first) {
		if err := <-e; err != nil {
			t.Fatal(err)
		}
	}
	want := [][]int{{0}, {0, 1, 2}, {1}}
	if got := rec.recorded(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("writes %v, want %v", got, want)
	}
}

// TestAFailedWriteFailsEveryBatchInIt: each batch of a merged write gets
// its error, and its partition applies it again.
func TestAFailedWriteFailsEveryBatchInIt(t *testing.T) {
	refused := errors.New("refused")
	rec := &recordingWrites{err: refused}
	bw := newBatchWriter(rec.apply, time.Hour, func() int { return 2 }, nil)
	a, b := submit(bw, 0), submit(bw, 1)
	for _, e := range []<-chan error{a, b} {
		if err := <-e; !errors.Is(err, refused) {
			t.Fatalf("got %v, want the write's error", err)
		}
	}
	if got := rec.recorded(); len(got) != 1 {
		t.Fatalf("writes %v, want one merged write", got)
	}
}

// TestAnIdlePartitionDelaysAWriteOnlyByTheGatherBound: a consumer that
// owns partitions with nothing to write still writes a batch, after the
// gather bound.
func TestAnIdlePartitionDelaysAWriteOnlyByTheGatherBound(t *testing.T) {
	rec := &recordingWrites{}
	bw := newBatchWriter(rec.apply, 10*time.Millisecond, func() int { return 4 }, nil)
	if err := <-submit(bw, 2); err != nil {
		t.Fatal(err)
	}
	if got := rec.recorded(); !slices.EqualFunc(got, [][]int{{2}}, slices.Equal) {
		t.Fatalf("writes %v, want one of partition 2", got)
	}
}
