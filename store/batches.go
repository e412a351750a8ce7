package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/store/schema"
)

// Batches is the consumer's side of the state: it reads what a batch of
// one partition needs and writes the batch in fenced steps, and it keeps
// each partition's progress.
type Batches struct{ c *conn }

// BatchState is what a consumer reads before it computes a batch.
type BatchState struct {
	Customers map[string]Customer // by id; unknown customers have an empty state
	Progress  int64               // the partition's stored progress, -1 when none
}

// LoadState reads, in one round trip, the given customers and the stored
// progress of partition (none when partition < 0). The consumer compares
// the progress with what it recorded itself: a Redis that lost
// acknowledged writes (a crash with AOF everysec, a failover to a replica
// that lagged) shows an older progress, and the consumer must re-read from
// there.
func (b *Batches) LoadState(ctx context.Context, partition int, ids []string) (BatchState, error) {
	return loadBatchState(ctx, b.c, partition, ids)
}

func loadBatchState(ctx context.Context, c *conn, partition int, ids []string) (BatchState, error) {
	var progress *redis.StringCmd
	cmds, err := c.read(ctx, "load customers", func(p redis.Pipeliner) {
		for _, id := range ids {
			p.HGetAll(ctx, c.keys.Customer(id))
		}
		if partition >= 0 {
			progress = p.HGet(ctx, c.keys.Progress, schema.PartitionField(partition))
		}
	})
	if err != nil {
		return BatchState{}, err
	}
	bs := BatchState{Customers: make(map[string]Customer, len(ids)), Progress: -1}
	for i, id := range ids {
		cu, err := parseCustomer(cmds[i].(*redis.MapStringStringCmd).Val())
		if err != nil {
			return BatchState{}, fmt.Errorf("customer %s: %w", id, err)
		}
		bs.Customers[id] = cu
	}
	if progress != nil && progress.Err() == nil {
		if bs.Progress, err = strconv.ParseInt(progress.Val(), 10, 64); err != nil {
			return BatchState{}, fmt.Errorf("progress of partition %d: %q is not an offset", partition, progress.Val())
		}
	}
	return bs, nil
}

// CustomerUpdate is the new state of a customer after a batch.
type CustomerUpdate struct {
	ID        string
	Purchases delta.History
	Views     delta.History
	Recent    delta.Recent
	// Offset is the value of the write's fence: the offset of the
	// customer's last event in an events batch, the sweep's sequence in a
	// sweep.
	Offset int64
	// IndexAge keeps the customer in its partition's age index (ageing is
	// on): scored by its oldest entry, or out of it when it holds none.
	IndexAge bool
}

// DefaultTombstoneTTL is how long the fences of a deleted customer (its histories
// aged out or erased) are kept. A replay reaches a customer's old events
// only when a partition's stored progress goes back, which a Redis that lost
// acknowledged writes causes and the batch guards notice within a batch;
// a week is far beyond that and costs a few dozen bytes per customer
// (docs/DESIGN.md section 10).
const DefaultTombstoneTTL = 7 * 24 * time.Hour

// Apply writes a batch of one partition in fenced steps, each one
// pipeline acknowledged before the next starts: the counter changes and
// dirty marks, then the customers' new states, then the partition's
// progress. A crash between steps is repaired by re-consuming the batch:
// the counter fences skip what was applied, and customers whose state was
// written skip their events.
//
// recorded is the partition's progress the batch was computed on (-1:
// none). A Redis that restarts or fails over loses a suffix of the writes it
// acknowledged, and go-redis reconnects without telling: a later step would
// then land on a state that lacks earlier steps or earlier batches, and the
// watermarks it raises would hide that gap for good. So every write is
// guarded (batchGuard): the first step's scripts check that the stored
// progress is not below recorded (else a *ProgressLostError: re-read the
// partition from the stored progress), and each step ends with a marker
// that the next step's scripts require (else ErrBatchLost: apply the batch
// again).
func (b *Batches) Apply(ctx context.Context, batch *delta.Batch, customers []CustomerUpdate, lastOffset, recorded int64) error {
	return b.ApplyMany(ctx, []BatchWrite{{Batch: batch, Customers: customers, LastOffset: lastOffset, Recorded: recorded}})
}

