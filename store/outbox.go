package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// Outbox holds the lists whose change has not been published yet. A
// re-scorer adds them before it writes the lists (Lists.Write,
// Popularity.WriteLists with outbox) and removes them after the broker
// acknowledged the change; anything left behind (a crash between the Redis
// write and the publish, an instance without a publisher such as
// `alsobought rescore`) is published later from the list's current value
// (Pending), so the feed always ends at what Redis holds.
type Outbox struct{ c *conn }

// ListChange is a list as the change feed publishes it: Key names the list
// (RelatedFeedKey, PopularFeedKey) and Value is the list's JSON as stored
// in Redis, or nil when the list no longer exists (a tombstone, which a
// compacted topic then drops).
type ListChange struct {
	Key   string
	Value []byte
}

// RelatedFeedKey is the change-feed key of a related list: "<list>:<item>".
func RelatedFeedKey(kind ListKind, item string) string { return string(kind) + ":" + item }

// PopularFeedKey is the change-feed key of a popularity list:
// "popular:<kind>", or "popular:<kind>:<category>".
func PopularFeedKey(kind ListKind, category string) string {
	if category == "" {
		return "popular:" + string(kind)
	}
	return "popular:" + string(kind) + ":" + category
}

// Pending is what a list write left to publish.
type Pending struct {
	Written int          // lists written
	Changes []ListChange // to publish (with outbox only)
	members []string
	stamp   string
}

// PendingChange is a change left in the outbox, with what Clear needs.
type PendingChange struct {
	ListChange
	Member string // the outbox member
	Stamp  string // the stamp of its latest mark, as read
}

// mark records that the given outbox members are about to change. It
// returns the stamp Clear needs.
func (o *Outbox) mark(ctx context.Context, members []string) (string, error) {
	if len(members) == 0 {
		return "", nil
	}
	keys := o.c.keys
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	zs := make([]redis.Z, len(members))
	for i, m := range members {
		zs[i] = redis.Z{Score: float64(time.Now().UnixMilli()), Member: m}
	}
	_, err := o.c.write(ctx, "mark lists pending", func(p redis.Pipeliner) {
		p.ZAdd(ctx, keys.Outbox, zs...)
		args := make([]any, 0, 2*len(members))
		for _, m := range members {
			args = append(args, m, stamp)
		}
		p.HSet(ctx, keys.OutboxStamps, args...)
	})
	return stamp, err
}

// Published clears the outbox of the changes of a write that the broker
// acknowledged.
func (o *Outbox) Published(ctx context.Context, p Pending) error {
	changes := make([]PendingChange, len(p.members))
	for i, m := range p.members {
		changes[i] = PendingChange{Member: m, Stamp: p.stamp}
	}
	return o.Clear(ctx, changes)
}

// Clear removes outbox members that were not marked again since their
// stamp was read (another re-scorer's newer change stays pending).
func (o *Outbox) Clear(ctx context.Context, changes []PendingChange) error {
	if len(changes) == 0 {
		return nil
	}
	keys := o.c.keys
	// A member marked again already carries its new mark time; the outbox
	// has no claims and no shards: one group of two keys.
	args := make([]any, 0, 3+2*len(changes))
	args = append(args, keepMarkTime, 2, len(changes))
	for _, ch := range changes {
		args = append(args, ch.Member, ch.Stamp)
	}
	_, err := o.c.write(ctx, "clear pending lists", func(p redis.Pipeliner) {
		clearDirtyScript.EvalSha(ctx, p, []string{keys.Outbox, keys.OutboxStamps}, args...)
	})
	return err
}

// Backlog returns the number of list changes waiting in the outbox and the
// mark time of the oldest (zero when none), in one round trip.
func (o *Outbox) Backlog(ctx context.Context) (int64, time.Time, error) {
	var n *redis.IntCmd
	var head *redis.ZSliceCmd
	_, err := o.c.read(ctx, "read the outbox backlog", func(p redis.Pipeliner) {
		n = p.ZCard(ctx, o.c.keys.Outbox)
		head = p.ZRangeWithScores(ctx, o.c.keys.Outbox, 0, 0)
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	var oldest time.Time
	if zs := head.Val(); len(zs) > 0 {
		oldest = time.UnixMilli(int64(zs[0].Score))
	}
	return n.Val(), oldest, nil
}

// Pending returns up to n changes left in the outbox, marked before
// markedBefore, each with the current value of its list.
func (o *Outbox) Pending(ctx context.Context, n int, markedBefore time.Time) ([]PendingChange, error) {
	keys := o.c.keys
	members, err := o.c.rdb.ZRangeByScore(ctx, keys.Outbox, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(markedBefore.UnixMilli(), 10), Count: int64(n)}).Result()
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	stamps, err := o.c.rdb.HMGet(ctx, keys.OutboxStamps, members...).Result()
	if err != nil {
		return nil, fmt.Errorf("read outbox stamps: %w", err)
	}
	out := make([]PendingChange, len(members))
	listKeys := make([]string, len(members))
	for i, m := range members {
		om, ok := schema.ParseOutboxMember(m)
		if !ok {
			return nil, fmt.Errorf("outbox member %q", m)
		}
		out[i].Member = m
		out[i].Stamp, _ = stamps[i].(string)
		if om.Popular {
			listKeys[i], out[i].Key = keys.Popular(om.Kind, om.Name), PopularFeedKey(om.Kind, om.Name)
		} else {
			listKeys[i], out[i].Key = keys.List(om.Kind, om.Name), RelatedFeedKey(om.Kind, om.Name)
		}
	}
	cmds, err := o.c.read(ctx, "read pending lists", func(p redis.Pipeliner) {
		for _, k := range listKeys {
			p.Get(ctx, k)
		}
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		raw, err := cmds[i].(*redis.StringCmd).Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read pending list %s: %w", listKeys[i], err)
		}
		out[i].Value = raw
	}
	return out, nil
}
