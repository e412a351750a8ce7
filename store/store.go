package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
)

// DefaultPrefix is the key prefix when none is configured.
const DefaultPrefix = "ab"

// Mode is how alsobought talks to Redis. It is an explicit setting: a
// single seed address must not silently give a plain client for a cluster,
// or a cluster client for a single server.
type Mode string

// Modes.
const (
	Single  Mode = "single"  // one Redis server (with replicas behind a failover proxy, or none)
	Cluster Mode = "cluster" // Redis Cluster: Addrs are seed nodes
)

// ParseMode returns the mode called s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Single, Cluster:
		return m, nil
	}
	return "", fmt.Errorf("redis mode %q: use single or cluster", s)
}

// Config says where the state lives.
type Config struct {
	// Mode is Single (default) or Cluster.
	Mode Mode
	// Addrs of the Redis server (Single: exactly one), or seed nodes of the
	// cluster (Cluster: one or more).
	Addrs []string
	// Prefix of every key. Default DefaultPrefix.
	Prefix string
	// WaitReplicas is how many replicas must acknowledge each write step
	// (Redis WAIT, sent on the connection that wrote, per node) before the
	// next step starts, so that an unplanned failover cannot lose a step
	// the consumer went on from. 0 sends no WAIT. Cluster mode only: a
	// single Redis detects lost writes with the batch guards instead.
	WaitReplicas int
	// WaitTimeout bounds each WAIT; fewer acknowledgements fail the step,
	// which is then retried. Default 2 s.
	WaitTimeout time.Duration
}

// Validate checks the settings before anything connects.
func (c Config) Validate() error {
	if len(c.Addrs) == 0 || c.Addrs[0] == "" {
		return errors.New("no Redis address: set ALSOBOUGHT_REDIS_ADDRS (e.g. 127.0.0.1:16379)")
	}
	switch c.Mode {
	case "", Single:
		if len(c.Addrs) > 1 {
			return fmt.Errorf("%d Redis addresses given (%s): a single Redis takes exactly one address; for Redis Cluster set ALSOBOUGHT_REDIS_MODE=cluster",
				len(c.Addrs), strings.Join(c.Addrs, ","))
		}
		if c.WaitReplicas > 0 {
			return errors.New("redis wait replicas applies to cluster mode only (a single Redis is guarded by the batch guards): set it to 0 or ALSOBOUGHT_REDIS_MODE=cluster")
		}
	case Cluster:
	default:
		return fmt.Errorf("redis mode %q: use single or cluster", c.Mode)
	}
	if c.WaitReplicas < 0 {
		return fmt.Errorf("redis wait replicas must be 0 or more, got %d", c.WaitReplicas)
	}
	return ValidatePrefix(c.Prefix)
}

// Store reads and writes alsobought's state in Redis. It is safe for
// concurrent use.
type Store struct {
	rdb     redis.UniversalClient
	cluster *redis.ClusterClient // nil in single mode
	keys    Keys
	wait    int
	waitFor time.Duration
	popular popularCache
}

// Redis client timeouts: a batch pipeline can be large.
const ioTimeout = 10 * time.Second

// New builds a Store; it does not connect until first used.
func New(cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{keys: Keys{Prefix: cfg.Prefix}, wait: cfg.WaitReplicas, waitFor: cfg.WaitTimeout}
	if s.waitFor <= 0 {
		s.waitFor = 2 * time.Second
	}
	if cfg.Mode == Cluster {
		s.cluster = redis.NewClusterClient(&redis.ClusterOptions{Addrs: cfg.Addrs, ReadTimeout: ioTimeout + s.waitFor,
			WriteTimeout: ioTimeout, MaxRedirects: 8})
		s.rdb = s.cluster
		return s, nil
	}
	s.rdb = redis.NewClient(&redis.Options{Addr: cfg.Addrs[0], ReadTimeout: ioTimeout, WriteTimeout: ioTimeout})
	return s, nil
}

// Keys returns the key builder, for tools and tests.
func (s *Store) Keys() Keys { return s.keys }

// Client exposes the Redis client for tools and tests.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Close releases the connections.
func (s *Store) Close() error { return s.rdb.Close() }

// Ping checks that Redis answers and loads the scripts, which pipelines
// run by hash only (EVALSHA inside a pipeline cannot fall back to EVAL).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return s.loadScripts(ctx)
}