// BatchWrite is one partition's batch for ApplyMany: Apply's arguments.
type BatchWrite struct {
	Batch                *delta.Batch
	Customers            []CustomerUpdate
	LastOffset, Recorded int64
}

// ApplyMany writes the batches of several partitions (each one at most
// once) in one fenced write, as Apply writes one: the same steps, each
// partition with its own guard conditions, step markers and progress, and
// a hash that several of them change is sent once with the sums of all
// (applySumsScript). Small batches cost several times more Redis
// commands per event than full ones, because every hash a batch touches
// costs its read and its write; merging the batches a process holds at
// once brings a paced load's writes closer to full batches' (a fifth
// fewer commands per paced Dunnhumby event in BenchmarkApplyBatches;
// docs/DESIGN.md §4, "Merged writes").
//
// With one batch its errors are Apply's. With several, a refusal does not
// say whose guard refused: the error wraps it (ErrBatchLost or
// ErrProgressLost), and each partition must apply its batch again from
// reading its customers and its progress on (LoadState), where a lost
// progress shows.
func (b *Batches) ApplyMany(ctx context.Context, writes []BatchWrite) error {
	keys := b.c.keys
	parts := make([]fencedPart, len(writes))
	for i, w := range writes {
		p, lastOffset, latest := w.Batch.Partition, w.LastOffset, w.Batch.Latest
		parts[i] = fencedPart{
			batch: w.Batch, customers: w.Customers, recorded: w.Recorded,
			fence: schema.WatermarkField(p),
			attempted: func(pl redis.Pipeliner) {
				advanceScript.EvalSha(ctx, pl, []string{keys.Clock}, schema.ClockField(schema.ClockAttempted, p), lastOffset)
			},
			finish: func(pl redis.Pipeliner, guardKey, guard string) {
				var latestMs int64
				if !latest.IsZero() {
					latestMs = latest.UnixMilli()
				}
				finishBatchScript.EvalSha(ctx, pl, []string{keys.Progress, guardKey, keys.Inflight, keys.Clock},
					schema.PartitionField(p), guard, lastOffset,
					schema.ClockField(schema.ClockEventTime, p), latestMs, schema.ClockField(schema.ClockIdle, p))
			},
		}
	}
	return b.c.writeFenced(ctx, fencedWrite{parts: parts, id: strconv.FormatInt(writes[0].LastOffset, 10)})
}

// fencedWrite is one guarded, fenced write of the state: the events
// batches of one or more partitions (Batches.ApplyMany) or a partition's
// sweep (Sweeps.Apply).
type fencedWrite struct {
	parts []fencedPart
	id    string // names the write in its step markers
	// before, if set, is written as the first step (the sweep's plan).
	before func(p redis.Pipeliner)
	// tombstoneTTL is how long a customer emptied by the write keeps its
	// fences (0: DefaultTombstoneTTL).
	tombstoneTTL time.Duration
}

// fencedPart is one partition's share of a fencedWrite.
type fencedPart struct {
	batch     *delta.Batch
	customers []CustomerUpdate
	recorded  int64
	fence     string // the fence field of counters and customers
	// attempted, if set, joins the first step that writes counters or
	// customers: it records how far the write reaches (ClockAttempted).
	attempted func(p redis.Pipeliner)
	// finish writes the last step; its scripts must start with batchGuard
	// on guardKey and guard.
	finish func(p redis.Pipeliner, guardKey, guard string)
}

// error is what a failed step of the write returns: batchError's typed
// refusals for one partition; for several, the refusal wrapped with the
// partitions, since it does not say whose guard refused.
func (w fencedWrite) error(err error) error {
	if err == nil {
		return nil
	}
	if len(w.parts) == 1 {
		return batchError(err, w.parts[0].batch.Partition, w.parts[0].recorded)
	}
	ps := make([]string, len(w.parts))
	for i, part := range w.parts {
		ps[i] = strconv.Itoa(part.batch.Partition)
	}
	switch code, _ := errorCode(err); code {
	case codeProgressLost:
		err = fmt.Errorf("%w (%w)", ErrProgressLost, err)
	case codeBatchLost:
		err = fmt.Errorf("%w (%w)", ErrBatchLost, err)
	}
	return fmt.Errorf("merged write of partitions %s: %w", strings.Join(ps, ","), err)
}

