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

// queued is how many batches wait for a write.
func (bw *batchWriter) queued() int {
	bw.mu.Lock()
	defer bw.mu.Unlock()
	return len(bw.queue)
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

// TestBatchesPreparedAtOnceShareAWrite: a batch that finds the writer
// idle waits (within the gather bound) for the batches other partitions
// are preparing, and they are written together.
func TestBatchesPreparedAtOnceShareAWrite(t *testing.T) {
	rec := &recordingWrites{}
	var observed []int
	bw := newBatchWriter(rec.apply, time.Hour, 0, func(n int) { observed = append(observed, n) })
	for p := range 3 {
		bw.prepare(p)
	}
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
	bw := newBatchWriter(rec.apply, time.Hour, 0, nil)
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
	bw := newBatchWriter(rec.apply, time.Hour, 0, nil)
	bw.prepare(0)
	bw.prepare(1)
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

// TestAPartitionThatGivesUpOrStallsHoldsNoWrite: a write waits for a
// partition preparing a batch only until it gives the batch up, or at
// most the gather bound.
func TestAPartitionThatGivesUpOrStallsHoldsNoWrite(t *testing.T) {
	rec := &recordingWrites{}
	bw := newBatchWriter(rec.apply, time.Hour, 0, nil)
	bw.prepare(1)
	bw.prepare(2)
	written := submit(bw, 2)
	waitFor(t, "partition 2's batch to queue", func() bool { return bw.queued() == 1 })
	bw.prepared(1) // partition 1 failed before its write
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	stalled := newBatchWriter(rec.apply, 10*time.Millisecond, 0, nil)
	stalled.prepare(0) // and never writes
	if err := <-submit(stalled, 3); err != nil {
		t.Fatal(err)
	}
	if got := rec.recorded(); !slices.EqualFunc(got, [][]int{{2}, {3}}, slices.Equal) {
		t.Fatalf("writes %v, want one of partition 2, then one of partition 3", got)
	}
}

// TestABatchWhoseFillingEndsSoonIsWaitedFor: a write that gathers waits
// for a partition whose batch ended (the same round: its goroutine has not
// run yet) or ends within soon (a small backlog's, fetched a moment
// later), and not for one filling until later (the next round), one that
// turned out not thin (written alone), or one whose end is older than the
// gather bound (a partition that stopped).
func TestABatchWhoseFillingEndsSoonIsWaitedFor(t *testing.T) {
	rec := &recordingWrites{}
	bw := newBatchWriter(rec.apply, time.Hour, time.Minute, nil)
	now := time.Now()
	bw.expect(1, now)                   // ended, not yet prepared
	bw.expect(2, now.Add(time.Second))  // ends soon
	bw.expect(3, now.Add(time.Hour))    // the next round
	bw.expect(4, now)                   // not thin ...
	bw.prepared(4)                      // ... and written alone
	bw.expect(5, now.Add(-2*time.Hour)) // stale
	first := submit(bw, 0)
	waitFor(t, "partition 0's batch to queue", func() bool { return bw.queued() == 1 })
	later := []<-chan error{submit(bw, 1)}
	waitFor(t, "partition 1's batch to queue", func() bool { return bw.queued() == 2 })
	later = append(later, submit(bw, 2))
	for _, e := range append(later, first) {
		select {
		case err := <-e:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the write is still gathering: writes so far %v", rec.recorded())
		}
	}
	if got := rec.recorded(); !slices.EqualFunc(got, [][]int{{0, 1, 2}}, slices.Equal) {
		t.Fatalf("writes %v, want one of partitions 0, 1 and 2", got)
	}
}

func TestBatchRoundsEndThePartitionsBatchesTogether(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	const wait, maxWait = 20 * time.Millisecond, 500 * time.Millisecond
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name            string
		roundEnd        time.Time // the open round's deadline (zero: none)
		fetched, record int       // ms after t0
		want, wantRound int       // ms after t0: the batch's deadline and the round's after it
	}{
		{"the first batch opens a round at its own deadline", time.Time{}, 0, 0, 500, 500},
		{"a later batch ends with the round", t0.Add(ms(500)), 100, 90, 500, 500},
		{"a batch that would not get its least wait opens the next round", t0.Add(ms(500)), 490, 490, 990, 990},
		{"a round that ended is replaced", t0.Add(ms(500)), 700, 700, 1200, 1200},
		{"a backlog's batch ends sooner, the round stays", t0.Add(ms(500)), 100, -5000, 120, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := batchRounds{end: tt.roundEnd}
			fetched := t0.Add(ms(tt.fetched))
			got := r.deadline(fetched, batchDeadline(fetched, t0.Add(ms(tt.record)), wait, maxWait), wait)
			if d := got.Sub(t0); d != ms(tt.want) {
				t.Errorf("deadline t0+%s, want t0+%s", d, ms(tt.want))
			}
			if d := r.end.Sub(t0); d != ms(tt.wantRound) {
				t.Errorf("round ends at t0+%s, want t0+%s", d, ms(tt.wantRound))
			}
		})
	}
}
