package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// TestPurchaseStatisticsRoundTrip: the purchase statistics a batch counts
// (docs/DESIGN.md section 12) land in the items' purchase rows, fenced like
// the other counters (a replayed batch counts nothing twice); ReadMany
// returns them aligned with the items asked for, zero for an item without
// any; the row readers keep them out of the candidates; the customer's
// stored history returns its counts; the snapshot holds them, and a state
// written from it (bootstrap) reads back the same.
func TestPurchaseStatisticsRoundTrip(t *testing.T) {
	testenv.ForEachRedis(t, testPurchaseStatisticsRoundTrip)
}

func testPurchaseStatisticsRoundTrip(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	const day = 24 * time.Hour
	t0 := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	r := delta.Retention{Purchases: 10, Views: 10}
	var ann, annViews, bob, bobViews delta.History
	b := delta.NewBatch(0)
	b.Purchase(&ann, &annViews, "milk", t0, 0, r)
	b.Purchase(&bob, &bobViews, "milk", t0, 1, r)
	b.Purchase(&ann, &annViews, "tea", t0.Add(time.Hour), 2, r)
	b.Purchase(&ann, &annViews, "milk", t0.Add(3*day), 3, r)   // gap 3 days: bucket 2
	b.Purchase(&ann, &annViews, "milk", t0.Add(3*day+1), 4, r) // the same moment: bucket 0
	updates := []store.CustomerUpdate{{ID: "ann", Purchases: ann, Offset: 4}, {ID: "bob", Purchases: bob, Offset: 1}}
	if err := st.Batches.Apply(ctx, b, updates, 4, -1); err != nil {
		t.Fatal(err)
	}
	// The same batch again, as after a crash before its progress: fenced.
	if err := st.Batches.Apply(ctx, b, updates, 4, 4); err != nil {
		t.Fatal(err)
	}
	milk := store.Rebuy{Purchases: 4}
	milk.Gaps[schema.GapBucket(3*day)], milk.Gaps[0] = 1, 1
	want := []store.Rebuy{milk, {Purchases: 1}, {}}
	got, err := st.Lists.ReadMany(ctx, nil, nil, []string{"milk", "tea", "none"})
	if err != nil || !slices.Equal(got.Rebuy, want) {
		t.Fatalf("ReadMany statistics %+v (%v), want %+v", got.Rebuy, err, want)
	}
	if got.Rebuy[0].Repeats() != 2 {
		t.Errorf("milk's repeats %d, want 2", got.Rebuy[0].Repeats())
	}
	rows, err := st.Lists.ReadRows(ctx, store.Bought, []string{"milk"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rows.Rows[0].Candidates {
		if c.Item != "tea" {
			t.Errorf("milk's row has candidate %q: a statistic read as a co-count", c.Item)
		}
	}
	cs, err := st.Customers.Load(ctx, []string{"ann"})
	if h := cs["ann"].Purchases; err != nil || !slices.Equal(h.Items, []string{"tea", "milk"}) || !slices.Equal(h.Counts, []int64{1, 3}) {
		t.Fatalf("ann's history %v counts %v (%v), want [tea milk] counts [1 3]", h.Items, h.Counts, err)
	}
	snap, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Rebuy["milk"] != milk || snap.Rebuy["tea"] != want[1] || len(snap.Rebuy) != 2 {
		t.Fatalf("snapshot statistics %+v", snap.Rebuy)
	}
	copied := openStore(t, env, env.Prefix+"-copy", nil)
	if err := copied.State.Write(ctx, snap); err != nil {
		t.Fatal(err)
	}
	back, err := copied.State.Snapshot(ctx)
	if err != nil || !equalJSON(t, back.Rebuy, snap.Rebuy) || !equalJSON(t, back.Histories, snap.Histories) {
		t.Fatalf("written state reads back %+v %v (%v), want %+v %v", back.Rebuy, back.Histories, err, snap.Rebuy, snap.Histories)
	}
}
