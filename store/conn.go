package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// conn is the connection every concept type of a Store shares, with the
// pipeline runner they all write and read through.
type conn struct {
	rdb     redis.UniversalClient
	cluster *redis.ClusterClient // nil in single mode
	keys    schema.Keys
	wait    int    // replicas each write step waits for (cluster and sentinel mode)
	master  string // the master's name at the sentinels (sentinel mode)
	// turns holds a token for each pipeline in flight, when a Yielding
	// store limits them; nil: the store itself, which never waits.
	turns chan struct{}
	// readsWithin is how recent the store's own last pipeline must be for
	// a Yielding store to limit its pipelines.
	readsWithin time.Duration
	// lastOwn is when the store itself (not a Yielding view) last sent a
	// pipeline, in Unix nanoseconds; shared by the store and its views.
	lastOwn *atomic.Int64
	// rowIndex is how to read the state's row indexes, as Meta.Ensure
	// found them; nil: none, or not read, and a re-score reads whole rows.
	// Shared by the store and its views.
	rowIndex *atomic.Pointer[rowIndexing]
	// part is the size of the next part of a pipeline that takes turns
	// (inTurns), and turnWaits the nanoseconds spent waiting for turns; a
	// Yielding view's own.
	part, turnWaits *atomic.Int64
}

// yielding reports whether this conn's pipelines take turns now: it is a
// Yielding view and the store itself has sent a pipeline within
// readsWithin. Called on the store itself, it notes that it is sending one.
func (c *conn) yielding() bool {
	if c.turns == nil {
		c.lastOwn.Store(time.Now().UnixNano())
		return false
	}
	return time.Since(time.Unix(0, c.lastOwn.Load())) <= c.readsWithin
}

// turn waits for a turn of this conn's pipelines when they take turns, and
// returns what ends it once the replies are in.
func (c *conn) turn(ctx context.Context, what string) (done func(), err error) {
	if !c.yielding() {
		return func() {}, nil
	}
	select {
	case c.turns <- struct{}{}:
		return func() { <-c.turns }, nil
	default:
	}
	start := time.Now()
	defer func() { c.turnWaits.Add(int64(time.Since(start))) }()
	select {
	case c.turns <- struct{}{}:
		return func() { <-c.turns }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for a turn: %w", what, ctx.Err())
	}
}

// A pipeline that takes turns (read; a cluster's write step per master,
// runOnNode) goes in parts whose size adapts to
// how long a part keeps Redis busy. Redis runs in one turn what a client
// has sent, as much as it reads at once, and a consumer step's scripts
// (about 130 µs each on Dunnhumby) or a re-score batch's rows (a popular
// item's is thousands of fields) would hold every other client, the
// storefront's reads among them, for tens of milliseconds. Between two
// parts Redis serves the reads that queued. A part whose round trip took
// longer than partTarget halves the size of the next; a quicker one adds
// one command, from firstPart, so cheap commands still go many at a time.
const (
	partTarget = 4 * time.Millisecond
	firstPart  = 8
	maxPart    = 256
)

// partEnd returns where the part of n commands that starts at lo ends:
// one part of all that is left unless the pipeline takes turns now.
func (c *conn) partEnd(lo, n int) int {
	if !c.yielding() {
		return n
	}
	return min(lo+int(c.part.Load()), n)
}

// took sizes the next part from a part of n commands whose round trip
// took d (above).
func (c *conn) took(n int, d time.Duration) {
	if c.part == nil {
		return
	}
	if d > partTarget {
		c.part.Store(min(maxPart, max(1, int64(n)/2))) // n may be a whole pipeline sent while nobody read
	} else if int64(n) == c.part.Load() {
		c.part.Store(min(maxPart, int64(n)+1))
	}
}

// inTurns sends cmds in parts (above), each in a turn, and returns the
// first error other than a missing key.
//
// The parts go over one connection, so that a lost connection fails the
// rest. A Redis that restarts or fails over between two parts may have
// lost the parts before, which it acknowledged, and a part sent over a new
// connection would land on top of that gap: the guards of a batch's step
// check what was written before the step, not the step's own earlier parts
// (docs/DESIGN.md section 5.1). Failed, the step is written again whole, as
// a pipeline that go-redis retries is. A cluster's reads (a
// *redis.ClusterClient routes each part) only read, and lose nothing.
func (c *conn) inTurns(ctx context.Context, what string, cmds []redis.Cmder) error {
	var via interface{ Pipeline() redis.Pipeliner } = c.rdb
	if client, ok := c.rdb.(*redis.Client); ok {
		cn := client.Conn()
		defer cn.Close()
		via = cn
	}
	for lo := 0; lo < len(cmds); {
		done, err := c.turn(ctx, what)
		if err != nil {
			return err
		}
		hi := c.partEnd(lo, len(cmds))
		pipe := via.Pipeline()
		for _, cmd := range cmds[lo:hi] {
			_ = pipe.Process(ctx, cmd) // queued: the error is Exec's
		}
		start := time.Now()
		_, err = pipe.Exec(ctx)
		c.took(hi-lo, time.Since(start))
		done()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		lo = hi
	}
	return nil
}