// writeFenced runs a fencedWrite in steps, as Batches.Apply describes;
// every step ends with each partition's marker.
func (c *conn) writeFenced(ctx context.Context, w fencedWrite) error {
	keys, parts := c.keys, w.parts
	pfs := make([]string, len(parts))
	guards := make([]string, len(parts))
	for i, part := range parts {
		pfs[i] = schema.PartitionField(part.batch.Partition)
		guards[i] = guardProgress + strconv.FormatInt(part.recorded, 10)
	}
	guardKey := keys.Progress
	batchID := w.id + "." + strconv.FormatUint(rand.Uint64(), 36)
	step := 0
	var lead []func(p redis.Pipeliner) // written first in the next step (below)
	// runStep writes one step and the partitions' markers, and makes them
	// the guards of what follows.
	runStep := func(what string, fill func(p redis.Pipeliner)) error {
		step++
		marker := batchID + "." + strconv.Itoa(step)
		_, err := c.write(ctx, what, func(p redis.Pipeliner) {
			for _, l := range lead {
				l(p)
			}
			lead = nil
			fill(p)
			for i := range parts {
				markStepScript.EvalSha(ctx, p, []string{keys.Inflight, guardKey}, pfs[i], guards[i], marker)
			}
		})
		if err != nil {
			return w.error(err)
		}
		guardKey = keys.Inflight
		for i := range guards {
			guards[i] = guardMarker + marker
		}
		return nil
	}
	if w.before != nil {
		if err := runStep("record sweep plan", w.before); err != nil {
			return err
		}
	}
	// The attempted offset must be in Redis before any counter or customer
	// of the write. A single Redis runs a pipeline in order, so it leads the
	// first step; a cluster runs the global keys after the others, so it
	// gets a step of its own there (one more round trip per write, not per
	// event).
	var attempted []func(p redis.Pipeliner)
	anyCounters, anyCustomers := false, false
	for _, part := range parts {
		if part.attempted != nil && (len(part.batch.Ops) > 0 || len(part.customers) > 0) {
			attempted = append(attempted, part.attempted)
		}
		anyCounters = anyCounters || len(part.batch.Ops) > 0 || len(part.batch.Dirty) > 0 || !part.batch.Latest.IsZero()
		anyCustomers = anyCustomers || len(part.customers) > 0
	}
	if len(attempted) > 0 {
		if c.cluster != nil {
			err := runStep("record attempted offset", func(p redis.Pipeliner) {
				for _, a := range attempted {
					a(p)
				}
			})
			if err != nil {
				return err
			}
		} else {
			lead = attempted
		}
	}
	var marks []string // the dirty lists, once the counters' replies are known
	if anyCounters {
		sums, err := c.writeCounters(ctx, parts, pfs, runStep, func() (string, []string) { return guardKey, guards })
		if err != nil {
			return err
		}
		marks = dirtyMembers(keys, parts, sums)
	}
	// The marks follow the counters, in the next step (the customers', or
	// one of their own), so that a mark is decided by what the counters'
	// write did. They are in Redis before the progress moves: a batch
	// stopped before them is applied again, and its sums, applied before,
	// then mark every dirty row.
	if len(marks) > 0 {
		// The time of the first mark is the batches' earliest record time
		// (not after now: a producer clock may run ahead).
		at := time.Now()
		for _, part := range parts {
			if first := part.batch.FirstRecord; !first.IsZero() && first.Before(at) {
				at = first
			}
		}
		mark := func(p redis.Pipeliner) { c.markDirty(ctx, p, at, marks) }
		if anyCustomers {
			lead = append(lead, mark)
		} else if err := runStep("mark dirty lists", mark); err != nil {
			return err
		}
	}
	if anyCustomers {
		ttl := w.tombstoneTTL
		if ttl <= 0 {
			ttl = DefaultTombstoneTTL
		}
		tombstone := strconv.FormatInt(ttl.Milliseconds(), 10)
		err := runStep("write customers", func(p redis.Pipeliner) {
			for i, part := range parts {
				c.queueCustomers(ctx, p, part, manyCustomers{c: c, pf: pfs[i], guardKey: guardKey, guard: guards[i], fence: part.fence}, tombstone)
			}
		})
		if err != nil {
			return err
		}
	}
	_, err := c.write(ctx, "record progress", func(p redis.Pipeliner) {
		for i, part := range parts {
			part.finish(p, guardKey, guards[i])
		}
	})
	return w.error(err)
}

