package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
)

// TestLeaseRunsATaskOncePerTTL: of several instances, one holds a lease
// until it expires; then another takes it.
func TestLeaseRunsATaskOncePerTTL(t *testing.T) {
	testenv.ForEachRedis(t, testLeaseRunsATaskOncePerTTL)
}

func testLeaseRunsATaskOncePerTTL(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	for _, tc := range []struct {
		owner string
		ttl   time.Duration
		want  bool
	}{
		{"one", time.Minute, true},
		{"two", time.Minute, false},
		{"one", time.Minute, true}, // the holder asking again still holds it
	} {
		if got, err := env.Store.Leases.Try(ctx, "sweep", tc.owner, tc.ttl); err != nil || got != tc.want {
			t.Fatalf("Leases.Try(sweep, %s) = %v, %v; want %v", tc.owner, got, err, tc.want)
		}
	}
	if got, err := env.Store.Leases.Try(ctx, "popular", "one", 50*time.Millisecond); err != nil || !got {
		t.Fatalf("one takes another lease: %v, %v", got, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got, err := env.Store.Leases.Try(ctx, "popular", "two", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("two never took the lease one let expire")
		}
	}
	if got, err := env.Store.Leases.Try(ctx, "popular", "one", time.Minute); err != nil || got {
		t.Fatalf("one takes the lease two holds now: %v, %v", got, err)
	}
}
