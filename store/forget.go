package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// Forget deletes the keys of the given items that have no state left
// (docs/DESIGN.md §10, "Items shrink"): none of their three rows holds a
// counter, and no popularity bucket of the window counts them. Such an item
// is in no list (its co-counts are gone, and with B = 0 no
// viewed-then-bought list can hold it), so its lists, its rows with their
// list metadata, the holders of its availability and its category
// (its field of `{#s.n}:itemcat`) go, and with its purchase row the item's own purchase
// statistics (Rebuy: anonymous aggregates that keep no item alive). Its
// catalogue record stays: it belongs to the catalogue topic.
//
// The rows' fences are what keeps a replayed batch from applying its
// changes twice, so on a single Redis (and with Sentinel) the rows go only
// once every watermark in them is at or below its partition's stored
// progress: a batch not finished yet must still find them, and a late
// batch of a zombie consumer is fenced by the progress instead
// (applyOpsScript). A script on an item's keys in Redis Cluster cannot
// read the progress, so there each row keeps its watermarks and list
// revision: the item's tombstone, a few bytes per partition.
//
// An item with a category that is still counted in the popularity window
// keeps its keys, category included (the category filter of
// recommendations may need it): its rows bring it back to the next sweep,
// which forgets it once its days have left the window.
//
// A list of the item normally no longer exists (the re-scorer deletes an
// empty list before it forgets its item); one that does is deleted too,
// and with outbox it is marked in the change-feed outbox first, so the
// Pending returned carries a tombstone for it. A list that appeared after
// it was looked for keeps the item for its own re-score. Forget returns the
// items whose keys it deleted (not those found already forgotten, or, in a
// cluster, already reduced to their tombstone).
func (l *Lists) Forget(ctx context.Context, items []string, outbox bool) ([]string, Pending, error) {
	if len(items) == 0 {
		return nil, Pending{}, nil
	}
	keys := l.c.keys
	partitions, err := l.c.rdb.HLen(ctx, keys.Progress).Result()
	if err != nil {
		return nil, Pending{}, fmt.Errorf("read progress: %w", err)
	}
	// A row without counters holds at most a watermark and a sweep fence
	// per partition, the list revision, the watch field and the item's
	// purchase statistics (P_Y and its gap buckets), which go with the row.
	// (The script compares the fences with the progress it reads itself.)
	maxFences := 2*int(partitions) + 2 + 1 + schema.GapBuckets
	candidates, err := l.short(ctx, items, maxFences)
	if err != nil || len(candidates) == 0 {
		return nil, Pending{}, err
	}
	todo := make([]string, 0, len(candidates))
	for _, c := range candidates {
		todo = append(todo, c.item)
	}
	if todo, err = l.notCounted(ctx, todo); err != nil || len(todo) == 0 {
		return nil, Pending{}, err
	}
	lists := map[string][]bool{} // per item and kind: a list exists, to delete and announce
	for _, c := range candidates {
		lists[c.item] = c.lists
	}
	mode := forgetDelete
	if l.c.cluster != nil {
		mode = forgetKeepFences
	}
	kinds := ListKinds()
	var pending Pending
	if outbox {
		var members []string
		for _, it := range todo {
			for k, kind := range kinds {
				if lists[it][k] {
					members = append(members, schema.ListMember(kind, it))
				}
			}
		}
		if pending.stamp, err = l.outbox.mark(ctx, members); err != nil {
			return nil, Pending{}, err
		}
		pending.members = members
	}
	cmds, err := l.c.write(ctx, "forget items", func(p redis.Pipeliner) {
		for _, it := range todo {
			k := make([]string, 0, 2*len(kinds)+1)
			deletable := make([]byte, len(kinds))
			for i, kind := range kinds {
				k = append(k, keys.Row(kind, it))
				deletable[i] = '0'
				if lists[it][i] {
					deletable[i] = '1'
				}
			}
			for _, kind := range kinds {
				k = append(k, keys.List(kind, it))
			}
			k = append(k, keys.Holders(it))
			for _, kind := range kinds {
				k = append(k, keys.RowIndex(kind, it))
			}
			if mode == forgetDelete {
				k = append(k, keys.Progress, keys.Clock)
			}
			forgetItemScript.EvalSha(ctx, p, k, mode, schema.FieldWatch, maxFences, string(deletable))
		}
	})
	if err != nil {
		return nil, Pending{}, err
	}
	var stateless []string
	deleted := map[string]bool{}
	for i, c := range cmds {
		out, err := c.(*redis.Cmd).Int64Slice()
		if err != nil {
			return nil, Pending{}, fmt.Errorf("forget %s: %w", todo[i], err)
		}
		if out[0] != 1 {
			continue // it has state again, a batch that touched it is not finished, or a list of it is left to its re-score
		}
		stateless = append(stateless, todo[i])
		deleted[todo[i]] = out[1] > 0
		for j, kind := range kinds {
			if out[2+j] == 1 {
				pending.Changes = append(pending.Changes, ListChange{Key: RelatedFeedKey(kind, todo[i])})
			}
		}
	}
	if len(stateless) > 0 {
		// After the rows: an event of the item applied meanwhile keeps its
		// rows, and at worst loses its category until its next event with
		// one (docs/guarantees.md).
		cmds, err := l.c.write(ctx, "forget item categories", func(p redis.Pipeliner) {
			for _, it := range stateless {
				p.HDel(ctx, keys.ItemCategories(schema.ItemShard(it)), it)
			}
		})
		if err != nil {
			return nil, Pending{}, err
		}
		for i, c := range cmds {
			deleted[stateless[i]] = deleted[stateless[i]] || c.(*redis.IntCmd).Val() > 0
		}
	}
	var forgotten []string
	for _, it := range stateless {
		if deleted[it] {
			forgotten = append(forgotten, it)
		}
	}
	return forgotten, pending, nil
}

