package rescore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/store"
)

// otherHoldsPopular is a state where popularity lists are due (the version
// moved) and another instance holds the popularity lease. It counts the
// polls (one dirty backlog read each) and the lease requests. The parts the
// test does not expect to be called are nil interfaces: a call panics.
type otherHoldsPopular struct {
	polls, leases atomic.Int64
}

type noDirty struct{ *otherHoldsPopular }

func (noDirty) Claim(context.Context, int, time.Time, string, time.Duration) ([]store.DirtyItem, error) {
	return nil, nil
}
func (noDirty) Clear(context.Context, []store.DirtyItem, time.Time) error { return nil }
func (noDirty) Mark(context.Context, []store.ListRef, time.Time) error    { return nil }
func (d noDirty) Backlog(context.Context) (int64, time.Time, error) {
	d.polls.Add(1)
	return 0, time.Time{}, nil
}

type heldLease struct{ *otherHoldsPopular }

func (l heldLease) Try(_ context.Context, name, _ string, _ time.Duration) (bool, error) {
	if name == "popular" {
		l.leases.Add(1)
	}
	return false, nil
}

// unchangedCatalogue has no availability change to follow.
type unchangedCatalogue struct{ Catalogue }

func (unchangedCatalogue) All(context.Context) (map[string]event.Item, int64, error) {
	return nil, 0, nil
}
func (unchangedCatalogue) Since(_ context.Context, rev int64) (map[string]*event.Item, int64, error) {
	return nil, rev, nil
}
func (unchangedCatalogue) PromoteDue(context.Context, time.Time) (int, error) { return 0, nil }
func (unchangedCatalogue) TakePending(context.Context, int) ([]store.CatalogueChange, error) {
	return nil, nil
}

type movedPopularity struct{ Popularity }

func (movedPopularity) Version(context.Context) (int64, error) { return 7, nil }

func (s *otherHoldsPopular) state() State {
	return State{Dirty: noDirty{s}, Leases: heldLease{s}, Popularity: movedPopularity{}, Catalogue: unchangedCatalogue{}}
}

// TestAnInstanceWithoutThePopularityLeaseAsksOncePerInterval: while
// another instance holds the popularity lease, a re-scorer asks for it
// once per DefaultPopularInterval, not at every poll. The clock stands
// still, so the interval never passes during the test: one request, however
// many polls.
func TestAnInstanceWithoutThePopularityLeaseAsksOncePerInterval(t *testing.T) {
	st := &otherHoldsPopular{}
	r, err := New(Config{PollInterval: time.Millisecond}, st.state(), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return t0 }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for st.polls.Load() < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d polls in a minute", st.polls.Load())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := st.leases.Load(); n != 1 {
		t.Fatalf("asked for the popularity lease %d times in %d polls; want once per interval", n, st.polls.Load())
	}
}
