package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
)

// ListsOf is what ReadListsOf read.
type ListsOf struct {
	// Lists holds the items of each list asked for, in order; nil when the
	// list is missing.
	Lists [][]scoring.Related
	// Popular is the popularity list asked for; nil when none was asked
	// for or it is missing. It is shared between calls: do not modify it.
	Popular *PopularList
	// Repeats are the repeat-purchase counters, read with the popularity
	// list.
	Repeats Repeats
}

// ReadListsOf returns, in one round trip, the stored lists of a kind of
// the given items (a missing list is empty) and, when popular is not nil,
// the popularity list it names and the repeat-purchase counters.
func (s *Store) ReadListsOf(ctx context.Context, want []ListRef, popular *PopularRef) (ListsOf, error) {
	var pop *redis.StringCmd
	var popKey string
	var repeats *redis.SliceCmd
	cmds, err := s.execPipeline(ctx, "read lists", func(p redis.Pipeliner) {
		for _, w := range want {
			p.Get(ctx, s.keys.List(w.Kind, w.Item))
		}
		if popular != nil {
			popKey = s.keys.Popular(popular.Kind, popular.Category)
			pop = p.Get(ctx, popKey)
			repeats = p.HMGet(ctx, s.keys.Totals(), delta.FieldPurchases, delta.FieldRepeats)
		}
	})
	if err != nil {
		return ListsOf{}, err
	}
	out := make([][]scoring.Related, len(want))
	for i, w := range want {
		raw, err := cmds[i].(*redis.StringCmd).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		l, err := decodeList(w.Item, raw)
		if err != nil {
			return ListsOf{}, err
		}
		out[i] = l.Items
	}
	var pl *PopularList
	if pop != nil {
		if raw, err := pop.Bytes(); err == nil {
			if pl, err = s.popular.decode(popKey, raw); err != nil {
				return ListsOf{}, err
			}
		}
	}
	var rep Repeats
	if repeats != nil {
		vals := repeats.Val()
		rep = Repeats{Purchases: toInt(vals[0]), Repeats: toInt(vals[1])}
	}
	return ListsOf{Lists: out, Popular: pl, Repeats: rep}, nil
}

// ListRef names a stored list.
type ListRef struct {
	Kind ListKind
	Item string
}

// PopularRef names a stored popularity list.
type PopularRef struct {
	Kind     ListKind
	Category string
}

// ItemCategories returns the category of each item ("" when unknown), in
// one round trip.
func (s *Store) ItemCategories(ctx context.Context, items []string) ([]string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.ItemCategories(), items...).Result()
	if err != nil {
		return nil, fmt.Errorf("read item categories: %w", err)
	}
	out := make([]string, len(items))
	for i, v := range vals {
		out[i], _ = v.(string)
	}
	return out, nil
}

// popularCache keeps the latest decoded popularity list of each key with
// its JSON. Every request reads the popularity list, which changes only
// when it is recomputed, and decoding its 100 items cost a fifth of the
// serving CPU (docs/BENCHMARKS.md): an unchanged list is now compared, not
// decoded.
type popularCache struct {
	mu      sync.Mutex
	entries map[string]popularEntry
}

type popularEntry struct {
	raw  []byte
	list *PopularList
}

// decode returns the list raw encodes, decoding it only when it differs
// from the last one read under key.
func (c *popularCache) decode(key string, raw []byte) (*PopularList, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.list, nil
	}
	pl := &PopularList{}
	if err := json.Unmarshal(raw, pl); err != nil {
		return nil, fmt.Errorf("decode popular list: %w", err)
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]popularEntry{}
	}
	c.entries[key] = popularEntry{raw: raw, list: pl}
	c.mu.Unlock()
	return pl, nil
}