func (s *Store) loadScripts(ctx context.Context) error {
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("load redis script: %w", err)
		}
	}
	return nil
}

// execPipeline runs a pipeline built by fill (reads, or writes that need
// no replica acknowledgement); see exec.
func (s *Store) execPipeline(ctx context.Context, what string, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	return s.exec(ctx, what, fill, false)
}

// exec runs a pipeline built by fill, split by master (and acknowledged by
// replicas when configured) when byMaster is set (execWrites in cluster
// mode). When Redis lost its script
// cache (restart, failover) it re-loads the scripts and runs the pipeline
// again; in a cluster it also refreshes the slot map and retries after
// redirects and failovers. Running a pipeline again is safe because every
// write in it is fenced or idempotent.
func (s *Store) exec(ctx context.Context, what string, fill func(redis.Pipeliner), byMaster bool) ([]redis.Cmder, error) {
	for attempt := 0; ; attempt++ {
		var cmds []redis.Cmder
		var err error
		if byMaster {
			cmds, err = s.execByMaster(ctx, fill)
		} else {
			pipe := s.rdb.Pipeline()
			fill(pipe)
			cmds, err = pipe.Exec(ctx)
			if errors.Is(err, redis.Nil) {
				err = nil // a missing key; callers read each command's own result
			}
		}
		if err == nil {
			return cmds, nil
		}
		retry := attempt == 0 && isNoScript(err)
		if s.cluster != nil && attempt < 3 && retryableInCluster(err) {
			retry = true
			s.cluster.ReloadState(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
			}
		}
		if !retry || ctx.Err() != nil {
			return cmds, fmt.Errorf("%s: %w", what, err)
		}
		if isNoScript(err) {
			if lerr := s.loadScripts(ctx); lerr != nil {
				return nil, fmt.Errorf("%s: %w", what, lerr)
			}
		}
	}
}

func isNoScript(err error) bool { return err != nil && strings.Contains(err.Error(), "NOSCRIPT") }

// watermarkField names the fence field of a partition inside a hash.
func watermarkField(partition int) string { return "#" + strconv.Itoa(partition) }

// Customer is a customer's stored state.
type Customer struct {
	Purchases  delta.History
	Views      delta.History
	Recent     delta.Recent  // ids of recent events, for de-duplication
	Watermarks map[int]int64 // partition -> offset of the last applied event
}

// Watermark returns the offset of the last event applied from a partition,
// or -1.
func (c Customer) Watermark(partition int) int64 {
	if w, ok := c.Watermarks[partition]; ok {
		return w
	}
	return -1
}

// Fields of a customer hash besides the watermarks.
const (
	purchasesField = "b"
	viewsField     = "v"
	recentField    = "d"
)

func parseCustomer(fields map[string]string) (Customer, error) {
	recent, err := delta.DecodeRecent(fields[recentField])
	if err != nil {
		return Customer{}, err
	}
	c := Customer{Purchases: delta.DecodeHistory(fields[purchasesField]),
		Views: delta.DecodeHistory(fields[viewsField]), Recent: recent}
	for f, v := range fields {
		if !strings.HasPrefix(f, "#") {
			continue
		}
		p, err := strconv.Atoi(f[1:])
		if err != nil {
			return c, fmt.Errorf("customer watermark field %q: %w", f, err)
		}
		off, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c, fmt.Errorf("customer watermark %q=%q: %w", f, v, err)
		}
		if c.Watermarks == nil {
			c.Watermarks = make(map[int]int64)
		}
		c.Watermarks[p] = off
	}
	return c, nil
}

// LoadCustomers reads the state of the given customers in one round trip.
// Unknown customers are returned with an empty state.
func (s *Store) LoadCustomers(ctx context.Context, ids []string) (map[string]Customer, error) {
	bs, err := s.LoadBatchState(ctx, -1, ids)
	return bs.Customers, err
}

// BatchState is what a consumer reads before it computes a batch.
type BatchState struct {
	Customers map[string]Customer // by id; unknown customers have an empty state
	Progress  int64               // the partition's stored progress, -1 when none
}

