package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// TestForgetWaitsForTheBatchAndRefusesStaleLists: an item whose counters a
// batch retracted is not forgotten while that batch's progress is not
// recorded (on a single Redis its rows' fences must stay for a replay; in
// a cluster they stay anyway), and once it is forgotten a list computed
// from its row before the retraction is refused.
func TestForgetWaitsForTheBatchAndRefusesStaleLists(t *testing.T) {
	testenv.ForEachRedis(t, testForgetWaitsForTheBatchAndRefusesStaleLists)
}

func testForgetWaitsForTheBatchAndRefusesStaleLists(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	r := delta.Retention{Purchases: 10, Views: 10, MaxAge: 24 * time.Hour}
	t0 := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	var h, v delta.History
	b := delta.NewBatch(0)
	b.Purchase(&h, &v, "x", t0, 1, r)
	b.Purchase(&h, &v, "y", t0, 2, r)
	if err := st.Batches.Apply(ctx, b, nil, 2, -1); err != nil {
		t.Fatal(err)
	}
	before, err := st.Lists.ReadRows(ctx, store.Bought, []string{"x"}, 0)
	if err != nil || !before.Counted(0) {
		t.Fatalf("x's row before the retraction: %+v, %v", before.Rows, err)
	}
	stale := store.List{List: store.Bought, Item: "x", Method: scoring.Count, Revision: before.Revisions[0],
		Items: []scoring.Related{{Item: "y", Score: 1, Support: 1}}}

	// Two days later the customer buys z: x and y age out. The batch's
	// progress is left at 2, as when its last step has not landed yet.
	b = delta.NewBatch(0)
	b.Purchase(&h, &v, "z", t0.Add(48*time.Hour), 3, r)
	if err := st.Batches.Apply(ctx, b, nil, 2, 2); err != nil {
		t.Fatal(err)
	}
	after, err := st.Lists.ReadRows(ctx, store.Bought, []string{"x"}, 0)
	if err != nil || after.Counted(0) {
		t.Fatalf("x's row after the retraction: %+v, %v", after.Rows, err)
	}
	// The re-scorer writes the empty list first.
	empty := store.List{List: store.Bought, Item: "x", Method: scoring.Count, Revision: after.Revisions[0]}
	if _, err := st.Lists.Write(ctx, []store.List{empty}, false); err != nil {
		t.Fatal(err)
	}
	forget := func() []string {
		t.Helper()
		gone, _, err := st.Lists.Forget(ctx, []string{"x", "z"}, false)
		if err != nil {
			t.Fatal(err)
		}
		return gone
	}
	// In a cluster the rows keep their fences, and x has no other key but
	// its purchase statistics (P_x), which no state keeps: they go at once,
	// leaving the row as its tombstone. On a single Redis nothing goes yet.
	cluster := env.RedisMode == store.Cluster
	if gone := forget(); !cluster && len(gone) != 0 || cluster && (len(gone) != 1 || gone[0] != "x") {
		t.Fatalf("forgot %v before the retracting batch's progress was recorded; want nothing on a single Redis, x's statistics in a cluster", gone)
	}
	if err := st.Batches.Apply(ctx, delta.NewBatch(0), nil, 3, 2); err != nil { // its progress lands
		t.Fatal(err)
	}
	if gone := forget(); !cluster && (len(gone) != 1 || gone[0] != "x") || cluster && len(gone) != 0 {
		t.Fatalf("forgot %v, want x alone on a single Redis (z has state), nothing more in a cluster", gone)
	}
	if stats, err := st.Lists.ReadMany(ctx, nil, nil, []string{"x", "z"}); err != nil || !stats.Rebuy[0].IsZero() || stats.Rebuy[1].Purchases != 1 {
		t.Fatalf("purchase statistics after forgetting: %+v (%v); want none of x, z's kept", stats.Rebuy, err)
	}
	if n, err := st.Client().Exists(ctx, st.Keys().Row(store.Bought, "x")).Result(); err != nil || (n == 0) == cluster {
		t.Fatalf("x's purchase row exists: %d (%v); a cluster keeps it as the tombstone, a single Redis deletes it", n, err)
	}
	if p, err := st.Lists.Write(ctx, []store.List{stale}, false); err != nil || p.Written != 0 {
		t.Fatalf("a list from x's row before the retraction: written %d (%v), want refused", p.Written, err)
	}
	if _, err := st.Lists.Read(ctx, store.Bought, "x"); err != store.ErrNotFound {
		t.Fatalf("x's list after forgetting: %v, want none", err)
	}
}
