package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// Dirty is the set of lists waiting to be re-scored: the consumer marks
// them (Batches.Apply), re-scorers claim and clear them.
type Dirty struct{ c *conn }

// DirtyItem is an item whose list of a kind waits to be re-scored.
type DirtyItem struct {
	Kind    ListKind
	Item    string
	Version string    // mark version as read; the mark is cleared only if unchanged
	Since   time.Time // first mark since the last re-score
}

// Mark marks lists dirty as first marked at (unless they are dirty
// already): the consumer marks what its batches change (Batches.Apply);
// this is for the other causes, such as a change of an item's
// availability.
func (d *Dirty) Mark(ctx context.Context, lists []ListRef, at time.Time) error {
	if len(lists) == 0 {
		return nil
	}
	members := make([]string, 0, len(lists))
	for _, l := range lists {
		members = append(members, schema.DirtyMember(l.Kind, l.Item))
	}
	_, err := d.c.write(ctx, "mark lists dirty", func(p redis.Pipeliner) { d.c.markDirty(ctx, p, at, members) })
	return err
}

// markDirty queues the marks of members as first marked at
// (markDirtyScript).
func (c *conn) markDirty(ctx context.Context, p redis.Pipeliner, at time.Time, members []string) {
	var args [schema.Shards][]any
	for _, m := range members {
		s := schema.DirtyShard(m)
		args[s] = append(args[s], m)
	}
	c.shardScripts(ctx, p, markDirtyScript, dirtyKeys(c.keys, 2), counted(&args, 1), at.UnixMilli())
}

// counted puts before each shard's arguments the number of its items,
// each of per arguments, as the dirty-set scripts take them.
func counted(args *[schema.Shards][]any, per int) *[schema.Shards][]any {
	for s, a := range args {
		if a != nil {
			args[s] = append([]any{len(a) / per}, a...)
		}
	}
	return args
}

// shardScriptArgs ends a call of shardScripts once its arguments reach
// it, so that a full batch's marks (about 1,200 on Dunnhumby) do not hold
// Redis in one script while the storefront's reads wait, as manySumsFields
// bounds the sums.
const shardScriptArgs = 512

// dirtyKeys returns the keys of a shard of the dirty set as the dirty-set
// scripts take them: the set and the mark versions, and with n = 3 the
// claims.
func dirtyKeys(keys schema.Keys, n int) func(s int) []string {
	return func(s int) []string {
		return []string{keys.Dirty(s), keys.DirtyVersions(s), keys.DirtyClaims(s)}[:n]
	}
}

// shardScripts queues script (one of the dirty-set scripts) on the shards
// that have arguments (args[s] not nil), in their layout: on a single
// Redis the shards in as few calls as shardScriptArgs allows, in a cluster
// a call per shard. Each call's KEYS are keysOf of its shards in order,
// its ARGV head followed by the shards' arguments in the same order.
func (c *conn) shardScripts(ctx context.Context, p redis.Pipeliner, script *redis.Script, keysOf func(s int) []string,
	args *[schema.Shards][]any, head ...any) []*redis.Cmd {
	var cmds []*redis.Cmd
	var keys []string
	var argv []any
	for s, a := range args {
		if a == nil {
			continue
		}
		if argv == nil {
			argv = append([]any(nil), head...)
		}
		keys = append(keys, keysOf(s)...)
		argv = append(argv, a...)
		if c.cluster != nil || len(argv) >= shardScriptArgs {
			cmds = append(cmds, script.EvalSha(ctx, p, keys, argv...))
			keys, argv = nil, nil
		}
	}
	if keys != nil {
		cmds = append(cmds, script.EvalSha(ctx, p, keys, argv...))
	}
	return cmds
}

// claimHeads is how many of each shard's oldest members a claim of n
// reads: twice a shard's share, and at least 2.
func claimHeads(n int) int { return min(n, 2*n/schema.Shards+2) }

