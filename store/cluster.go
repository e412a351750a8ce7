package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Redis Cluster support. Every key carries a hash tag (keys.go): an item's
// keys share the item's slot, a customer's hash is alone in its slot, and
// the global keys share the tag {#}. No script or pipeline command touches
// two slots, except the batch guard of a single Redis (see guardKeys).
//
// Writes in cluster mode go through execWrites: the commands of one step
// are grouped by the master that owns their slot, each group is one
// pipeline on that master's connection, ending with WAIT, so a step
// counts as written only when a replica holds it too.

// execWrites runs a pipeline of writes. In cluster mode they are split by
// master, the global keys last (execByMaster), and with WaitReplicas > 0
// each master's part ends with a WAIT on the same connection; fewer
// acknowledgements than asked fail the attempt, and exec retries.
func (s *Store) execWrites(ctx context.Context, what string, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	return s.exec(ctx, what, fill, s.cluster != nil)
}

// execByMaster records fill's commands, then runs them grouped by master,
// all masters in parallel, each group followed by WAIT (if asked). Commands on the
// global keys ({#}: dirty marks, step markers, progress) run after every
// other command succeeded, as they would in the single pipeline of a
// single Redis: a dirty mark must not be seen before the counter change
// it announces, or a re-scorer could read the old row and clear the mark.
func (s *Store) execByMaster(ctx context.Context, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	rec := s.cluster.Pipeline()
	fill(rec)
	cmds := rec.Cmds()
	var items, global []redis.Cmder
	for _, c := range cmds {
		if strings.Contains(commandKey(c), globalTag) {
			global = append(global, c)
		} else {
			items = append(items, c)
		}
	}
	for _, phase := range [][]redis.Cmder{items, global} {
		if err := s.runOnMasters(ctx, phase); err != nil {
			return cmds, err
		}
	}
	return cmds, nil
}

// runOnMasters runs commands as one pipeline per master that owns their
// keys, in parallel, each ending with WAIT when WaitReplicas > 0.
func (s *Store) runOnMasters(ctx context.Context, cmds []redis.Cmder) error {
	type group struct {
		node *redis.Client
		cmds []redis.Cmder
	}
	groups := map[string]*group{}
	for _, c := range cmds {
		node, err := s.cluster.MasterForKey(ctx, commandKey(c))
		if err != nil {
			return fmt.Errorf("route %s: %w", c.Name(), err)
		}
		addr := node.Options().Addr
		g := groups[addr]
		if g == nil {
			g = &group{node: node}
			groups[addr] = g
		}
		g.cmds = append(g.cmds, c)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for addr, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pipe := g.node.Pipeline()
			for _, c := range g.cmds {
				_ = pipe.Process(ctx, c)
			}
			var wait *redis.Cmd
			if s.wait > 0 {
				wait = pipe.Do(ctx, "WAIT", s.wait, s.waitFor.Milliseconds())
			}
			_, err := pipe.Exec(ctx)
			if errors.Is(err, redis.Nil) {
				err = nil
			}
			if err == nil && wait != nil {
				if n, werr := wait.Int(); werr != nil {
					err = werr
				} else if n < s.wait {
					err = fmt.Errorf("WAIT on %s: %d of %d replicas acknowledged within %s", addr, n, s.wait, s.waitFor)
				}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// commandKey returns the key a command is routed by: the first key of
// EVAL and EVALSHA, else the first argument.
func commandKey(c redis.Cmder) string {
	args := c.Args()
	switch strings.ToLower(c.Name()) {
	case "evalsha", "eval", "evalsha_ro", "eval_ro":
		if len(args) > 3 {
			return fmt.Sprint(args[3])
		}
		return ""
	}
	if len(args) > 1 {
		return fmt.Sprint(args[1])
	}
	return ""
}

// retryableInCluster reports errors after which the cluster's slot map or
// script caches must be refreshed: a redirect, a cluster that is failing
// over, a master that lost its scripts, a closed connection, a short WAIT.
func retryableInCluster(err error) bool {
	msg := err.Error()
	for _, s := range []string{"MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "NOSCRIPT", "READONLY", "WAIT on", "connection refused", "EOF", "i/o timeout", "broken pipe", "connection reset"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// guardKeys returns the KEYS and the guard argument of a guarded batch
// script on key. A single Redis checks every write against the global
// guard hash (batchGuard). In a cluster that hash lives in another slot
// than an item's keys, so those scripts run unguarded there; WAIT and the
// cluster's durability settings take the guard's place (docs/guarantees.md).
func (s *Store) guardKeys(key, guardKey, guard string) ([]string, string) {
	if s.cluster != nil && !strings.Contains(key, globalTag) {
		return []string{key, key}, "-"
	}
	return []string{key, guardKey}, guard
}

// scan calls fn with batches of the keys matching pattern (fn must not
// keep the slice), on every master in cluster mode.
func (s *Store) scan(ctx context.Context, pattern string, fn func(keys []string) error) error {
	if s.cluster == nil {
		return scanNode(ctx, s.rdb, pattern, fn)
	}
	var mu sync.Mutex // the masters are scanned in parallel; fn need not be safe for that
	locked := func(keys []string) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(keys)
	}
	return s.cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		return scanNode(ctx, node, pattern, locked)
	})
}

func scanNode(ctx context.Context, c redis.UniversalClient, pattern string, fn func(keys []string) error) error {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	batch := make([]string, 0, 500)
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == cap(batch) {
			if err := fn(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", pattern, err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}