// writeCounters writes the parts' counter changes in a step of runStep
// (and their category and popularity metadata), and the hashes whose
// fence cuts a part's groups in a step of their own after it, group by
// group. guards returns the guard hash and the partitions' conditions of
// the step being written. It returns the hashes' sums, whose replies say
// what each write did.
func (c *conn) writeCounters(ctx context.Context, parts []fencedPart, pfs []string, runStep func(string, func(redis.Pipeliner)) error, guards func() (string, []string)) (map[string]*summedOps, error) {
	keys := c.keys
	// Each hash takes the sums of its changes (applySumsScript); the
	// hashes whose fence cuts a batch's groups take them group by group in
	// a step of their own, after this one's marker. The parts of one write
	// share the lists' min support.
	sums := map[string]*summedOps{}
	support := strconv.FormatInt(parts[0].batch.MinSupport, 10)
	// A state without row indexes (recorded before them, started
	// without them, or with exact bins) pays nothing for them.
	ix := c.rowIndex.Load()
	indexed := ix != nil
	// The rows count their indexed co-counts where the state has kept
	// the counts from its start: every write that names or unnames a
	// co-count in an index counts it, whatever support it names them at.
	counted := indexed && ix.counted
	var order []*summedOps
	for i, part := range parts {
		for k, ops := range part.batch.Ops {
			for _, so := range shardOps(keys, part.batch.Partition, k, ops, indexed) {
				if len(so.ops.Offsets) == 0 {
					continue
				}
				s := sums[so.key]
				if s == nil {
					s = &summedOps{key: so.key, index: so.index}
					sums[so.key] = s
					order = append(order, s)
				}
				s.parts = append(s.parts, partOps{part: i, ops: so.ops})
			}
		}
	}
	for _, s := range order {
		s.sum()
	}
	err := runStep("apply counter changes", func(p redis.Pipeliner) {
		guardKey, conds := guards()
		many := manySums{guardKey: guardKey, support: support, counted: counted}
		for i, part := range parts {
			many.partitions = append(many.partitions, pfs[i], conds[i], part.fence)
		}
		for _, s := range order {
			if c.cluster == nil {
				many.add(ctx, p, s)
				continue
			}
			// A cluster's hashes are in slots of their own: a call each,
			// guarded as guardKeys says.
			one := manySums{support: support, counted: counted}
			for i, part := range parts {
				scriptKeys, g := c.guardKeys(s.key, guardKey, conds[i])
				one.guardKey = scriptKeys[1]
				one.partitions = append(one.partitions, pfs[i], g, part.fence)
			}
			one.add(ctx, p, s)
			one.flush(ctx, p)
		}
		many.flush(ctx, p)
		writeMetadata(ctx, p, keys, parts)
	})
	if err != nil {
		return nil, err
	}
	var cut []*summedOps
	for _, s := range order {
		if s.reply() == cutByFence {
			cut = append(cut, s)
		}
	}
	if len(cut) == 0 {
		return sums, nil
	}
	err = runStep("apply counter changes cut by a fence", func(p redis.Pipeliner) {
		guardKey, conds := guards()
		for _, s := range cut {
			for _, po := range s.parts {
				part := parts[po.part]
				scriptKeys, g := c.guardKeys(s.key, guardKey, conds[po.part])
				if s.index != "" {
					scriptKeys = append(scriptKeys, s.index)
				}
				applyOpsScript.EvalSha(ctx, p, scriptKeys, applyOpsArgs(pfs[po.part], g, part.fence, support, s.index != "" && counted, po.ops)...)
			}
		}
	})
	return sums, err
}

