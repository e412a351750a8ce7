package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// TestCommandKeyRoutesByTheFirstKey: the cluster write path routes a
// script by its first key and every other command by its first argument,
// as Redis Cluster does.
func TestCommandKeyRoutesByTheFirstKey(t *testing.T) {
	ctx := context.Background()
	keys := schema.NewKeys("ab")
	pipe := redis.NewClient(&redis.Options{Addr: "127.0.0.1:0"}).Pipeline()
	script := applyOpsScript.EvalSha(ctx, pipe, []string{keys.Row(Bought, "X"), keys.Progress}, "0", "-", "#0")
	hset := pipe.HSet(ctx, keys.Customer("c"), schema.CustomerPurchases, "X")
	sadd := pipe.SAdd(ctx, keys.PopularityDays(Viewed), "20240501")
	for cmd, want := range map[redis.Cmder]string{script: keys.Row(Bought, "X"), hset: keys.Customer("c"), sadd: keys.PopularityDays(Viewed)} {
		if got := commandKey(cmd); got != want {
			t.Errorf("%s routed by %q, want %q", cmd.Name(), got, want)
		}
	}
}

// TestRetryableInCluster: a write is run again after a short WAIT (the
// sentinel, however wrapped) and after the cluster's own redirect and
// failover replies, but not after a script's refusal or another error.
func TestRetryableInCluster(t *testing.T) {
	short := fmt.Errorf("WAIT on 10.0.0.1:7000: 0 of 1 replicas acknowledged within 2s: %w", errNotReplicated)
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.Join(errors.New("other node fine"), short), true},
		{redis.ErrNoScript, true},
		{errors.New("the item moved to another shelf"), false},
		{fmt.Errorf("partition 0: %w", ErrBatchLost), false},
		{errors.New("connection pool closed by the caller"), false},
	} {
		if got := retryableInCluster(tc.err); got != tc.want {
			t.Errorf("retryableInCluster(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