// candidate is an item whose rows may hold no counter, and which of its
// lists exist.
type candidate struct {
	item  string
	lists []bool // per ListKinds()
}

// short returns the items whose rows all have at most maxFences fields (a
// longer row holds counters: the item has state, and is not read further),
// with which of their lists exist: normally none, as the re-scorer deletes
// an empty list before it forgets its item, but a list of another kind can
// wait for its own re-score.
func (l *Lists) short(ctx context.Context, items []string, maxFences int) ([]candidate, error) {
	kinds := ListKinds()
	cmds, err := l.c.read(ctx, "read row lengths", func(p redis.Pipeliner) {
		for _, it := range items {
			for _, kind := range kinds {
				p.HLen(ctx, l.c.keys.Row(kind, it))
				p.Exists(ctx, l.c.keys.List(kind, it))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var out []candidate
	per := 2 * len(kinds)
	for i, it := range items {
		c := candidate{item: it, lists: make([]bool, len(kinds))}
		ok := true
		for k := range kinds {
			ok = ok && cmds[i*per+2*k].(*redis.IntCmd).Val() <= int64(maxFences)
			c.lists[k] = cmds[i*per+2*k+1].(*redis.IntCmd).Val() == 1
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// notCounted returns the items that have no category, or that no
// popularity bucket of the window (the days store.WindowDays gives for the
// anchor) counts, of either kind. Only the category needs the window, and
// most items to forget have none: a sweep in Redis Cluster meets every
// tombstone again, whose category went the first time.
func (l *Lists) notCounted(ctx context.Context, items []string) ([]string, error) {
	keys := l.c.keys
	cats, err := readCategories(ctx, l.c, items)
	if err != nil {
		return nil, err
	}
	var out, withCategory []string
	for i, it := range items {
		if cats[i] == "" {
			out = append(out, it)
		} else {
			withCategory = append(withCategory, it)
		}
	}
	if len(withCategory) == 0 {
		return out, nil
	}
	items = withCategory
	ms, err := l.c.rdb.HGet(ctx, keys.PopularityState, schema.FieldAnchor).Int64()
	if errors.Is(err, redis.Nil) {
		return append(out, items...), nil // nothing was ever counted
	}
	if err != nil {
		return nil, fmt.Errorf("read popularity anchor: %w", err)
	}
	days := WindowDays(time.UnixMilli(ms).UTC())
	kinds := []ListKind{Bought, Viewed}
	cmds, err := l.c.read(ctx, "read popularity of items", func(p redis.Pipeliner) {
		for _, it := range items {
			for _, kind := range kinds {
				for _, d := range days {
					p.HExists(ctx, keys.Popularity(kind, d), it)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	per := len(kinds) * len(days)
	for i, it := range items {
		counted := false
		for _, c := range cmds[i*per : (i+1)*per] {
			if c.(*redis.BoolCmd).Val() {
				counted = true
				break
			}
		}
		if !counted {
			out = append(out, it)
		}
	}
	return out, nil
}

// Counted reports whether row i of the batch holds a counter: a co-count
// (kept as a candidate or not; read by the row's index, one at or above
// the support), a histogram bin or M_X. A row without any (absent, or
// only its fences left) is that of an item whose state of that kind is
// gone. A co-count below the support is never without a bin in a row
// (its customers are in X's histogram), and Lists.Forget checks the row
// again anyway.
func (rb RowBatch) Counted(i int) bool { return rb.counted[i] }
