package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/alsobought/alsobought/store"
)

// batchWriter writes the batches of the partitions a consumer owns, and
// merges the batches that are ready at the same time into one write
// (store.Batches.ApplyMany): a group commit. A paced load gives each
// partition a small batch, and a small batch costs several times the
// Redis commands per event of a full one, because every row it touches
// costs a read and a write; merged, a row that several partitions' events
// touch costs them once (docs/DESIGN.md §4, "Merged writes").
//
// A batch that arrives while a write is running waits for it and goes in
// the next one, with every other batch that arrived meanwhile. A batch
// that finds the writer idle waits, at most gather, for the batches that
// other partitions are preparing (decoding, reading their customers,
// computing) and for those whose filling has ended or ends within soon:
// the partitions' batches end together (batchRounds), or, a small
// backlog each after a slow write, within a batch wait of each other, but
// on a loaded machine a partition's goroutine may run a few milliseconds
// late, and the write would leave its batch to the next one
// (docs/BENCHMARKS.md, "Eleventh pass"). A partition whose batch ends
// later, in the next round, is not waited for.
type batchWriter struct {
	apply  func(ctx context.Context, writes []store.BatchWrite) error // StateStore.ApplyMany
	gather time.Duration
	soon   time.Duration     // a batch whose filling ends within this is waited for
	writes func(batches int) // observes each write, by its number of batches

	mu    sync.Mutex
	queue []*pendingWrite
	// preparing are the partitions with a batch that is not queued yet:
	// each with the time its filling ends (expect), or zero once it is
	// being prepared (prepare).
	preparing map[int]time.Time
	writing   bool          // a leader is gathering or writing
	arrived   chan struct{} // signals the gathering leader that a batch was queued or given up
}

// pendingWrite is a partition's batch waiting for its write.
type pendingWrite struct {
	ctx  context.Context
	w    store.BatchWrite
	done chan error    // the write's outcome
	lead chan struct{} // this batch's caller writes the next group
}

func newBatchWriter(apply func(context.Context, []store.BatchWrite) error, gather, soon time.Duration, writes func(batches int)) *batchWriter {
	return &batchWriter{apply: apply, gather: gather, soon: soon, writes: writes, preparing: map[int]time.Time{}, arrived: make(chan struct{}, 1)}
}

// expect says that partition is filling a batch until end: a write
// gathering from soon before end on waits for it. prepared undoes it, for
// a batch that turned out not thin (it is written alone).
func (bw *batchWriter) expect(partition int, end time.Time) {
	bw.mu.Lock()
	bw.preparing[partition] = end
	bw.mu.Unlock()
}

// prepare says that partition has a batch and is preparing its write: a
// gathering write waits for it.
func (bw *batchWriter) prepare(partition int) {
	bw.mu.Lock()
	bw.preparing[partition] = time.Time{}
	bw.mu.Unlock()
}

// prepared says that partition's batch is no longer being prepared nor
// filled: it was queued (write), given up (an error before its write), or
// is not thin.
func (bw *batchWriter) prepared(partition int) {
	bw.mu.Lock()
	delete(bw.preparing, partition)
	bw.mu.Unlock()
	bw.signal()
}

func (bw *batchWriter) signal() {
	select {
	case bw.arrived <- struct{}{}:
	default:
	}
}

// write writes w with the other partitions' batches queued or being
// prepared, and returns when that write is over. With other batches in
// the write, an error does not say which partition's guard refused: the
// caller applies its batch again, from reading its customers and progress
// on (store.Batches.ApplyMany). ctx bounds the write; when it ends, the
// write it is in stops and every batch in it is retried by its partition.
func (bw *batchWriter) write(ctx context.Context, w store.BatchWrite) error {
	pw := &pendingWrite{ctx: ctx, w: w, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	bw.mu.Lock()
	bw.queue = append(bw.queue, pw)
	delete(bw.preparing, w.Batch.Partition)
	idle := !bw.writing
	bw.writing = true
	bw.mu.Unlock()
	if idle {
		bw.writeGroup(true)
	} else {
		bw.signal()
	}
	for {
		select {
		case err := <-pw.done:
			return err
		case <-pw.lead:
			bw.writeGroup(false)
		}
	}
}

// writeAlone writes w at once, in a write of its own, beside any other.
func (bw *batchWriter) writeAlone(ctx context.Context, w store.BatchWrite) error {
	err := bw.apply(ctx, []store.BatchWrite{w})
	if bw.writes != nil {
		bw.writes(1)
	}
	return err
}

// writeGroup writes the queued batches, at most one per partition, after
// gathering (when the writer was idle), and hands the writing on to the
// first batch left in the queue.
func (bw *batchWriter) writeGroup(gather bool) {
	if gather && bw.gather > 0 {
		start := time.Now()
		deadline := time.NewTimer(bw.gather)
		for bw.stillPreparing(start) {
			select {
			case <-bw.arrived:
				continue
			case <-deadline.C:
			}
			break
		}
		deadline.Stop()
	}
	group := bw.take()
	writes := make([]store.BatchWrite, len(group))
	for i, pw := range group {
		writes[i] = pw.w
	}
	// The write stops when the context of any of its batches ends (a
	// rebalance, a stop): the others are retried by their partitions.
	ctx, cancel := context.WithCancel(context.WithoutCancel(group[0].ctx))
	for _, pw := range group {
		defer context.AfterFunc(pw.ctx, cancel)()
	}
	err := bw.apply(ctx, writes)
	cancel()
	if bw.writes != nil {
		bw.writes(len(group))
	}
	for _, pw := range group {
		pw.done <- err
	}
	bw.mu.Lock()
	defer bw.mu.Unlock()
	if len(bw.queue) == 0 {
		bw.writing = false
		return
	}
	bw.queue[0].lead <- struct{}{}
}

// stillPreparing reports whether a partition is preparing a batch that is
// not queued yet, or filling one that ended or ends within soon, for a
// write that started gathering at start. An end older than the gather
// bound before start is stale (a partition that stopped between its
// filling and its batch): it is not waited for.
func (bw *batchWriter) stillPreparing(start time.Time) bool {
	now := time.Now()
	bw.mu.Lock()
	defer bw.mu.Unlock()
	for _, end := range bw.preparing {
		if end.IsZero() || !end.After(now.Add(bw.soon)) && end.After(start.Add(-bw.gather)) {
			return true
		}
	}
	return false
}

// take removes from the queue the batches of the next write: the first
// of each partition (a partition has one batch at a time but for a
// rebalance's overlap; a write holds a partition once).
func (bw *batchWriter) take() []*pendingWrite {
	bw.mu.Lock()
	defer bw.mu.Unlock()
	var group, rest []*pendingWrite
	seen := map[int]bool{}
	for _, pw := range bw.queue {
		if p := pw.w.Batch.Partition; !seen[p] {
			seen[p] = true
			group = append(group, pw)
		} else {
			rest = append(rest, pw)
		}
	}
	bw.queue = rest
	return group
}
