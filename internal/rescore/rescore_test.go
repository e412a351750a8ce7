package rescore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

func backlog(t *testing.T, st *store.Store) int64 {
	t.Helper()
	n, _, err := st.Dirty.Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAListIsRescoredAtTheNextPollWhileTheBudgetAllows: with re-scoring
// time to spare (the budget), a dirty list is re-scored at the next poll,
// however recently it was re-scored before: its changes gather (up to
// MinInterval) only as re-scoring takes its budget (gatherFor).
func TestAListIsRescoredAtTheNextPollWhileTheBudgetAllows(t *testing.T) {
	testenv.ForEachRedis(t, testAListIsRescoredAtTheNextPollWhileTheBudgetAllows)
}

func testAListIsRescoredAtTheNextPollWhileTheBudgetAllows(t *testing.T, env *testenv.Env) {
	rs := running(t, env, rescore.Config{MinInterval: time.Hour, Budget: 2, PollInterval: 20 * time.Millisecond})
	testenv.MarkDirty(t, env.Store, 1, "x")
	waitFor(t, "the first mark's re-score", func() bool { return rs.Stats().Rescored == 1 && backlog(t, env.Store) == 0 })
	testenv.MarkDirty(t, env.Store, 2, "x")
	waitFor(t, "the second mark's re-score, well within MinInterval", func() bool { return rs.Stats().Rescored == 2 && backlog(t, env.Store) == 0 })
}

// running returns a re-scorer of cfg whose Run runs until the test ends.
func running(t *testing.T, env *testenv.Env, cfg rescore.Config) *rescore.Rescorer {
	t.Helper()
	rs, err := rescore.New(cfg, rescore.StateOf(env.Store), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rs.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return rs
}

// waitFor waits for cond, polling, for at most a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s in a minute", what)
		}
	}
}

// TestStatsSayWhatTheRescorerDid: the figures the status page reads are
// the re-scorer's own: the lists it re-scored, one freshness observation
// per dirty mark it cleared, and the backlog its last poll read.
func TestStatsSayWhatTheRescorerDid(t *testing.T) {
	testenv.ForEachRedis(t, testStatsSayWhatTheRescorerDid)
}

func testStatsSayWhatTheRescorerDid(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	testenv.MarkDirty(t, env.Store, 1, "a", "b", "c")
	rs, err := rescore.New(rescore.Config{PollInterval: 10 * time.Millisecond}, rescore.StateOf(env.Store), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := rs.Stats(); st.Rescored != 0 || st.BacklogKnown {
		t.Fatalf("stats before any work: %+v", st)
	}
	n, err := rs.DrainDirty(ctx)
	if err != nil || n < 3 {
		t.Fatalf("drained %d, %v; want at least the 3 marked items", n, err)
	}
	if st := rs.Stats(); st.Rescored != uint64(n) || st.Freshness.GetSampleCount() != uint64(n) {
		t.Fatalf("after re-scoring %d lists: %d re-scored, %d freshness observations", n, st.Rescored, st.Freshness.GetSampleCount())
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = rs.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(time.Minute)
	for !rs.Stats().BacklogKnown {
		if time.Now().After(deadline) {
			t.Fatal("no poll read the backlog in a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := rs.Stats(); st.DirtyItems != 0 {
		t.Fatalf("backlog %d after draining everything", st.DirtyItems)
	}
}

// TestWorkersNeverRescoreAListTwice: the workers of a poll claim under
// owners of their own, so every dirty list is re-scored once, by one of
// them, however their claims interleave.
func TestWorkersNeverRescoreAListTwice(t *testing.T) {
	testenv.ForEachRedis(t, testWorkersNeverRescoreAListTwice)
}

func testWorkersNeverRescoreAListTwice(t *testing.T, env *testenv.Env) {
	items := make([]string, 300)
	for i := range items {
		items[i] = fmt.Sprintf("i%03d", i)
	}
	testenv.MarkDirty(t, env.Store, 1, items...)
	marked := backlog(t, env.Store)
	rs := running(t, env, rescore.Config{Batch: 7, Workers: 3, PollInterval: 10 * time.Millisecond})
	waitFor(t, "an empty backlog", func() bool { return backlog(t, env.Store) == 0 })
	if got := rs.Stats().Rescored; got != uint64(marked) {
		t.Fatalf("%d lists re-scored for %d marked once each", got, marked)
	}
}
