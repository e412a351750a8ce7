package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// Redis Cluster support. Every key carries a hash tag (schema.Keys): an
// item's keys share the item's slot, a customer's hash is alone in its
// slot, the shards of the global hashes each have their own tag
// (schema.ShardTag), and the other global keys share the tag {#}. No
// script or pipeline command touches two slots, except the batch guard of
// a single Redis (see guardKeys).
//
// go-redis routes a cluster pipeline by itself, but it cannot end each
// node's part with a WAIT on the connection that wrote it, and a WAIT is
// what makes a step count as written only when a replica holds it too
// (docs/guarantees.md). So writes go through byMaster: the commands of one
// step are grouped by the master that owns their slot, and each group is
// one pipeline on that master's connection, ending with WAIT.

// errNotReplicated means a WAIT saw fewer replica acknowledgements than
// asked: the step may be lost in a failover, so it is run again.
var errNotReplicated = errors.New("fewer replicas acknowledged than asked")

// routed is a recorded command with the key it is routed by.
type routed struct {
	cmd redis.Cmder
	key string
}

// byMaster records fill's commands, then runs them grouped by master, all
// masters in parallel, each group followed by WAIT (if asked). Commands on
// the global keys ({#} and the shards: dirty marks, step markers,
// progress, global counters) run after every other command succeeded, as
// they would in the single pipeline of a single Redis: a dirty mark must
// not be seen before the counter change it announces, or a re-scorer could
// read the old row and clear the mark. The marks of item X's lists share
// X's shard, and so a master and a pipeline, with X's buyers and viewers
// counts, which come first in it; the totals and the other items' counts
// are written beside them, as every list reads them at whatever moment it
// is re-scored.
func (c *conn) byMaster(ctx context.Context, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	rec := c.cluster.Pipeline()
	fill(rec)
	cmds := rec.Cmds()
	var items, global []routed
	for _, cmd := range cmds {
		r := routed{cmd: cmd, key: commandKey(cmd)}
		if schema.IsGlobal(r.key) {
			global = append(global, r)
		} else {
			items = append(items, r)
		}
	}
	for _, phase := range [][]routed{items, global} {
		if err := c.runOnMasters(ctx, phase); err != nil {
			return cmds, err
		}
	}
	return cmds, nil
}

// runOnMasters runs commands as one pipeline per master that owns their
// keys, in parallel, each ending with WAIT when WaitReplicas > 0.
func (c *conn) runOnMasters(ctx context.Context, cmds []routed) error {
	type group struct {
		node *redis.Client
		cmds []redis.Cmder
	}
	groups := map[string]*group{}
	for _, r := range cmds {
		node, err := c.cluster.MasterForKey(ctx, r.key)
		if err != nil {
			return fmt.Errorf("route %s: %w", r.cmd.Name(), err)
		}
		addr := node.Options().Addr
		g := groups[addr]
		if g == nil {
			g = &group{node: node}
			groups[addr] = g
		}
		g.cmds = append(g.cmds, r.cmd)
	}
	var wg sync.WaitGroup
	errs := make([]error, 0, len(groups))
	var mu sync.Mutex
	for addr, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.runOnNode(ctx, addr, g.node, g.cmds); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runOnNode runs commands as one pipeline on a node, or in parts while a
// Yielding view's pipelines take turns (conn.inTurns), the last ending with
// WAIT when WaitReplicas > 0. The parts share one connection: WAIT counts
// the replicas that hold the master's stream up to its connection's last
// write, and a last part that writes nothing must not leave out the writes
// of the parts before.
func (c *conn) runOnNode(ctx context.Context, addr string, node *redis.Client, cmds []redis.Cmder) error {
	cn := node.Conn()
	defer cn.Close()
	var wait *redis.IntCmd
	for lo := 0; lo < len(cmds); {
		hi := c.partEnd(lo, len(cmds))
		// A connection's pipeline is a *redis.Pipeline, which has Wait
		// (with the read timeout a WAIT needs); the Pipeliner interface
		// lacks it.
		pipe := cn.Pipeline().(*redis.Pipeline)
		for _, cmd := range cmds[lo:hi] {
			_ = pipe.Process(ctx, cmd)
		}
		if hi == len(cmds) && c.wait > 0 {
			wait = pipe.Wait(ctx, c.wait, waitTimeout)
		}
		start := time.Now()
		_, err := pipe.Exec(ctx)
		c.took(hi-lo, time.Since(start))
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		lo = hi
	}
	if wait != nil && wait.Val() < int64(c.wait) {
		return fmt.Errorf("WAIT on %s: %d of %d replicas acknowledged within %s: %w",
			addr, wait.Val(), c.wait, waitTimeout, errNotReplicated)
	}
	return nil
}

// commandKey returns the key a command is routed by: the first key of
// EVAL and EVALSHA, else the first argument. Every key the store builds is
// a string.
func commandKey(cmd redis.Cmder) string {
	pos := 1
	switch cmd.Name() {
	case "evalsha", "eval", "evalsha_ro", "eval_ro":
		pos = 3
	}
	if args := cmd.Args(); len(args) > pos {
		key, _ := args[pos].(string)
		return key
	}
	return ""
}

// retryableInCluster reports errors after which the cluster's slot map or
// script caches must be refreshed and a write run again: a redirect, a
// cluster that is failing over, a master that lost its scripts or became a
// replica, a short WAIT, a lost connection.
func retryableInCluster(err error) bool {
	if _, ok := redis.IsMovedError(err); ok {
		return true
	}
	if _, ok := redis.IsAskError(err); ok {
		return true
	}
	var netErr net.Error
	return redis.IsClusterDownError(err) || redis.IsTryAgainError(err) || redis.IsReadOnlyError(err) ||
		redis.IsMasterDownError(err) || isNoScript(err) || errors.Is(err, errNotReplicated) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, redis.ErrClosed) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}

// guardKeys returns the KEYS and the guard argument of a guarded batch
// script on key. A single Redis checks every write against the global
// guard hash (batchGuard). In a cluster that hash lives in another slot
// than an item's keys and the shards of the global hashes (schema.Shards),
// so those scripts run unguarded there; WAIT and the cluster's durability
// settings take the guard's place (docs/guarantees.md).
func (c *conn) guardKeys(key, guardKey, guard string) ([]string, string) {
	if c.cluster != nil && !schema.SameSlot(key, guardKey) {
		return []string{key, key}, guardNone
	}
	return []string{key, guardKey}, guard
}

// scan calls fn with batches of the keys matching pattern (fn must not
// keep the slice), on every master in cluster mode.
func (c *conn) scan(ctx context.Context, pattern string, fn func(keys []string) error) error {
	if c.cluster == nil {
		return scanNode(ctx, c.rdb, pattern, fn)
	}
	var mu sync.Mutex // the masters are scanned in parallel; fn need not be safe for that
	locked := func(keys []string) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(keys)
	}
	return c.cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
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