// writeMetadata queues what a write's batches record beside their
// counters, unfenced: the popularity anchor and version, the days of
// their popularity buckets and the items' categories.
func writeMetadata(ctx context.Context, p redis.Pipeliner, keys schema.Keys, parts []fencedPart) {
	var latest time.Time
	days := map[ListKind][]any{}
	var categories [schema.Shards][]any
	for _, part := range parts {
		b := part.batch
		if b.Latest.After(latest) {
			latest = b.Latest
		}
		for kind, d := range popularityDaysOf(b) {
			days[kind] = append(days[kind], d...)
		}
		// Metadata for filters, not a counter: last writer wins.
		for it, cat := range b.Categories {
			s := schema.ItemShard(it)
			categories[s] = append(categories[s], it, cat)
		}
	}
	if !latest.IsZero() {
		// Not fenced, and need not be: the anchor only rises to a time
		// that was counted, and the version only signals.
		advanceScript.EvalSha(ctx, p, []string{keys.PopularityState}, schema.FieldAnchor, latest.UnixMilli())
		p.HIncrBy(ctx, keys.PopularityState, schema.FieldPopularityVersion, 1)
	}
	for kind, d := range days {
		p.SAdd(ctx, keys.PopularityDays(kind), d...)
	}
	for s, a := range categories {
		if len(a) > 0 {
			p.HSet(ctx, keys.ItemCategories(s), a...)
		}
	}
}

// queueCustomers queues a part's customer writes on many, which carries
// the part's guard, and their age index entries.
func (c *conn) queueCustomers(ctx context.Context, p redis.Pipeliner, part fencedPart, many manyCustomers, tombstone string) {
	keys, partition := c.keys, part.batch.Partition
	for _, cu := range part.customers {
		purchases, views, recent := cu.Purchases.Encode(), cu.Views.Encode(), cu.Recent.Encode()
		ever := cu.Purchases.Ever.Encode()
		ttl := "0"
		if purchases == "" && views == "" && recent == "" && ever == "" {
			ttl = tombstone
		}
		many.add(ctx, p, keys.Customer(cu.ID), cu.Offset, ttl,
			schema.CustomerPurchases, purchases, schema.CustomerViews, views,
			schema.CustomerRecent, recent, schema.CustomerEver, ever)
		if cu.IndexAge {
			// A hint, not state: the sweep reads the customer before
			// it acts, so a stale score costs a read, never a change.
			if oldest, ok := oldestEntry(cu.Purchases, cu.Views); ok {
				p.ZAdd(ctx, keys.AgeIndex(partition), redis.Z{Score: float64(oldest), Member: cu.ID})
			} else {
				p.ZRem(ctx, keys.AgeIndex(partition), cu.ID)
			}
		}
	}
	many.flush(ctx, p)
}

// dirtyMembers returns the dirty-set members of the parts' dirty rows,
// leaving out the rows whose sums (by hash) were applied now and cannot
// move their list (appliedListSame). A row applied before (a replay: its
// reply says nothing of what the first write did) or cut by its fence is
// marked.
func dirtyMembers(keys schema.Keys, parts []fencedPart, sums map[string]*summedOps) []string {
	var members []string
	seen := map[string]bool{}
	for _, part := range parts {
		for k := range part.batch.Dirty {
			kind, ok := listKindOfRow(k.Kind)
			if !ok {
				continue
			}
			if so := sums[keys.Row(kind, k.Item)]; so != nil && so.reply() == appliedListSame {
				continue
			}
			m := schema.DirtyMember(kind, k.Item)
			if len(parts) > 1 {
				if seen[m] {
					continue
				}
				seen[m] = true
			}
			members = append(members, m)
		}
	}
	return members
}

// summedOps is a hash's changes, from one or more parts of a write, and
// where its applySumsScript reply is: element at of call's.
type summedOps struct {
	key   string
	index string // the row's index, "" for other hashes
	parts []partOps
	// fields and deltas are the sums of the parts' changes
	// (delta.Ops.Sums), none zero.
	fields []string
	deltas []int64
	call   *sumsCall
	at     int
}

