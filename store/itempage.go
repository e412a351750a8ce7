package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// ReadWithCategory returns an item's stored list of a kind and, in the
// same round trip, the item's category ("" when unknown): the first read
// of an item page that may be filled from its category's best-sellers
// (Popularity.ReadLists). The error is ErrNotFound when the item has no
// list; the category is read all the same.
func (l *Lists) ReadWithCategory(ctx context.Context, kind ListKind, item string) (List, string, error) {
	var list *redis.StringCmd
	var cat *redis.StringCmd
	if _, err := l.c.read(ctx, "read list and category", func(p redis.Pipeliner) {
		list = p.Get(ctx, l.c.keys.List(kind, item))
		cat = p.HGet(ctx, l.c.keys.ItemCategories(schema.ItemShard(item)), item)
	}); err != nil {
		return List{}, "", err
	}
	category := cat.Val() // "" when the field or the hash is missing
	raw, err := list.Bytes()
	if errors.Is(err, redis.Nil) {
		return List{}, category, ErrNotFound
	}
	if err != nil {
		return List{}, category, fmt.Errorf("read list of %s: %w", item, err)
	}
	decoded, err := decodeList(item, raw)
	return decoded, category, err
}

// ReadLists returns a kind's stored popularity lists of the categories
// given ("" for the overall one), in order, in one round trip; a list not
// stored is nil.
func (s *Popularity) ReadLists(ctx context.Context, kind ListKind, categories []string) ([]*PopularList, error) {
	if len(categories) == 0 {
		return nil, nil
	}
	cmds, err := s.c.read(ctx, "read popular lists", func(p redis.Pipeliner) {
		for _, c := range categories {
			p.Get(ctx, s.c.keys.Popular(kind, c))
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]*PopularList, len(categories))
	for i, c := range cmds {
		raw, err := c.(*redis.StringCmd).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read popular list %q: %w", categories[i], err)
		}
		var l PopularList
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("decode popular list %q: %w", categories[i], err)
		}
		out[i] = &l
	}
	return out, nil
}
