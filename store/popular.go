package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
)

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

// Popularity holds the counts of a kind in the window: overall and per
// category.
type Popularity struct {
	Anchor     time.Time
	Overall    map[string]int64
	ByCategory map[string]map[string]int64
}

// Lists returns the popularity lists of the counts.
func (p Popularity) Lists(kind ListKind, at time.Time) []PopularList {
	mk := func(cat string, counts map[string]int64) PopularList {
		l := PopularList{Version: ListEncodingVersion, Kind: kind, Category: cat, Anchor: p.Anchor.UTC(),
			Days: scoring.PopularityDays, ComputedAt: at, Items: scoring.TopPopular(counts, PopularListSize)}
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

// AddBucket adds a day bucket's fields (as stored) to the counts.
func (p *Popularity) AddBucket(fields map[string]int64) {
	for f, n := range fields {
		if strings.HasPrefix(f, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(f, "c|"); ok {
			cat, item, _ := strings.Cut(rest, "|")
			if p.ByCategory[cat] == nil {
				p.ByCategory[cat] = map[string]int64{}
			}
			p.ByCategory[cat][item] += n
			continue
		}
		p.Overall[f] += n
	}
}

// NewPopularity returns empty counts for an anchor.
func NewPopularity(anchor time.Time) Popularity {
	return Popularity{Anchor: anchor, Overall: map[string]int64{}, ByCategory: map[string]map[string]int64{}}
}

// WindowDays returns the bucket days of the window ending with the
// anchor's day, oldest first.
func WindowDays(anchor time.Time) []string {
	days := make([]string, scoring.PopularityDays)
	for i := range days {
		days[i] = delta.PopularityDay(anchor.AddDate(0, 0, i-scoring.PopularityDays+1))
	}
	return days
}

// PopularityAnchor returns the latest event time applied (zero when none).
func (s *Store) PopularityAnchor(ctx context.Context) (time.Time, error) {
	v, err := s.rdb.HGet(ctx, s.keys.PopularityState(), popAnchorField).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read popularity anchor: %w", err)
	}
	return time.UnixMilli(v).UTC(), nil
}

// PopularityVersion changes whenever a batch counted events: the
// re-scorer recomputes the popularity lists only then.
func (s *Store) PopularityVersion(ctx context.Context) (int64, error) {
	v, err := s.rdb.HGet(ctx, s.keys.PopularityState(), popVersionField).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read popularity version: %w", err)
	}
	return v, nil
}

// ReadPopularity sums a kind's day buckets of the window before the anchor,
// in one round trip.
func (s *Store) ReadPopularity(ctx context.Context, kind ListKind, anchor time.Time) (Popularity, error) {
	days := WindowDays(anchor)
	cmds, err := s.execPipeline(ctx, "read popularity", func(p redis.Pipeliner) {
		for _, d := range days {
			p.HGetAll(ctx, s.keys.Popularity(kind, d))
		}
	})
	if err != nil {
		return Popularity{}, err
	}
	pop := NewPopularity(anchor)
	for i, d := range days {
		fields := cmds[i].(*redis.MapStringStringCmd).Val()
		counts := make(map[string]int64, len(fields))
		for f, v := range fields {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Popularity{}, fmt.Errorf("popularity bucket %s field %q=%q is not an integer", d, f, v)
			}
			counts[f] = n
		}
		pop.AddBucket(counts)
	}
	return pop, nil
}

// WritePopularLists replaces a kind's popularity lists: the overall one and
// one per category given, and deletes the category lists not given. It also
// deletes the day buckets before the window. With
// outbox, the changes are marked pending first and returned to publish
// (deleted category lists as tombstones).
func (s *Store) WritePopularLists(ctx context.Context, kind ListKind, lists []PopularList, outbox bool) (Pending, error) {
	index := s.keys.PopularCategories(kind)
	old, err := s.rdb.SMembers(ctx, index).Result()
	if err != nil {
		return Pending{}, fmt.Errorf("read popular categories: %w", err)
	}
	days, err := s.rdb.SMembers(ctx, s.keys.PopularityDays(kind)).Result()
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
			pending.members = append(pending.members, popularMember(kind, l.Category))
			pending.Changes = append(pending.Changes, ListChange{Key: PopularFeedKey(kind, l.Category), Value: bufs[i]})
		}
		for _, c := range gone {
			pending.members = append(pending.members, popularMember(kind, c))
			pending.Changes = append(pending.Changes, ListChange{Key: PopularFeedKey(kind, c)})
		}
		if pending.stamp, err = s.markPending(ctx, pending.members); err != nil {
			return Pending{}, err
		}
	}
	_, err = s.execWrites(ctx, "write popular lists", func(p redis.Pipeliner) {
		for i, l := range lists {
			p.Set(ctx, s.keys.Popular(kind, l.Category), bufs[i], 0)
			if l.Category != "" {
				p.SAdd(ctx, index, l.Category)
			}
		}
		for _, c := range gone {
			p.Del(ctx, s.keys.Popular(kind, c))
			p.SRem(ctx, index, c)
		}
		// Buckets before the window are never read again: the anchor only
		// moves forward. ("YYYYMMDD" strings order as the days do.)
		if !anchor.IsZero() {
			first := WindowDays(anchor)[0]
			for _, d := range days {
				if d < first {
					p.Del(ctx, s.keys.Popularity(kind, d))
					p.SRem(ctx, s.keys.PopularityDays(kind), d)
				}
			}
		}
	})
	pending.Written = len(lists)
	return pending, err
}

// ReadPopular returns a stored popularity list (category "" for overall).
func (s *Store) ReadPopular(ctx context.Context, kind ListKind, category string) (PopularList, error) {
	raw, err := s.rdb.Get(ctx, s.keys.Popular(kind, category)).Bytes()
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

// Fields of the popularity state hash.
const (
	popAnchorField  = "anchor"
	popVersionField = "version"
)