// partOps is a part's changes of a hash: the part's place in the write
// and its ops.
type partOps struct {
	part int
	ops  *delta.Ops
}

// sum fills fields and deltas: the sums of the parts' changes.
func (so *summedOps) sum() {
	if len(so.parts) == 1 {
		so.fields, so.deltas = so.parts[0].ops.Sums()
		return
	}
	var all delta.Ops
	for _, po := range so.parts {
		all.Fields = append(all.Fields, po.ops.Fields...)
		all.Deltas = append(all.Deltas, po.ops.Deltas...)
	}
	so.fields, so.deltas = all.Sums()
}

// sumsCall is an applySumsScript call and its replies, read from the
// command once: a call holds up to manySumsFields hashes, and converting
// its reply for each of them cost a paced Dunnhumby run 6% of serve's CPU.
type sumsCall struct {
	cmd     *redis.Cmd
	read    bool
	replies []int64 // nil when the script failed (the step's error says so)
}

// reply is the hash's applySumsScript reply (cutByFence, 0,
// appliedListMoves or appliedListSame), or 0 when the script failed.
func (so *summedOps) reply() int64 {
	c := so.call
	if !c.read {
		c.replies, _ = c.cmd.Int64Slice()
		c.read = true
	}
	if so.at < len(c.replies) {
		return c.replies[so.at]
	}
	return 0
}

// manySums gathers the hashes of a step into applySumsScript calls of
// at most manySumsFields sums each. Redis runs a call whole while other
// clients wait, so the bound keeps each call to a few hundred
// microseconds: with 1,000 sums per call the re-scorer's reads waited
// behind the consumer's calls and a saturated Dunnhumby run's freshness
// p99 went from 12 s to 19 s; 50 and 200 measured alike (docs/BENCHMARKS.md).
type manySums struct {
	guardKey, support string
	counted           bool  // the rows count their indexed co-counts
	partitions        []any // (field, condition, fence) of each part, as applySumsScript takes them

	keys    []string
	args    []any
	fields  int
	pending []*summedOps
}

// manySumsFields bounds the sums of one applySumsScript call.
const manySumsFields = 200

// add queues so's sums; its reply is known once the pipeline ran.
func (m *manySums) add(ctx context.Context, p redis.Pipeliner, so *summedOps) {
	if m.fields > 0 && m.fields+len(so.fields) > manySumsFields {
		m.flush(ctx, p)
	}
	m.keys = append(m.keys, so.key)
	indexed := "0"
	if so.index != "" {
		m.keys = append(m.keys, so.index)
		indexed = "1"
		if m.counted {
			indexed = "2"
		}
	}
	m.args = append(m.args, len(so.parts))
	for _, po := range so.parts {
		m.args = append(m.args, po.part+1, po.ops.Offsets[0], po.ops.Offsets[len(po.ops.Offsets)-1])
	}
	m.args = append(m.args, len(so.fields), indexed)
	for j, f := range so.fields {
		m.args = append(m.args, f, so.deltas[j])
	}
	m.fields += len(so.fields)
	so.call, so.at = nil, len(m.pending)
	m.pending = append(m.pending, so)
}

// flush queues the call of the hashes added since the last one.
func (m *manySums) flush(ctx context.Context, p redis.Pipeliner) {
	if len(m.keys) == 0 {
		return
	}
	args := make([]any, 0, 2+len(m.partitions)+len(m.args))
	args = append(args, len(m.partitions)/3, m.support)
	args = append(append(args, m.partitions...), m.args...)
	call := &sumsCall{cmd: applySumsScript.EvalSha(ctx, p, append([]string{m.guardKey}, m.keys...), args...)}
	for _, s := range m.pending {
		s.call = call
	}
	m.keys, m.args, m.fields, m.pending = nil, nil, 0, nil
}

// manyCustomers gathers a step's customer writes into
// writeCustomersScript calls: up to manyCustomersPerCall per call on a
// single Redis (or Sentinel's master), one per call in a cluster, whose
// customers are in slots of their own.
type manyCustomers struct {
	c                          *conn
	pf, guardKey, guard, fence string // the step's, as the script takes them

	keys  []string
	args  []any
	bytes int
}

