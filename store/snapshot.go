package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// Counters are the counters of one kind of history (purchases or views).
type Counters struct {
	Co     map[string]map[string]int64 // X -> Y -> N_XY (co-buyers or co-viewers)
	Hist   map[string]map[int64]int64  // X -> n -> h_X[n]
	Buyers map[string]int64            // X -> B_X (buyers or viewers)
	Totals scoring.Globals             // T and C
}

func newCounters() Counters {
	return Counters{Co: map[string]map[string]int64{}, Hist: map[string]map[int64]int64{}, Buyers: map[string]int64{}}
}

// Repeats counts the purchase events applied and the repeat purchases among
// them: those of an item already in the customer's retained history.
// Fields schema.FieldPurchases and schema.FieldRepeats of the purchase
// totals.
type Repeats struct {
	Purchases, Repeats int64
	// Gaps counts the repeats by the time since the item's previous
	// purchase (schema.GapBucket): the catalogue's inter-purchase times,
	// fields schema.GapField(b) of the purchase totals.
	Gaps [schema.GapBuckets]int64
}

// Share returns Repeats / Purchases, 0 before any purchase.
func (r Repeats) Share() float64 {
	if r.Purchases <= 0 {
		return 0
	}
	return float64(r.Repeats) / float64(r.Purchases)
}

// Snapshot is the whole state read back from Redis, for verification (and,
// built by the oracle, for bootstrap).
type Snapshot struct {
	Bought Counters // purchase counters
	Viewed Counters // view counters
	// ViewedBought holds M_XY (X -> Y -> M_XY) and ViewedTotal M_X.
	ViewedBought map[string]map[string]int64
	ViewedTotal  map[string]int64
	Repeats      Repeats
	// Rebuy holds each item's own purchase statistics (item -> P_Y and
	// gap buckets), from the purchase rows.
	Rebuy         map[string]Rebuy
	Histories     map[string]delta.History // customer -> purchases, least recent first, with entry times
	ViewHistories map[string]delta.History // customer -> views, least recent first, with entry times
	Lists         map[ListKind]map[string]List
	Popular       map[ListKind]map[string]PopularList // kind -> category ("" overall) -> list
	Progress      map[int]int64
	// Catalogue holds the items' catalogue records (Catalogue.All).
	Catalogue map[string]event.Item
	// Written by bootstrap only (State.Snapshot leaves them empty): the
	// popularity anchor, the day buckets of the window (kind -> day ->
	// field -> count) and the items' categories.
	PopularAnchor  time.Time
	PopularBuckets map[ListKind]map[string]map[string]int64
	ItemCategories map[string]string
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	snap := &Snapshot{Bought: newCounters(), Viewed: newCounters(),
		ViewedBought: map[string]map[string]int64{}, ViewedTotal: map[string]int64{}, Rebuy: map[string]Rebuy{},
		Histories: map[string]delta.History{}, ViewHistories: map[string]delta.History{},
		Lists: map[ListKind]map[string]List{}, Popular: map[ListKind]map[string]PopularList{}, Progress: map[int]int64{}}
	for _, k := range ListKinds() {
		snap.Lists[k] = map[string]List{}
	}
	return snap
}

