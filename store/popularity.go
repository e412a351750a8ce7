package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// Popularity is the popularity counts and lists: the consumer counts
// events in day buckets (Batches.Apply), the re-scorer sums the buckets of
// the window into lists, and readers read the lists and the items'
// categories.
type Popularity struct {
	c      *conn
	outbox *Outbox
}

// PopularListSize is how many items a stored popularity list holds.
const PopularListSize = 100

// PopularList is a stored popularity list: the items with the most events
// of a kind (Bought or Viewed), overall or within a category, in the
// PopularityDays UTC days ending with the anchor's day.
type PopularList struct {
	Version    int               `json:"v"`
	Kind       ListKind          `json:"kind"`
	Category   string            `json:"category,omitempty"`
	Anchor     time.Time         `json:"anchor"` // the latest event time applied
	Days       int               `json:"days"`
	ComputedAt time.Time         `json:"computed_at"`
	Items      []scoring.Popular `json:"items"`
	// Total is the number of events in the window (of the category), and
	// Distinct the number of items they involve, listed or not.
	Total    int64 `json:"total"`
	Distinct int64 `json:"distinct"`
}

// PopularCounts holds the counts of a kind in the window: overall and per
// category.
type PopularCounts struct {
	Anchor     time.Time
	Overall    map[string]int64
	ByCategory map[string]map[string]int64
}

// Lists returns the popularity lists of the counts over the items visible
// lets be listed (all of them when it is nil). Total and Distinct count
// every item: they describe the demand, not the list.
func (p PopularCounts) Lists(kind ListKind, at time.Time, visible scoring.Visible) []PopularList {
	mk := func(cat string, counts map[string]int64) PopularList {
		listed := counts
		if visible != nil {
			listed = make(map[string]int64, len(counts))
			for it, n := range counts {
				if visible(it) {
					listed[it] = n
				}
			}
		}
		l := PopularList{Version: ListEncodingVersion, Kind: kind, Category: cat, Anchor: p.Anchor.UTC(),
			Days: scoring.PopularityDays, ComputedAt: at, Items: scoring.TopPopular(listed, PopularListSize)}
		for _, n := range counts {
			if n > 0 {
				l.Total += n
				l.Distinct++
			}
		}
		return l
	}
	out := []PopularList{mk("", p.Overall)}
	for cat, counts := range p.ByCategory {
		out = append(out, mk(cat, counts))
	}
	return out
}

// Catalogued returns the counts with the catalogue's categories
// (docs/DESIGN.md §11): an item to which category gives one ("" for none)
// counts in that category, with all its events, and in no other; the
// others stay in the categories their events carried.
func (p PopularCounts) Catalogued(category func(item string) string) PopularCounts {
	out := PopularCounts{Anchor: p.Anchor, Overall: p.Overall, ByCategory: make(map[string]map[string]int64, len(p.ByCategory))}
	add := func(cat, item string, n int64) {
		if out.ByCategory[cat] == nil {
			out.ByCategory[cat] = map[string]int64{}
		}
		out.ByCategory[cat][item] = n
	}
	for cat, counts := range p.ByCategory {
		for it, n := range counts {
			if category(it) == "" {
				add(cat, it, n)
			}
		}
	}
	for it, n := range p.Overall {
		if cat := category(it); cat != "" {
			add(cat, it, n)
		}
	}
	return out
}

// AddBucket adds a day bucket's fields (as stored) to the counts.
func (p *PopularCounts) AddBucket(fields map[string]int64) {
	for f, n := range fields {
		if schema.IsFenceField(f) {
			continue
		}
		if cat, item, ok := schema.ParseCategoryField(f); ok {
			if p.ByCategory[cat] == nil {
				p.ByCategory[cat] = map[string]int64{}
			}
			p.ByCategory[cat][item] += n
			continue
		}
		p.Overall[f] += n
	}
}

// NewPopularCounts returns empty counts for an anchor.
func NewPopularCounts(anchor time.Time) PopularCounts {
	return PopularCounts{Anchor: anchor, Overall: map[string]int64{}, ByCategory: map[string]map[string]int64{}}
}

// WindowDays returns the bucket days of the window ending with the
// anchor's day, oldest first.
func WindowDays(anchor time.Time) []string {
	days := make([]string, scoring.PopularityDays)
	for i := range days {
		days[i] = schema.Day(anchor.AddDate(0, 0, i-scoring.PopularityDays+1))
	}
	return days
}

// Anchor returns the latest event time applied (zero when none).
func (s *Popularity) Anchor(ctx context.Context) (time.Time, error) {
	v, err := s.c.rdb.HGet(ctx, s.c.keys.PopularityState, schema.FieldAnchor).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read popularity anchor: %w", err)
	}
	return time.UnixMilli(v).UTC(), nil
}

