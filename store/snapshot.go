package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/scoring"
)

// Snapshot is the whole state read back from Redis, for verification.
type Snapshot struct {
	Co        map[string]map[string]int64 // X -> Y -> N_XY
	Hist      map[string]map[int64]int64  // X -> n -> h_X[n]
	Buyers    map[string]int64
	Totals    scoring.Globals
	Histories map[string][]string // customer -> purchases, least recent first
	Lists     map[string]List
	Progress  map[int]int64
}

// ReadSnapshot reads every row, customer and list under the prefix. It is
// meant for verification and tests, not for the serving path.
func (s *Store) ReadSnapshot(ctx context.Context) (*Snapshot, error) {
	snap := &Snapshot{
		Co: map[string]map[string]int64{}, Hist: map[string]map[int64]int64{},
		Buyers: map[string]int64{}, Histories: map[string][]string{}, Lists: map[string]List{},
	}
	err := s.scanHashes(ctx, s.keys.Row("*"), func(key string, fields map[string]string) error {
		co, hist, err := RowFields(fields)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		x := itemOf(key)
		if len(co) > 0 {
			snap.Co[x] = co
		}
		if len(hist) > 0 {
			h := make(map[int64]int64, len(hist))
			for _, b := range hist {
				h[b.Others] = b.Customers
			}
			snap.Hist[x] = h
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.scanHashes(ctx, s.keys.Customer("*"), func(key string, fields map[string]string) error {
		c, err := parseCustomer(fields)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if len(c.Purchases.Items) > 0 {
			snap.Histories[itemOf(key)] = c.Purchases.Items
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	buyers, err := s.rdb.HGetAll(ctx, s.keys.Buyers()).Result()
	if err != nil {
		return nil, fmt.Errorf("read buyers: %w", err)
	}
	co, _, err := RowFields(buyers)
	if err != nil {
		return nil, fmt.Errorf("buyers: %w", err)
	}
	snap.Buyers = co
	if snap.Totals, err = s.Globals(ctx); err != nil {
		return nil, err
	}
	if snap.Progress, err = s.Progress(ctx); err != nil {
		return nil, err
	}
	err = s.ScanItemsOf(ctx, s.keys.List("*"), func(items []string) error {
		cmds, err := s.execPipeline(ctx, "read lists", func(p redis.Pipeliner) {
			for _, it := range items {
				p.Get(ctx, s.keys.List(it))
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
			snap.Lists[it] = l
		}
		return nil
	})
	return snap, err
}

// scanHashes calls fn for every hash whose key matches pattern.
func (s *Store) scanHashes(ctx context.Context, pattern string, fn func(key string, fields map[string]string) error) error {
	iter := s.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	var keys []string
	flush := func() error {
		cmds, err := s.execPipeline(ctx, "read "+pattern, func(p redis.Pipeliner) {
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
		keys = keys[:0]
		return nil
	}
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", pattern, err)
	}
	if len(keys) > 0 {
		return flush()
	}
	return nil
}
