package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// memory is the Redis memory of one state, from MEMORY USAGE of every key
// under its prefix (SAMPLES 0: every element counted, not estimated), so
// the figures are the state's own and do not move with other clients'
// keys, unlike used_memory.
type memory struct {
	customerKeys, itemKeys, globalKeys    int
	customerBytes, itemBytes, globalBytes int64
}

// keyClass says which kind of key a key under prefix is: a customer's state
// (cust), a per-item key (rows and related lists), or a shared one (global
// hashes, popularity buckets and lists, dirty set, outbox, metadata).
func keyClass(prefix, key string) string {
	keys := schema.NewKeys(prefix)
	switch {
	case !strings.HasPrefix(key, prefix+":"):
		return ""
	case keys.IsCustomer(key):
		return "customer"
	case keys.IsItem(key):
		return "item"
	default:
		return "global"
	}
}

// measureMemory sums MEMORY USAGE over every key of the prefix, on every
// master of a cluster.
func measureMemory(ctx context.Context, rdb redis.UniversalClient, prefix string) (memory, error) {
	cluster, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return measureNodeMemory(ctx, rdb, prefix)
	}
	var mu sync.Mutex
	var sum memory
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		m, err := measureNodeMemory(ctx, node, prefix)
		mu.Lock()
		defer mu.Unlock()
		sum.customerKeys += m.customerKeys
		sum.itemKeys += m.itemKeys
		sum.globalKeys += m.globalKeys
		sum.customerBytes += m.customerBytes
		sum.itemBytes += m.itemBytes
		sum.globalBytes += m.globalBytes
		return err
	})
	return sum, err
}

// measureNodeMemory sums MEMORY USAGE over the keys of the prefix on one
// server.
func measureNodeMemory(ctx context.Context, rdb redis.UniversalClient, prefix string) (memory, error) {
	var m memory
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		pipe := rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, k := range batch {
			cmds[i] = pipe.MemoryUsage(ctx, k, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return fmt.Errorf("MEMORY USAGE: %w", err)
		}
		for i, k := range batch {
			n, err := cmds[i].Result()
			if err != nil {
				continue // deleted since the scan (a dirty mark or outbox entry cleared)
			}
			switch keyClass(prefix, k) {
			case "customer":
				m.customerKeys++
				m.customerBytes += n
			case "item":
				m.itemKeys++
				m.itemBytes += n
			default:
				m.globalKeys++
				m.globalBytes += n
			}
		}
		batch = batch[:0]
		return nil
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return m, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return m, fmt.Errorf("scan %s:*: %w", prefix, err)
	}
	return m, flush()
}