// manyCustomersPerCall and manyCustomersBytes bound one call, as
// manySumsFields bounds the sums, so that the storefront's and the
// re-scorer's reads do not wait long behind it: a customer is its four
// histories, up to a few kilobytes on long ones.
const (
	manyCustomersPerCall = 50
	manyCustomersBytes   = 16 << 10
)

// add queues the write of the customer hash key: its fence, the time to
// live when emptied ("0": none) and pairs of (field, value).
func (m *manyCustomers) add(ctx context.Context, p redis.Pipeliner, key string, fence int64, ttl string, fields ...string) {
	if m.c.cluster != nil {
		// The guard hash comes first in the script's keys: a customer in
		// another slot than the guard hash is its own guard key, under no
		// condition (guardKeys).
		scriptKeys, g := m.c.guardKeys(key, m.guardKey, m.guard)
		args := []any{m.pf, g, m.fence, fence, ttl, len(fields) / 2}
		for _, f := range fields {
			args = append(args, f)
		}
		writeCustomersScript.EvalSha(ctx, p, []string{scriptKeys[1], key}, args...)
		return
	}
	m.keys = append(m.keys, key)
	m.args = append(m.args, fence, ttl, len(fields)/2)
	for _, f := range fields {
		m.args = append(m.args, f)
		m.bytes += len(f)
	}
	if len(m.keys) == manyCustomersPerCall || m.bytes >= manyCustomersBytes {
		m.flush(ctx, p)
	}
}

// flush queues the call of the customers added since the last one.
func (m *manyCustomers) flush(ctx context.Context, p redis.Pipeliner) {
	if len(m.keys) == 0 {
		return
	}
	writeCustomersScript.EvalSha(ctx, p, append([]string{m.guardKey}, m.keys...), append([]any{m.pf, m.guard, m.fence}, m.args...)...)
	m.keys, m.args, m.bytes = nil, nil, 0
}

// applyOpsArgs is applyOpsScript's ARGV for ops.
func applyOpsArgs(pf, guard, fence, support string, counted bool, ops *delta.Ops) []any {
	args := make([]any, 0, 5+2*len(ops.Offsets)+2*len(ops.Fields))
	count := "0"
	if counted {
		count = "1"
	}
	args = append(args, pf, guard, fence, support, count)
	f := 0
	for g, off := range ops.Offsets {
		args = append(args, off, ops.Counts[g])
		for j := 0; j < ops.Counts[g]; j++ {
			args = append(args, ops.Fields[f], ops.Deltas[f])
			f++
		}
	}
	return args
}

// oldestEntry is the time of the oldest entry of either history, or of an
// ever-bought set's newest item when that is older: a sweep must visit the
// customer when its cut reaches the set (delta.ForgetEver).
func oldestEntry(hs ...delta.History) (int64, bool) {
	var oldest int64
	found := false
	for _, h := range hs {
		times := h.Times
		if h.Ever.Len() > 0 {
			times = append(times[:len(times):len(times)], h.Ever.Newest)
		}
		for _, t := range times {
			if !found || t < oldest {
				oldest, found = t, true
			}
		}
	}
	return oldest, found
}

// shardedOps is a part of a batch's changes of one key and the hash it
// goes to.
type shardedOps struct {
	key   string
	ops   *delta.Ops
	index string // the row's index (Keys.RowIndex), "" for other hashes
}

