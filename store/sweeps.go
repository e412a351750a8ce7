package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/store/schema"
)

// Sweeps is the state of forgetting (docs/DESIGN.md section 10): the clock
// (each partition's newest applied event time, idle marks, the watermark),
// the per-partition age indexes and erasure requests, and the fenced writes
// of the sweeps that age customers out or erase them.
type Sweeps struct{ c *conn }

// Clock is what the clock hash holds.
type Clock struct {
	EventTimes map[int]int64 // partition -> newest applied event time (unix ms)
	Idle       map[int]bool  // partitions that have applied everything they hold
	Sweeps     map[int]int64 // partition -> sequence of its last completed sweep
	Attempted  map[int]int64 // partition -> last offset of the latest batch that started writing
	Plans      map[int]SweepPlan
	// Swept is the watermark of the latest sweep (unix ms, 0: none): it
	// only rises, and an event older than it is late.
	Swept int64
}

// Watermark is the least newest-applied event time over the partitions
// that are not idle (all of them idle: the greatest), never below the
// watermark a sweep already used; ok is false before any event.
func (c Clock) Watermark() (int64, bool) {
	var least, greatest int64
	busy, any := false, false
	for p, t := range c.EventTimes {
		if !any || t > greatest {
			greatest = t
		}
		any = true
		if c.Idle[p] {
			continue
		}
		if !busy || t < least {
			least = t
		}
		busy = true
	}
	if !any {
		return c.Swept, c.Swept > 0
	}
	w := greatest
	if busy {
		w = least
	}
	return max(w, c.Swept), true
}

// SweepPlan is one sweep of a partition: the customers it ages (their
// entries older than Cut leave) and those it erases. It is recorded before anything is
// written, so that whoever owns the partition next finishes exactly this
// sweep after a crash.
type SweepPlan struct {
	Seq       int64    `json:"seq"`       // the sweep's fence value: the partition's last sweep + 1
	Watermark int64    `json:"watermark"` // unix ms
	Cut       int64    `json:"cut"`       // unix ms: entries before it leave
	Customers []string `json:"customers,omitempty"`
	Erase     []string `json:"erase,omitempty"`
}

// All returns every customer of the plan, the erased ones last.
func (p SweepPlan) All() []string {
	return append(append([]string(nil), p.Customers...), p.Erase...)
}

// ReadClock reads the clock hash.
func (s *Sweeps) ReadClock(ctx context.Context) (Clock, error) { return readClock(ctx, s.c) }

func readClock(ctx context.Context, c *conn) (Clock, error) {
	m, err := c.rdb.HGetAll(ctx, c.keys.Clock).Result()
	if err != nil {
		return Clock{}, fmt.Errorf("read clock: %w", err)
	}
	return parseClock(m)
}

func parseClock(m map[string]string) (Clock, error) {
	c := Clock{EventTimes: map[int]int64{}, Idle: map[int]bool{}, Sweeps: map[int]int64{}, Attempted: map[int]int64{},
		Plans: map[int]SweepPlan{}}
	for f, v := range m {
		if f == schema.ClockWatermark {
			w, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return c, fmt.Errorf("clock field %s=%q is not a time", f, v)
			}
			c.Swept = w
			continue
		}
		// Plan before sweep: both start with the same letter.
		var kind string
		for _, k := range []string{schema.ClockPlan, schema.ClockEventTime, schema.ClockIdle, schema.ClockSweep, schema.ClockAttempted} {
			if strings.HasPrefix(f, k) {
				kind = k
				break
			}
		}
		p, err := strconv.Atoi(strings.TrimPrefix(f, kind))
		if kind == "" || err != nil {
			return c, fmt.Errorf("clock field %q is not <kind><partition>", f)
		}
		switch kind {
		case schema.ClockPlan:
			var plan SweepPlan
			if err := json.Unmarshal([]byte(v), &plan); err != nil {
				return c, fmt.Errorf("clock field %s: sweep plan: %w", f, err)
			}
			c.Plans[p] = plan
		case schema.ClockIdle:
			c.Idle[p] = true
		default:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return c, fmt.Errorf("clock field %s=%q is not a number", f, v)
			}
			switch kind {
			case schema.ClockEventTime:
				c.EventTimes[p] = n
			case schema.ClockSweep:
				c.Sweeps[p] = n
			default:
				c.Attempted[p] = n
			}
		}
	}
	return c, nil
}

// MarkIdle records that a partition has applied everything it holds, so
// that it does not hold the watermark back; its next batch clears the mark.
func (s *Sweeps) MarkIdle(ctx context.Context, partition int) error {
	err := s.c.rdb.HSet(ctx, s.c.keys.Clock, schema.ClockField(schema.ClockIdle, partition), 1).Err()
	if err != nil {
		return fmt.Errorf("mark partition %d idle: %w", partition, err)
	}
	return nil
}

// Due returns up to limit customers of a partition's age index whose
// oldest entry is before cut (none when cut is 0), and up to limit
// customers whose erasure was requested, in one round trip. A customer to
// erase is not also aged. oldest is the time (unix ms) of the oldest entry
// the age index holds, 0 when it holds none or cut is 0: how far the
// sweeps are behind the cut.
func (s *Sweeps) Due(ctx context.Context, partition int, cut int64, limit int) (age, erase []string, oldest int64, err error) {
	var ageCmd, eraseCmd *redis.StringSliceCmd
	var oldestCmd *redis.ZSliceCmd
	_, err = s.c.read(ctx, "read customers due for a sweep", func(p redis.Pipeliner) {
		if cut != 0 {
			ageCmd = p.ZRangeByScore(ctx, s.c.keys.AgeIndex(partition), &redis.ZRangeBy{
				Min: "-inf", Max: "(" + strconv.FormatInt(cut, 10), Count: int64(limit)})
			oldestCmd = p.ZRangeWithScores(ctx, s.c.keys.AgeIndex(partition), 0, 0)
		}
		eraseCmd = p.SRandMemberN(ctx, s.c.keys.Erasures(partition), int64(limit))
	})
	if err != nil {
		return nil, nil, 0, err
	}
	if oldestCmd != nil {
		if zs := oldestCmd.Val(); len(zs) > 0 {
			oldest = int64(zs[0].Score)
		}
	}
	erase = eraseCmd.Val()
	if ageCmd != nil {
		erased := make(map[string]bool, len(erase))
		for _, id := range erase {
			erased[id] = true
		}
		for _, id := range ageCmd.Val() {
			if !erased[id] {
				age = append(age, id)
			}
		}
	}
	return age, erase, oldest, nil
}