// Version changes whenever a batch counted events: the
// re-scorer recomputes the popularity lists only then.
func (s *Popularity) Version(ctx context.Context) (int64, error) {
	v, err := s.c.rdb.HGet(ctx, s.c.keys.PopularityState, schema.FieldPopularityVersion).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read popularity version: %w", err)
	}
	return v, nil
}

// Counts sums a kind's day buckets of the window before the anchor, in one
// round trip.
func (s *Popularity) Counts(ctx context.Context, kind ListKind, anchor time.Time) (PopularCounts, error) {
	days := WindowDays(anchor)
	cmds, err := s.c.read(ctx, "read popularity", func(p redis.Pipeliner) {
		for _, d := range days {
			p.HGetAll(ctx, s.c.keys.Popularity(kind, d))
		}
	})
	if err != nil {
		return PopularCounts{}, err
	}
	pop := NewPopularCounts(anchor)
	for i, d := range days {
		fields := cmds[i].(*redis.MapStringStringCmd).Val()
		counts := make(map[string]int64, len(fields))
		for f, v := range fields {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return PopularCounts{}, fmt.Errorf("popularity bucket %s field %q=%q is not an integer", d, f, v)
			}
			counts[f] = n
		}
		pop.AddBucket(counts)
	}
	return pop, nil
}

// WriteLists replaces a kind's popularity lists: the overall one and
// one per category given, and deletes the category lists not given. It also
// deletes the day buckets before the window. With
// outbox, the changes are marked pending first and returned to publish
// (deleted category lists as tombstones).
func (s *Popularity) WriteLists(ctx context.Context, kind ListKind, lists []PopularList, outbox bool) (Pending, error) {
	index := s.c.keys.PopularCategories(kind)
	old, err := s.c.rdb.SMembers(ctx, index).Result()
	if err != nil {
		return Pending{}, fmt.Errorf("read popular categories: %w", err)
	}
	days, err := s.c.rdb.SMembers(ctx, s.c.keys.PopularityDays(kind)).Result()
	if err != nil {
		return Pending{}, fmt.Errorf("read popularity days: %w", err)
	}
	keep := map[string]bool{}
	bufs := make([][]byte, len(lists))
	var anchor time.Time
	for i, l := range lists {
		if bufs[i], err = json.Marshal(l); err != nil {
			return Pending{}, fmt.Errorf("encode popular list: %w", err)
		}
		keep[l.Category] = true
		anchor = l.Anchor
	}
	var pending Pending
	var gone []string
	for _, c := range old {
		if !keep[c] {
			gone = append(gone, c)
		}
	}
	if outbox {
		for i, l := range lists {
			pending.members = append(pending.members, schema.PopularMember(kind, l.Category))
			pending.Changes = append(pending.Changes, ListChange{Key: PopularFeedKey(kind, l.Category), Value: bufs[i]})
		}
		for _, c := range gone {
			pending.members = append(pending.members, schema.PopularMember(kind, c))
			pending.Changes = append(pending.Changes, ListChange{Key: PopularFeedKey(kind, c)})
		}
		if pending.stamp, err = s.outbox.mark(ctx, pending.members); err != nil {
			return Pending{}, err
		}
	}
	_, err = s.c.write(ctx, "write popular lists", func(p redis.Pipeliner) {
		for i, l := range lists {
			p.Set(ctx, s.c.keys.Popular(kind, l.Category), bufs[i], 0)
			if l.Category != "" {
				p.SAdd(ctx, index, l.Category)
			}
		}
		for _, c := range gone {
			p.Del(ctx, s.c.keys.Popular(kind, c))
			p.SRem(ctx, index, c)
		}
		// Buckets before the window are never read again: the anchor only
		// moves forward. ("YYYYMMDD" strings order as the days do.)
		if !anchor.IsZero() {
			first := WindowDays(anchor)[0]
			for _, d := range days {
				if d < first {
					p.Del(ctx, s.c.keys.Popularity(kind, d))
					p.SRem(ctx, s.c.keys.PopularityDays(kind), d)
				}
			}
		}
	})
	pending.Written = len(lists)
	return pending, err
}

// ReadList returns a stored popularity list (category "" for overall).
func (s *Popularity) ReadList(ctx context.Context, kind ListKind, category string) (PopularList, error) {
	raw, err := s.c.rdb.Get(ctx, s.c.keys.Popular(kind, category)).Bytes()
	if errors.Is(err, redis.Nil) {
		return PopularList{}, ErrNotFound
	}
	if err != nil {
		return PopularList{}, fmt.Errorf("read popular list: %w", err)
	}
	var l PopularList
	if err := json.Unmarshal(raw, &l); err != nil {
		return PopularList{}, fmt.Errorf("decode popular list: %w", err)
	}
	return l, nil
}

// ItemCategories returns the category of each item ("" when unknown), in
// one round trip.
func (s *Popularity) ItemCategories(ctx context.Context, items []string) ([]string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	return readCategories(ctx, s.c, items)
}
