package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// TestEverBoughtRoundTrip: a customer's ever-bought set is written with
// its histories by the fenced customer write, read back by Load and
// Snapshot, scores the age index when it is older than every entry, and
// its field goes when the set is emptied; bootstrap's State.Write writes
// it too.
func TestEverBoughtRoundTrip(t *testing.T) { testenv.ForEachRedis(t, testEverBoughtRoundTrip) }

func testEverBoughtRoundTrip(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := delta.Retention{Purchases: 3, Views: 3, MaxAge: 30 * 24 * time.Hour}
	var h, v delta.History
	b := delta.NewBatch(0)
	for i := range 40 {
		b.Purchase(&h, &v, "item"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Minute), int64(i), r)
	}
	if h.Ever.Len() < 35 {
		t.Fatalf("ever-bought set of %d items after 40 purchases with K_hist 3", h.Ever.Len())
	}
	// A late purchase older than every entry and than the set's newest.
	b.Purchase(&h, &v, "late", t0.Add(-time.Hour), 40, r)
	u := store.CustomerUpdate{ID: "ann", Purchases: h, Views: v, Offset: 40, IndexAge: true}
	if err := st.Batches.Apply(ctx, b, []store.CustomerUpdate{u}, 40, -1); err != nil {
		t.Fatal(err)
	}
	cs, err := st.Customers.Load(ctx, []string{"ann"})
	if err != nil {
		t.Fatal(err)
	}
	got := cs["ann"].Purchases
	if got.Ever.Encode() != h.Ever.Encode() || got.Ever.Newest != h.Ever.Newest || !got.Ever.Contains("item0") {
		t.Fatalf("loaded set %.40q…, want %.40q…", got.Ever.Encode(), h.Ever.Encode())
	}
	score, err := st.Client().ZScore(ctx, st.Keys().AgeIndex(0), "ann").Result()
	if err != nil || int64(score) != t0.Add(-time.Hour).UnixMilli() {
		t.Errorf("age index score %v (%v), want the late entry's time", score, err)
	}
	snap, err := st.State.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Histories["ann"].Ever.Equal(h.Ever) {
		t.Error("the snapshot lost the ever-bought set")
	}

	// Erased: the set goes with the histories.
	b = delta.NewBatch(0)
	b.Erase(&h, &v, 41)
	u = store.CustomerUpdate{ID: "ann", Purchases: h, Views: v, Offset: 41, IndexAge: true}
	if err := st.Batches.Apply(ctx, b, []store.CustomerUpdate{u}, 41, 40); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Client().HExists(ctx, st.Keys().Customer("ann"), schema.CustomerEver).Result(); err != nil || ok {
		t.Errorf("after erasure the field %s exists: %v (%v)", schema.CustomerEver, ok, err)
	}

	// Bootstrap writes the set with the history.
	boot := openStore(t, env, env.Prefix+"boot", nil)
	var bh, bv delta.History
	bb := delta.NewBatch(0)
	for i := range 5 {
		bb.Purchase(&bh, &bv, "p"+strconv.Itoa(i), t0, int64(i), delta.Retention{Purchases: 2, Views: 2})
	}
	want := store.NewSnapshot()
	want.Histories["bob"] = bh
	if err := boot.State.Write(ctx, want); err != nil {
		t.Fatal(err)
	}
	cs, err = boot.Customers.Load(ctx, []string{"bob"})
	if err != nil || !cs["bob"].Purchases.Ever.Equal(bh.Ever) || bh.Ever.Len() != 3 {
		t.Fatalf("bootstrapped set of %d items, loaded %d (%v)", bh.Ever.Len(), cs["bob"].Purchases.Ever.Len(), err)
	}
}