// shardOps returns the hashes a change of package delta goes to, with
// each its part of the changes. A row or a popularity bucket takes them
// all; the buyers and viewers counts are split by the shard of the item
// each field counts, and the totals by the shard of each event's offset
// (schema.OffsetShard), so that every replay of an event sends its change
// to the same shard and that shard's watermark fences it. A row comes with
// its index when the state keeps them (indexed).
func shardOps(keys schema.Keys, partition int, k delta.Key, ops *delta.Ops, indexed bool) []shardedOps {
	if kind, ok := listKindOfRow(k.Kind); ok {
		so := shardedOps{key: keys.Row(kind, k.Item), ops: ops}
		if indexed {
			so.index = keys.RowIndex(kind, k.Item)
		}
		return []shardedOps{so}
	}
	var shardKey func(int) string
	byItem := false
	switch k.Kind {
	case delta.PopularBoughtKey:
		return []shardedOps{{key: keys.Popularity(Bought, k.Item), ops: ops}}
	case delta.PopularViewedKey:
		return []shardedOps{{key: keys.Popularity(Viewed, k.Item), ops: ops}}
	case delta.BuyersKey:
		shardKey, byItem = keys.Buyers, true
	case delta.ViewersKey:
		shardKey, byItem = keys.Viewers, true
	case delta.ViewTotalsKey:
		shardKey = keys.ViewTotals
	default:
		shardKey = keys.Totals
	}
	var parts [schema.Shards]*delta.Ops
	part := func(s int) *delta.Ops {
		if parts[s] == nil {
			parts[s] = &delta.Ops{}
		}
		return parts[s]
	}
	f := 0
	for g, off := range ops.Offsets {
		n := ops.Counts[g]
		if !byItem {
			o := part(schema.OffsetShard(partition, off))
			o.Offsets, o.Counts = append(o.Offsets, off), append(o.Counts, n)
			o.Fields, o.Deltas = append(o.Fields, ops.Fields[f:f+n]...), append(o.Deltas, ops.Deltas[f:f+n]...)
			f += n
			continue
		}
		for ; n > 0; n-- {
			o := part(schema.ItemShard(ops.Fields[f]))
			if last := len(o.Offsets) - 1; last < 0 || o.Offsets[last] != off {
				o.Offsets, o.Counts = append(o.Offsets, off), append(o.Counts, 0)
			}
			o.Counts[len(o.Counts)-1]++
			o.Fields, o.Deltas = append(o.Fields, ops.Fields[f]), append(o.Deltas, ops.Deltas[f])
			f++
		}
	}
	out := make([]shardedOps, 0, len(parts))
	for s, o := range parts {
		if o != nil {
			out = append(out, shardedOps{key: shardKey(s), ops: o})
		}
	}
	return out
}

// popularityDaysOf returns the bucket days a batch counts events in, by kind.
func popularityDaysOf(b *delta.Batch) map[ListKind][]any {
	out := map[ListKind][]any{}
	for k := range b.Ops {
		switch k.Kind {
		case delta.PopularBoughtKey:
			out[Bought] = append(out[Bought], k.Item)
		case delta.PopularViewedKey:
			out[Viewed] = append(out[Viewed], k.Item)
		}
	}
	return out
}

// Progress returns the applied offset of every partition that has one.
func (b *Batches) Progress(ctx context.Context) (map[int]int64, error) {
	return readOffsets(ctx, b.c, b.c.keys.Progress, "progress")
}

// readOffsets reads a hash of partition -> offset (schema.PartitionField):
// a topic's progress.
func readOffsets(ctx context.Context, c *conn, key, what string) (map[int]int64, error) {
	m, err := c.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	out := make(map[int]int64, len(m))
	for f, v := range m {
		p, err1 := strconv.Atoi(f)
		off, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s field %q=%q is not partition=offset", what, f, v)
		}
		out[p] = off
	}
	return out, nil
}

// RecordPartitionCount adds the topic's current partition count to the
// counts recorded in the metadata and returns them all, in the order seen.
// Events keyed before partitions were added sit where the older count put
// them, so the key check accepts any recorded count.
func (b *Batches) RecordPartitionCount(ctx context.Context, n int) ([]int, error) {
	v, err := recordPartitionCountScript.Run(ctx, b.c.rdb, []string{b.c.keys.Meta}, schema.MetaPartitionCounts, n).Text()
	if err != nil {
		return nil, fmt.Errorf("record partition count: %w", err)
	}
	var counts []int
	for _, f := range strings.Split(v, schema.PartitionCountsSep) {
		c, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("metadata %s=%q is not a list of counts", schema.MetaPartitionCounts, v)
		}
		counts = append(counts, c)
	}
	return counts, nil
}