// RequestErasure asks the owners of the partitions that wrote a customer's
// state (its fences tell which) to erase it, and returns those partitions:
// none when the state holds nothing of the customer.
func (s *Sweeps) RequestErasure(ctx context.Context, customer string) ([]int, error) {
	parts, err := s.partitionsOf(ctx, customer)
	if err != nil || len(parts) == 0 {
		return nil, err
	}
	_, err = s.c.write(ctx, "request erasure of customer "+customer, func(p redis.Pipeliner) {
		for _, part := range parts {
			p.SAdd(ctx, s.c.keys.Erasures(part), customer)
		}
	})
	return parts, err
}

// ErasurePending returns the partitions whose owner has not erased the
// customer yet.
func (s *Sweeps) ErasurePending(ctx context.Context, customer string, partitions []int) ([]int, error) {
	cmds, err := s.c.read(ctx, "read erasure requests of customer "+customer, func(p redis.Pipeliner) {
		for _, part := range partitions {
			p.SIsMember(ctx, s.c.keys.Erasures(part), customer)
		}
	})
	if err != nil {
		return nil, err
	}
	var pending []int
	for i, cmd := range cmds {
		if cmd.(*redis.BoolCmd).Val() {
			pending = append(pending, partitions[i])
		}
	}
	return pending, nil
}

// partitionsOf returns the partitions whose events wrote a customer's
// state, ascending.
func (s *Sweeps) partitionsOf(ctx context.Context, customer string) ([]int, error) {
	fields, err := s.c.rdb.HGetAll(ctx, s.c.keys.Customer(customer)).Result()
	if err != nil {
		return nil, fmt.Errorf("read customer %s: %w", customer, err)
	}
	cu, err := parseCustomer(fields)
	if err != nil {
		return nil, fmt.Errorf("customer %s: %w", customer, err)
	}
	if len(cu.Purchases.Items) == 0 && len(cu.Views.Items) == 0 {
		return nil, nil // nothing to erase: unknown, or a tombstone
	}
	parts := make([]int, 0, len(cu.Watermarks))
	for p := range cu.Watermarks {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	return parts, nil
}

// DueCount returns how many customers of the given partitions' age indexes
// have an entry before cut: zero when the sweeps have caught up with cut.
func (s *Sweeps) DueCount(ctx context.Context, partitions []int, cut int64) (int64, error) {
	cmds, err := s.c.read(ctx, "count customers due for ageing", func(p redis.Pipeliner) {
		for _, part := range partitions {
			p.ZCount(ctx, s.c.keys.AgeIndex(part), "-inf", "("+strconv.FormatInt(cut, 10))
		}
	})
	if err != nil {
		return 0, err
	}
	var due int64
	for _, cmd := range cmds {
		due += cmd.(*redis.IntCmd).Val()
	}
	return due, nil
}

// Apply writes a sweep of one partition in the fenced steps of
// Batches.Apply, with the sweep's sequence as the fence value in the
// partition's sweep fence (schema.SweepField): first the plan (unless it is
// being finished after a crash, recorded), then the counter changes and
// dirty marks, then the customers (and their age index entries), then the
// partition's sweep sequence, and the erased customers leave the erasure
// requests.
// recorded is the partition's progress the consumer saw acknowledged, as
// for Batches.Apply.
//
// A customer the sweep empties keeps its fences for tombstoneTTL (0:
// DefaultTombstoneTTL).
func (s *Sweeps) Apply(ctx context.Context, plan SweepPlan, planRecorded bool, batch *delta.Batch, customers []CustomerUpdate, recorded int64, tombstoneTTL time.Duration) error {
	keys, p := s.c.keys, batch.Partition
	planField := schema.ClockField(schema.ClockPlan, p)
	w := fencedWrite{tombstoneTTL: tombstoneTTL, id: "s" + strconv.FormatInt(plan.Seq, 10)}
	w.parts = []fencedPart{{
		batch: batch, customers: customers, recorded: recorded, fence: schema.SweepField(p),
		finish: func(pl redis.Pipeliner, guardKey, guard string) {
			if len(plan.Erase) > 0 {
				ids := make([]any, len(plan.Erase))
				for i, id := range plan.Erase {
					ids[i] = id
				}
				pl.SRem(ctx, keys.Erasures(p), ids...)
			}
			finishSweepScript.EvalSha(ctx, pl, []string{keys.Clock, guardKey, keys.Inflight},
				schema.PartitionField(p), guard, schema.ClockField(schema.ClockSweep, p), plan.Seq,
				planField, plan.Watermark, schema.ClockWatermark)
		},
	}}
	if !planRecorded {
		enc, err := json.Marshal(plan)
		if err != nil {
			return fmt.Errorf("encode sweep plan: %w", err)
		}
		w.before = func(pl redis.Pipeliner) { pl.HSet(ctx, keys.Clock, planField, enc) }
	}
	return s.c.writeFenced(ctx, w)
}