// LoadBatchState reads, in one round trip, the given customers and the
// stored progress of partition (none when partition < 0). The consumer
// compares the progress with what it recorded itself: a Redis that lost
// acknowledged writes (a crash with AOF everysec, a failover to a replica
// that lagged) shows an older progress, and the consumer must re-read from
// there.
func (s *Store) LoadBatchState(ctx context.Context, partition int, ids []string) (BatchState, error) {
	var progress *redis.StringCmd
	cmds, err := s.execPipeline(ctx, "load customers", func(p redis.Pipeliner) {
		for _, id := range ids {
			p.HGetAll(ctx, s.keys.Customer(id))
		}
		if partition >= 0 {
			progress = p.HGet(ctx, s.keys.Progress(), strconv.Itoa(partition))
		}
	})
	if err != nil {
		return BatchState{}, err
	}
	bs := BatchState{Customers: make(map[string]Customer, len(ids)), Progress: -1}
	for i, id := range ids {
		c, err := parseCustomer(cmds[i].(*redis.MapStringStringCmd).Val())
		if err != nil {
			return BatchState{}, fmt.Errorf("customer %s: %w", id, err)
		}
		bs.Customers[id] = c
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
	Offset    int64 // offset of the customer's last event in the batch
}

// ProgressLostError says that the progress stored for a partition is behind
// the progress its consumer recorded and saw acknowledged: Redis lost a
// suffix of its writes (a crash with AOF everysec, a failover to a replica
// that lagged). Nothing of the batch that met it was written on top of the
// gap; the partition must be read again from Stored + 1.
type ProgressLostError struct {
	Partition        int
	Stored, Recorded int64
}

func (e *ProgressLostError) Error() string {
	return fmt.Sprintf("partition %d: redis holds progress %d, behind the %d recorded before: it lost acknowledged writes",
		e.Partition, e.Stored, e.Recorded)
}

// ErrBatchLost means Redis lost writes of the batch being applied after it
// acknowledged them (it restarted or failed over between two steps). Apply
// the batch again, from reading its customers on.
var ErrBatchLost = errors.New("redis lost acknowledged writes of this batch (restart or failover): apply it again")

// batchError turns a script's refusal into a *ProgressLostError or
// ErrBatchLost, and passes other errors through.
func batchError(err error, partition int, recorded int64) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var stored int64
	if i := strings.Index(msg, "PROGRESSLOST "); i >= 0 {
		if _, serr := fmt.Sscanf(msg[i:], "PROGRESSLOST %d", &stored); serr == nil {
			return &ProgressLostError{Partition: partition, Stored: stored, Recorded: recorded}
		}
	}
	if strings.Contains(msg, "BATCHLOST") {
		return fmt.Errorf("partition %d: %w", partition, ErrBatchLost)
	}
	return err
}