// Claim claims up to n dirty items first marked before markedBefore,
// oldest first, for owner, for the lease duration (claimDirtyScript):
// items another owner claimed less than lease ago are left to it.
//
// The dirty set is sharded (schema.Shards): Claim reads the oldest
// members of every shard in one pipeline, takes the n oldest of them all,
// and claims in each shard as many as it took there, all shards in one
// pipeline. A shard whose oldest members another owner claimed meanwhile
// yields younger ones instead, as the unsharded set did. Items spread
// evenly over the shards, so it reads about twice a shard's share of n from
// each (claimHeads), not n: reading n from all 32 returned 32 marks per
// list claimed. A shard that holds more than that of the n oldest gives
// the rest at the next claim.
func (d *Dirty) Claim(ctx context.Context, n int, markedBefore time.Time, owner string, lease time.Duration) ([]DirtyItem, error) {
	if n <= 0 {
		return nil, nil
	}
	keys := d.c.keys
	before := strconv.FormatInt(markedBefore.UnixMilli(), 10)
	heads, err := d.c.read(ctx, "read dirty items", func(p redis.Pipeliner) {
		for s := range schema.Shards {
			p.ZRangeByScoreWithScores(ctx, keys.Dirty(s), &redis.ZRangeBy{Min: "-inf", Max: before, Count: int64(claimHeads(n))})
		}
	})
	if err != nil {
		return nil, err
	}
	type head struct {
		shard int
		score float64
	}
	var all []head
	for s, cmd := range heads {
		for _, z := range cmd.(*redis.ZSliceCmd).Val() {
			all = append(all, head{s, z.Score})
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	slices.SortFunc(all, func(a, b head) int { return cmp.Compare(a.score, b.score) })
	var take [schema.Shards]int
	for _, h := range all[:min(n, len(all))] {
		take[h.shard]++
	}
	var args [schema.Shards][]any
	for s, k := range take {
		if k > 0 {
			args[s] = []any{k}
		}
	}
	var cmds []*redis.Cmd
	_, err = d.c.write(ctx, "claim dirty items", func(p redis.Pipeliner) {
		cmds = d.c.shardScripts(ctx, p, claimDirtyScript, dirtyKeys(keys, 3), &args,
			markedBefore.UnixMilli(), owner, lease.Milliseconds())
	})
	if err != nil {
		return nil, err
	}
	var out []DirtyItem
	for _, cmd := range cmds {
		vals, err := cmd.StringSlice()
		if err != nil {
			return nil, fmt.Errorf("claim dirty items: %w", err)
		}
		for i := 0; i+2 < len(vals); i += 3 {
			kind, item, ok := schema.ParseDirtyMember(vals[i])
			if !ok {
				return nil, fmt.Errorf("dirty set member %q is not <list>|<item>", vals[i])
			}
			since, err := strconv.ParseInt(vals[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("dirty set member %q: mark time %q", vals[i], vals[i+1])
			}
			out = append(out, DirtyItem{Kind: kind, Item: item, Version: vals[i+2], Since: time.UnixMilli(since)})
		}
	}
	// Oldest first, as one set would give them.
	slices.SortStableFunc(out, func(a, b DirtyItem) int { return a.Since.Compare(b.Since) })
	return out, nil
}

// Clear removes the items whose mark has not moved since they were read
// at readAt, and makes readAt the first-mark time of those that were
// marked again meanwhile (clearDirtyScript).
func (d *Dirty) Clear(ctx context.Context, items []DirtyItem, readAt time.Time) error {
	if len(items) == 0 {
		return nil
	}
	var args [schema.Shards][]any
	for _, it := range items {
		s := schema.ItemShard(it.Item)
		args[s] = append(args[s], schema.DirtyMember(it.Kind, it.Item), it.Version)
	}
	_, err := d.c.write(ctx, "clear dirty marks", func(p redis.Pipeliner) {
		d.c.shardScripts(ctx, p, clearDirtyScript, dirtyKeys(d.c.keys, 3), counted(&args, 2), readAt.UnixMilli(), 3)
	})
	return err
}

// Backlog returns the number of dirty items and the first-mark time of the
// oldest (zero when none), over every shard in one pipeline.
func (d *Dirty) Backlog(ctx context.Context) (int64, time.Time, error) {
	cmds, err := d.c.read(ctx, "read dirty backlog", func(p redis.Pipeliner) {
		for s := range schema.Shards {
			p.ZCard(ctx, d.c.keys.Dirty(s))
			p.ZRangeWithScores(ctx, d.c.keys.Dirty(s), 0, 0)
		}
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	var n int64
	var oldest time.Time
	for i := 0; i+1 < len(cmds); i += 2 {
		n += cmds[i].(*redis.IntCmd).Val()
		for _, z := range cmds[i+1].(*redis.ZSliceCmd).Val() {
			if t := time.UnixMilli(int64(z.Score)); oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
		}
	}
	return n, oldest, nil
}