// Snapshot reads every row, customer and list under the prefix. It is
// meant for verification and tests, not for the serving path.
func (s *State) Snapshot(ctx context.Context) (*Snapshot, error) {
	keys := s.c.keys
	snap := NewSnapshot()
	for _, kind := range ListKinds() {
		err := s.scanHashes(ctx, keys.Row(kind, "*"), func(key string, fields map[string]string) error {
			r, err := ParseRow(fields)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			snap.addRow(kind, schema.ItemOf(key), r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err := s.scanHashes(ctx, keys.Customer("*"), func(key string, fields map[string]string) error {
		c, err := parseCustomer(fields)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if len(c.Purchases.Items) > 0 {
			snap.Histories[schema.ItemOf(key)] = c.Purchases
		}
		if len(c.Views.Items) > 0 {
			snap.ViewHistories[schema.ItemOf(key)] = c.Views
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, kind := range []ListKind{Bought, Viewed} {
		c := snap.counters(kind)
		buyersKey, _ := keys.Counters(kind)
		c.Buyers = map[string]int64{}
		for sh := range schema.Shards {
			buyers, err := s.c.rdb.HGetAll(ctx, buyersKey(sh)).Result()
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", buyersKey(sh), err)
			}
			r, err := ParseRow(buyers)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", buyersKey(sh), err)
			}
			for x, n := range r.Co {
				c.Buyers[x] += n
			}
		}
		if c.Totals, err = s.lists.Globals(ctx, kind); err != nil {
			return nil, err
		}
	}
	if snap.Repeats, err = s.lists.Repeats(ctx); err != nil {
		return nil, err
	}
	if snap.Progress, err = s.batches.Progress(ctx); err != nil {
		return nil, err
	}
	for _, kind := range ListKinds() {
		if err := s.readLists(ctx, kind, snap.Lists[kind]); err != nil {
			return nil, err
		}
	}
	for _, kind := range []ListKind{Bought, Viewed} {
		cats, err := s.c.rdb.SMembers(ctx, keys.PopularCategories(kind)).Result()
		if err != nil {
			return nil, fmt.Errorf("read popular categories: %w", err)
		}
		snap.Popular[kind] = map[string]PopularList{}
		for _, c := range append([]string{""}, cats...) {
			l, err := s.popularity.ReadList(ctx, kind, c)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			snap.Popular[kind][c] = l
		}
	}
	if snap.Catalogue, _, err = (&Catalogue{c: s.c}).All(ctx); err != nil {
		return nil, err
	}
	return snap, nil
}

// counters returns the purchase or view counters.
func (snap *Snapshot) counters(kind ListKind) *Counters {
	if kind == Viewed {
		return &snap.Viewed
	}
	return &snap.Bought
}

func (snap *Snapshot) addRow(kind ListKind, x string, r Row) {
	if kind == ViewedBought {
		if len(r.Co) > 0 {
			snap.ViewedBought[x] = r.Co
		}
		if r.ViewedTotal != 0 {
			snap.ViewedTotal[x] = r.ViewedTotal
		}
		return
	}
	if kind == Bought && !r.Rebuy.IsZero() {
		snap.Rebuy[x] = r.Rebuy
	}
	c := snap.counters(kind)
	if len(r.Co) > 0 {
		c.Co[x] = r.Co
	}
	if len(r.Hist) > 0 {
		h := make(map[int64]int64, len(r.Hist))
		for _, b := range r.Hist {
			h[b.Others] = b.Customers
		}
		c.Hist[x] = h
	}
}

// readLists reads every stored list of a kind into out.
func (s *State) readLists(ctx context.Context, kind ListKind, out map[string]List) error {
	return scanItems(ctx, s.c, s.c.keys.List(kind, "*"), func(items []string) error {
		cmds, err := s.c.read(ctx, "read lists", func(p redis.Pipeliner) {
			for _, it := range items {
				p.Get(ctx, s.c.keys.List(kind, it))
			}
		})
		if err != nil {
			return err
		}
		for i, it := range items {
			raw, err := cmds[i].(*redis.StringCmd).Bytes()
			if errors.Is(err, redis.Nil) {
				continue // deleted since the scan
			}
			l, err := decodeList(it, raw)
			if err != nil {
				return err
			}
			out[it] = l
		}
		return nil
	})
}

// scanHashes calls fn for every hash whose key matches pattern.
func (s *State) scanHashes(ctx context.Context, pattern string, fn func(key string, fields map[string]string) error) error {
	return s.c.scan(ctx, pattern, func(keys []string) error {
		cmds, err := s.c.read(ctx, "read "+pattern, func(p redis.Pipeliner) {
			for _, k := range keys {
				p.HGetAll(ctx, k)
			}
		})
		if err != nil {
			return err
		}
		for i, k := range keys {
			if err := fn(k, cmds[i].(*redis.MapStringStringCmd).Val()); err != nil {
				return err
			}
		}
		return nil
	})
}