// ApplyBatch writes a batch of one partition in fenced steps, each one
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
func (s *Store) ApplyBatch(ctx context.Context, b *delta.Batch, customers []CustomerUpdate, lastOffset, recorded int64) error {
	wm := watermarkField(b.Partition)
	pf := strconv.Itoa(b.Partition)
	inflight := s.keys.Inflight()
	batchID := strconv.FormatInt(lastOffset, 10) + "." + strconv.FormatUint(rand.Uint64(), 36)
	guardKey, guard := s.keys.Progress(), "p:"+strconv.FormatInt(recorded, 10)
	step := 0
	// runStep writes one step and its marker, and makes the marker the
	// guard of what follows.
	runStep := func(what string, fill func(p redis.Pipeliner)) error {
		step++
		marker := batchID + "." + strconv.Itoa(step)
		_, err := s.execWrites(ctx, what, func(p redis.Pipeliner) {
			fill(p)
			markStepScript.EvalSha(ctx, p, []string{inflight, guardKey}, pf, guard, marker)
		})
		if err != nil {
			return batchError(err, b.Partition, recorded)
		}
		guardKey, guard = inflight, "m:"+marker
		return nil
	}
	if len(b.Ops) > 0 || len(b.Dirty) > 0 || !b.Latest.IsZero() {
		err := runStep("apply counter changes", func(p redis.Pipeliner) {
			for k, ops := range b.Ops {
				keys, g := s.guardKeys(s.counterKey(k), guardKey, guard)
				args := make([]any, 0, 3+2*len(ops.Offsets)+2*len(ops.Fields))
				args = append(args, pf, g, wm)
				f := 0
				for g, off := range ops.Offsets {
					args = append(args, off, ops.Counts[g])
					for j := 0; j < ops.Counts[g]; j++ {
						args = append(args, ops.Fields[f], ops.Deltas[f])
						f++
					}
				}
				applyOpsScript.EvalSha(ctx, p, keys, args...)
			}
			if len(b.Dirty) > 0 {
				args := make([]any, 0, 1+len(b.Dirty))
				// The time of the first mark is the batch's earliest record
				// time (not after now: a producer clock may run ahead).
				at := time.Now()
				if !b.FirstRecord.IsZero() && b.FirstRecord.Before(at) {
					at = b.FirstRecord
				}
				args = append(args, at.UnixMilli())
				for k := range b.Dirty {
					if kind, ok := listKindOfRow(k.Kind); ok {
						args = append(args, dirtyMember(kind, k.Item))
					}
				}
				markDirtyScript.EvalSha(ctx, p, []string{s.keys.Dirty(), s.keys.DirtyVersions()}, args...)
			}
			if !b.Latest.IsZero() {
				// Not fenced, and need not be: the anchor only rises to a
				// time that was counted, and the version only signals.
				advanceScript.EvalSha(ctx, p, []string{s.keys.PopularityState()}, popAnchorField, b.Latest.UnixMilli())
				p.HIncrBy(ctx, s.keys.PopularityState(), popVersionField, 1)
			}
			for kind, days := range popularityDaysOf(b) {
				p.SAdd(ctx, s.keys.PopularityDays(kind), days...)
			}
			if len(b.Categories) > 0 {
				// Metadata for filters, not a counter: last writer wins.
				args := make([]any, 0, 2*len(b.Categories))
				for it, c := range b.Categories {
					args = append(args, it, c)
				}
				p.HSet(ctx, s.keys.ItemCategories(), args...)
			}
		})
		if err != nil {
			return err
		}
	}
	if len(customers) > 0 {
		err := runStep("write customers", func(p redis.Pipeliner) {
			for _, c := range customers {
				keys, g := s.guardKeys(s.keys.Customer(c.ID), guardKey, guard)
				writeCustomerScript.EvalSha(ctx, p, keys, pf, g, wm, c.Offset,
					purchasesField, c.Purchases.Encode(), viewsField, c.Views.Encode(), recentField, c.Recent.Encode())
			}
		})
		if err != nil {
			return err
		}
	}
	_, err := s.execWrites(ctx, "record progress", func(p redis.Pipeliner) {
		finishBatchScript.EvalSha(ctx, p, []string{s.keys.Progress(), guardKey, inflight}, pf, guard, lastOffset)
	})
	return batchError(err, b.Partition, recorded)
}

func (s *Store) advanceProgress(ctx context.Context, partition int, offset int64) error {
	_, err := s.execWrites(ctx, "record progress", func(p redis.Pipeliner) {
		advanceScript.EvalSha(ctx, p, []string{s.keys.Progress()}, strconv.Itoa(partition), offset)
	})
	return err
}

func (s *Store) counterKey(k delta.Key) string {
	if kind, ok := listKindOfRow(k.Kind); ok {
		return s.keys.Row(kind, k.Item)
	}
	switch k.Kind {
	case delta.PopularBoughtKey:
		return s.keys.Popularity(Bought, k.Item)
	case delta.PopularViewedKey:
		return s.keys.Popularity(Viewed, k.Item)
	case delta.BuyersKey:
		return s.keys.Buyers()
	case delta.ViewersKey:
		return s.keys.Viewers()
	case delta.ViewTotalsKey:
		return s.keys.ViewTotals()
	default:
		return s.keys.Totals()
	}
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

// dirtyMember is the dirty-set member of a row: "<kind code>|<item>".
func dirtyMember(kind ListKind, item string) string { return kind.code() + "|" + item }

// Progress returns the applied offset of every partition that has one.
func (s *Store) Progress(ctx context.Context) (map[int]int64, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.Progress()).Result()
	if err != nil {
		return nil, fmt.Errorf("read progress: %w", err)
	}
	out := make(map[int]int64, len(m))
	for f, v := range m {
		p, err1 := strconv.Atoi(f)
		off, err2 := strconv.ParseInt(v, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("progress field %q=%q is not partition=offset", f, v)
		}
		out[p] = off
	}
	return out, nil
}

// SetProgress raises the applied offset of partitions (used by bootstrap).
func (s *Store) SetProgress(ctx context.Context, offsets map[int]int64) error {
	for p, off := range offsets {
		if err := s.advanceProgress(ctx, p, off); err != nil {
			return err
		}
	}
	return nil
}
