package rescore_test

import (
	"context"
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

// TestRowsAreRescoredAtMostOncePerMinInterval: Run leaves a fresh mark alone
// until it is MinInterval old, then re-scores and clears it.
func TestRowsAreRescoredAtMostOncePerMinInterval(t *testing.T) {
	testenv.ForEachRedis(t, testRowsAreRescoredAtMostOncePerMinInterval)
}

func testRowsAreRescoredAtMostOncePerMinInterval(t *testing.T, env *testenv.Env) {
	rs, err := rescore.New(rescore.Config{MinInterval: 2 * time.Second, PollInterval: 20 * time.Millisecond}, rescore.StateOf(env.Store), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rs.Run(ctx) }()
	defer func() { cancel(); <-done }()

	marked := time.Now()
	testenv.MarkDirty(t, env.Store, 1, "x")
	for backlog(t, env.Store) > 0 {
		if time.Since(marked) > time.Minute {
			t.Fatal("dirty item never re-scored")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if waited := time.Since(marked); waited < 2*time.Second {
		t.Fatalf("re-scored after %s, before the 2s minimum interval", waited)
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
