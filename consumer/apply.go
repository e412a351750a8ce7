package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// StateStore is what the consumer needs from the state in Redis
// (store.Batches).
type StateStore interface {
	LoadState(ctx context.Context, partition int, ids []string) (store.BatchState, error)
	// ApplyMany writes the batches of one or more partitions in one
	// fenced write (store.Batches.ApplyMany).
	ApplyMany(ctx context.Context, writes []store.BatchWrite) error
	Progress(ctx context.Context) (map[int]int64, error)
	RecordPartitionCount(ctx context.Context, n int) ([]int, error)
}

// Rejected is a message that failed validation, with the reason.
type Rejected struct {
	Msg    kafka.Message
	Reason event.Reason
	Err    error
}

// BatchResult summarises what one batch did.
type BatchResult struct {
	Applied  map[event.Type]int // events that changed state, by type
	Skipped  int                // events already applied (redelivery, replay)
	Dupes    map[event.Type]int // events whose id the customer had recently used (producer retries)
	Late     int                // applied events older than the watermark less the allowed lateness
	Rejected []Rejected         // bad events, for the dead-letter topic
	Changes  int                // counter changes written
}

// applier turns a partition's batch of messages into fenced state changes.
type applier struct {
	store       StateStore
	retention   delta.Retention
	bins        scoring.Bins
	minSupport  int64 // the lists' (delta.Batch.MinSupport)
	dedup       delta.Dedup
	limits      event.Limits
	maxSkew     time.Duration
	partitioner *keyPartitioner // nil: no partition check
	// writer merges the thin batches of the consumer's partitions that
	// are ready at once into one write; nil: each batch is written alone.
	writer *batchWriter
}

// decode validates the messages of a batch; the valid ones keep their offsets.
func (a *applier) decode(msgs []kafka.Message) ([]decoded, []Rejected) {
	out := make([]decoded, 0, len(msgs))
	var bad []Rejected
	lim := a.limits
	lim.MaxTime = time.Now().Add(a.maxSkew) // the window moves with the clock
	for _, m := range msgs {
		ev, err := event.Decode(m.Value, lim)
		if err == nil && string(m.Key) != ev.CustomerID {
			err = &event.Error{Reason: event.ReasonKeyMismatch, Field: "key",
				Detail: fmt.Sprintf("message key %s is not the customer_id %s", event.Fingerprint(m.Key), event.Fingerprint([]byte(ev.CustomerID)))}
		}
		if err == nil && a.partitioner != nil && !a.partitioner.fits(m.Key, m.Partition) {
			err = &event.Error{Reason: event.ReasonWrongPartition, Field: "key",
				Detail: fmt.Sprintf("key %s does not hash to partition %d with murmur2: publish with the murmur2 partitioner", event.Fingerprint(m.Key), m.Partition)}
		}
		if err != nil {
			bad = append(bad, Rejected{Msg: m, Reason: event.ReasonOf(err), Err: err})
			continue
		}
		out = append(out, decoded{ev: ev, offset: m.Offset, record: m.Time})
	}
	return out, bad
}

type decoded struct {
	ev     event.Event
	offset int64
	record time.Time // the Kafka record's timestamp
}

// apply computes and writes the state changes of a partition's valid events.
// The events must be in offset order. lastOffset is the offset of the last
// message of the batch (valid or not): progress moves to it. recorded is
// the progress the caller saw acknowledged (-1: none); a stored progress
// behind it, read before the batch or met by any of its writes, gives a
// *store.ProgressLostError and writes nothing on top of the gap. Events
// older than lateBefore (unix ms) are late (docs/DESIGN.md section 10):
// they are applied against the customer's current histories and counted.
// merge lets the writer merge the batch with other partitions' (a thin
// batch; a large one is written alone, at once).
func (a *applier) apply(ctx context.Context, partition int, evs []decoded, lastOffset, recorded, lateBefore int64, merge bool) (BatchResult, error) {
	res := BatchResult{Applied: map[event.Type]int{}, Dupes: map[event.Type]int{}}
	ids := make([]string, 0, len(evs))
	seen := make(map[string]struct{}, len(evs))
	for _, d := range evs {
		if _, ok := seen[d.ev.CustomerID]; !ok {
			seen[d.ev.CustomerID] = struct{}{}
			ids = append(ids, d.ev.CustomerID)
		}
	}
	// Read even when every event was bad: the progress check matters most
	// before progress moves.
	bs, err := a.store.LoadState(ctx, partition, ids)
	if err != nil {
		return res, err
	}
	if bs.Progress < recorded {
		return res, &store.ProgressLostError{Partition: partition, Stored: bs.Progress, Recorded: recorded}
	}
	customers := bs.Customers
	b := delta.NewBatch(partition)
	b.Bins, b.MinSupport = a.bins, a.minSupport
	touched := make(map[string]*store.CustomerUpdate, len(ids))
	for _, d := range evs {
		c := customers[d.ev.CustomerID]
		if d.offset <= c.Watermark(partition) {
			res.Skipped++ // applied before: its changes and its customer state are in Redis
			continue
		}
		u := touched[d.ev.CustomerID]
		if u == nil {
			u = &store.CustomerUpdate{ID: d.ev.CustomerID, Purchases: c.Purchases, Views: c.Views, Recent: c.Recent,
				IndexAge: a.retention.MaxAge > 0}
			touched[d.ev.CustomerID] = u
		}
		// The watermark moves past a duplicate too, so a replay skips it
		// by offset without looking at ids.
		u.Offset = d.offset
		if a.dedup.Window > 0 && u.Recent.Seen(d.ev.ID) {
			res.Dupes[d.ev.Type]++
			continue
		}
		u.Recent.Add(d.ev.ID, d.ev.Time, a.dedup)
		if !d.record.IsZero() && (b.FirstRecord.IsZero() || d.record.Before(b.FirstRecord)) {
			b.FirstRecord = d.record
		}
		if d.ev.Time.UnixMilli() < lateBefore {
			res.Late++
		}
		b.Count(d.ev.Type == event.Purchase, d.ev.ItemID, d.ev.Category, d.ev.Time, d.offset)
		switch d.ev.Type {
		case event.Purchase:
			b.Purchase(&u.Purchases, &u.Views, d.ev.ItemID, d.ev.Time, d.offset, a.retention)
		case event.View:
			b.View(&u.Purchases, &u.Views, d.ev.ItemID, d.ev.Time, d.offset, a.retention)
		}
		res.Applied[d.ev.Type]++
	}
	updates := make([]store.CustomerUpdate, 0, len(touched))
	for _, u := range touched {
		updates = append(updates, *u)
	}
	w := store.BatchWrite{Batch: b, Customers: updates, LastOffset: lastOffset, Recorded: recorded}
	switch {
	case a.writer == nil:
		err = a.store.ApplyMany(ctx, []store.BatchWrite{w})
	case merge:
		err = a.writer.write(ctx, w)
	default:
		err = a.writer.writeAlone(ctx, w)
	}
	if err != nil {
		return res, err
	}
	res.Changes = b.Changes
	return res, nil
}