func (c *conn) loadScripts(ctx context.Context) error {
	for _, sc := range allScripts {
		if err := sc.Load(ctx, c.rdb).Err(); err != nil {
			return fmt.Errorf("load redis script: %w", classify(err))
		}
	}
	return nil
}

// read runs a pipeline of reads (or of writes that need no replica
// acknowledgement) built by fill. In a cluster, go-redis routes it and
// follows redirects itself; a read that fails anyway (a failover in
// progress) is not retried here but by its caller, which retries whole
// steps (the consumer's batch backoff, the re-scorer's next poll). A
// missing key is no error: callers read each command's own result. A
// Yielding view's pipeline goes in parts while the store itself reads
// (inTurns).
func (c *conn) read(ctx context.Context, what string, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	for attempt := 0; ; attempt++ {
		pipe := c.rdb.Pipeline()
		fill(pipe)
		var cmds []redis.Cmder
		var err error
		if c.yielding() {
			cmds = pipe.Cmds()
			err = c.inTurns(ctx, what, cmds)
		} else {
			cmds, err = pipe.Exec(ctx)
		}
		if err == nil || errors.Is(err, redis.Nil) {
			return cmds, nil
		}
		if attempt > 0 || !isNoScript(err) {
			return cmds, fmt.Errorf("%s: %w", what, err)
		}
		if lerr := c.loadScripts(ctx); lerr != nil {
			return nil, fmt.Errorf("%s: %w", what, lerr)
		}
	}
}

// write runs a pipeline of writes built by fill. On a single Redis it is
// one pipeline (read); with WaitReplicas > 0 (sentinel mode) the pipeline
// ends with WAIT (waited). In a cluster the commands are split by master, the
// global keys last, and each master's part ends with a WAIT when
// WaitReplicas > 0 (byMaster); after a redirect, a failover, a lost script
// cache or too few acknowledgements, it refreshes the slot map and runs
// the pipeline again. Running a pipeline again is safe because every write
// in it is fenced or idempotent.
func (c *conn) write(ctx context.Context, what string, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	if c.cluster == nil {
		if c.wait > 0 {
			return c.waited(ctx, what, fill)
		}
		return c.read(ctx, what, fill)
	}
	for attempt := 0; ; attempt++ {
		done, err := c.turn(ctx, what)
		if err != nil {
			return nil, err
		}
		cmds, err := c.byMaster(ctx, fill)
		done() // not held while backing off
		if err == nil {
			return cmds, nil
		}
		if attempt >= 3 || !retryableInCluster(err) || ctx.Err() != nil {
			return cmds, fmt.Errorf("%s: %w", what, err)
		}
		c.cluster.ReloadState(ctx)
		if isNoScript(err) {
			if lerr := c.loadScripts(ctx); lerr != nil {
				return nil, fmt.Errorf("%s: %w", what, lerr)
			}
		}
		select {
		case <-ctx.Done():
			return cmds, fmt.Errorf("%s: %w", what, err)
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
}

// waited runs a pipeline of writes built by fill on the master, ending
// with WAIT on the same connection, so that the step counts as written
// only once WaitReplicas replicas hold it: Sentinel promotes a replica,
// and replication is asynchronous (docs/DESIGN.md section 5.1, "Redis with
// Sentinel"). Too few acknowledgements fail the step (errNotReplicated),
// which its caller retries like any failed step: its writes are fenced. A
// lost script cache (the master changed) loads the scripts and runs the
// pipeline again once, as read does.
func (c *conn) waited(ctx context.Context, what string, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	for attempt := 0; ; attempt++ {
		// A *redis.Client's pipeline is a *redis.Pipeline, which has Wait
		// (with the read timeout a WAIT needs); the Pipeliner interface
		// lacks it.
		pipe, ok := c.rdb.Pipeline().(*redis.Pipeline)
		if !ok {
			return nil, fmt.Errorf("%s: the %T client cannot WAIT", what, c.rdb)
		}
		done, err := c.turn(ctx, what)
		if err != nil {
			return nil, err
		}
		fill(pipe)
		wait := pipe.Wait(ctx, c.wait, waitTimeout)
		cmds, err := pipe.Exec(ctx)
		done()
		if len(cmds) > 0 {
			cmds = cmds[:len(cmds)-1] // the callers' commands, without the WAIT
		}
		switch {
		case err == nil || errors.Is(err, redis.Nil):
			if n := wait.Val(); n < int64(c.wait) {
				return cmds, fmt.Errorf("%s: WAIT: %d of %d replicas acknowledged within %s: %w",
					what, n, c.wait, waitTimeout, errNotReplicated)
			}
			return cmds, nil
		case attempt > 0 || !isNoScript(err):
			return cmds, fmt.Errorf("%s: %w", what, err)
		}
		if lerr := c.loadScripts(ctx); lerr != nil {
			return nil, fmt.Errorf("%s: %w", what, lerr)
		}
	}
}
