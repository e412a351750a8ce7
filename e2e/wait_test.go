package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/testenv"
)

// Waits in these tests are bounded by progress, not by the clock: a loaded
// machine applies a stream more slowly but keeps applying it, while a stuck
// consumer stops. A wait on the applied lag therefore fails only when the
// lag has not moved for stallLimit.
//
// stallLimit is generous: it must outlast the pauses a healthy run has, the
// longest being a dead member's session (10 s) plus a rebalance and a
// process start before its partitions move on, on a 2-core machine shared
// with other work.
const stallLimit = 2 * time.Minute

// appliedLag is the number of messages of env's topic the state has not
// applied yet, by the lag monitor's formula (lag.AppliedLag: messages
// retention deleted are not waiting).
func appliedLag(env *testenv.Env) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return testenv.AppliedLag(ctx, env.Kafka(), env.Topic, env.Store.Batches)
}

// waitLag polls the applied lag until done accepts it, and returns that
// lag. It fails the test when the lag stays where it is (or cannot be read)
// for stallLimit.
func waitLag(t *testing.T, env *testenv.Env, what string, done func(lag int64) bool) int64 {
	t.Helper()
	last, lastErr := int64(-1), error(nil)
	moved := time.Now()
	for {
		lag, err := appliedLag(env)
		if err == nil {
			if done(lag) {
				return lag
			}
			if lag != last {
				last, moved = lag, time.Now()
			}
		}
		lastErr = err
		if time.Since(moved) > stallLimit {
			t.Fatalf("waiting for %s: the applied lag stayed at %d for %s (last error %v)", what, last, stallLimit, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitApplied waits until the state has applied every message on env's
// topic.
func waitApplied(t *testing.T, env *testenv.Env) {
	t.Helper()
	waitLag(t, env, "every message applied", func(lag int64) bool { return lag == 0 })
}

// splitMidStream cuts a stream for a test that interrupts the pipeline
// mid-stream: the test publishes head, waits until part of it is applied
// (waitHeadStarted), interrupts, and only then publishes rest. The
// interruption then falls mid-stream however fast the pipeline applies,
// which waiting for a lag alone cannot promise: a quick machine may apply
// the whole stream between two looks at the lag.
func splitMidStream(evs []event.Event) (head, rest []event.Event) {
	cut := len(evs) * 3 / 4
	return evs[:cut], evs[cut:]
}

// waitHeadStarted waits until a quarter of head is applied and returns the
// messages left then (possibly none).
func waitHeadStarted(t *testing.T, env *testenv.Env, head []event.Event) int64 {
	t.Helper()
	return waitLag(t, env, "a quarter of the stream's head applied", func(lag int64) bool { return lag < int64(len(head))*3/4 })
}

// waitLagBelow waits until fewer than n messages remain to apply, so that
// what happens next happens mid-stream, and returns the lag. It fails the
// test if the whole stream was applied meanwhile: the interruption would not
// be mid-stream.
func waitLagBelow(t *testing.T, env *testenv.Env, n int64) int64 {
	t.Helper()
	lag := waitLag(t, env, "a lag below "+strconv.FormatInt(n, 10), func(lag int64) bool { return lag < n })
	if lag == 0 {
		t.Fatalf("the whole stream was applied before the interruption: stream more events")
	}
	return lag
}

// waitSwept waits until the ageing sweeps of env's partitions have removed
// every entry older than cut (unix ms) and no sweep is in flight: what
// remains is what the oracle's final sweep keeps. It fails when the count
// of customers due stops falling for stallLimit.
func waitSwept(t *testing.T, env *testenv.Env, partitions int, cut int64) {
	t.Helper()
	ctx := context.Background()
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	last, moved := int64(-1), time.Now()
	for {
		due, err := env.Store.Sweeps.DueCount(ctx, parts, cut)
		if err == nil {
			clock, cerr := env.Store.Sweeps.ReadClock(ctx)
			if err = cerr; err == nil && due == 0 && len(clock.Plans) == 0 {
				return
			}
		}
		if due != last {
			last, moved = due, time.Now()
		}
		if time.Since(moved) > stallLimit {
			t.Fatalf("waiting for the ageing sweeps: %d customers stayed due for %s (last error %v)", last, stallLimit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
