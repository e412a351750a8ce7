package store

import (
	"context"
	"errors"
	"fmt"
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
// missing key is no error: callers read each command's own result.
func (c *conn) read(ctx context.Context, what string, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	for attempt := 0; ; attempt++ {
		pipe := c.rdb.Pipeline()
		fill(pipe)
		cmds, err := pipe.Exec(ctx)
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
		cmds, err := c.byMaster(ctx, fill)
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
		fill(pipe)
		wait := pipe.Wait(ctx, c.wait, waitTimeout)
		cmds, err := pipe.Exec(ctx)
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
