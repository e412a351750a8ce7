package store

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// Reads of the sharded global hashes (schema.Shards): per-item fields are
// read with one HMGET per shard that holds some of the items, all in one
// pipeline; additive totals are the sums of their shards.

// shardedGet queues the reads of items' fields in the shards of a sharded
// hash (keyOf), one HMGET per shard that holds some of them, and returns
// the function that gives their values in the order of items ("" for a
// missing field: no field of these hashes holds "") once the pipeline
// ran. An item may be asked more than once: each shard reads it once. The
// values are read as strings (hmgetStrings): a re-score reads the B of
// every candidate of its rows, and boxing each in an interface was an
// allocation per candidate.
func shardedGet(ctx context.Context, p redis.Pipeliner, keyOf func(int) string, items []string) func() []string {
	var fields [schema.Shards][]string
	var seen [schema.Shards]map[string]int
	type at struct{ shard, pos int }
	where := make([]at, len(items))
	for i, it := range items {
		s := schema.ItemShard(it)
		if seen[s] == nil {
			seen[s] = map[string]int{}
		}
		pos, ok := seen[s][it]
		if !ok {
			pos = len(fields[s])
			seen[s][it] = pos
			fields[s] = append(fields[s], it)
		}
		where[i] = at{s, pos}
	}
	var cmds [schema.Shards]*redis.StringSliceCmd
	for s, f := range fields {
		if len(f) > 0 {
			cmds[s] = hmgetStrings(ctx, keyOf(s), f)
			_ = p.Process(ctx, cmds[s]) // queued: the error is the pipeline's
		}
	}
	return func() []string {
		out := make([]string, len(items))
		for i, w := range where {
			if v := cmds[w.shard].Val(); w.pos < len(v) {
				out[i] = v[w.pos]
			}
		}
		return out
	}
}

// shardedSum queues the reads of fields in every shard of a sharded hash
// of totals (keyOf), and returns the function that gives each field's sum
// over the shards once the pipeline ran.
func shardedSum(ctx context.Context, p redis.Pipeliner, keyOf func(int) string, fields ...string) func() []int64 {
	var cmds [schema.Shards]*redis.SliceCmd
	for s := range cmds {
		cmds[s] = p.HMGet(ctx, keyOf(s), fields...)
	}
	return func() []int64 {
		out := make([]int64, len(fields))
		for _, cmd := range cmds {
			for i, v := range cmd.Val() {
				if i < len(out) {
					out[i] += toInt(v)
				}
			}
		}
		return out
	}
}

// readCategories returns the category of each item ("" when unknown), in
// one round trip.
func readCategories(ctx context.Context, c *conn, items []string) ([]string, error) {
	if len(items) == 0 {
		return nil, nil
	}
	var vals func() []string
	if _, err := c.read(ctx, "read item categories", func(p redis.Pipeliner) {
		vals = shardedGet(ctx, p, c.keys.ItemCategories, items)
	}); err != nil {
		return nil, err
	}
	return vals(), nil
}
