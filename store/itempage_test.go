package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// TestItemPageReads: an item page's list comes with the item's category in
// one round trip, and the popularity lists that fill it in another, on a
// single Redis and across a cluster's slots.
func TestItemPageReads(t *testing.T) {
	for _, mode := range []struct {
		name string
		env  func(t *testing.T) *testenv.Env
	}{
		{"single", func(t *testing.T) *testenv.Env { return testenv.NewRedis(t) }},
		{"cluster", func(t *testing.T) *testenv.Env { return testenv.NewCluster(t, 1) }},
	} {
		t.Run(mode.name, func(t *testing.T) {
			env := mode.env(t)
			ctx := context.Background()
			st := env.Store
			at := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
			if _, err := st.Lists.Write(ctx, []store.List{{List: store.Bought, Item: "milk", Method: scoring.Amazon2017Prior, ComputedAt: at,
				Items: []scoring.Related{{Item: "bread", Score: 2, Support: 3, Expected: 1}}}}, false); err != nil {
				t.Fatal(err)
			}
			if err := st.Client().HSet(ctx, st.Keys().ItemCategories(schema.ItemShard("milk")), "milk", "dairy").Err(); err != nil {
				t.Fatal(err)
			}
			l, cat, err := st.Lists.ReadWithCategory(ctx, store.Bought, "milk")
			if err != nil || cat != "dairy" || len(l.Items) != 1 || l.Items[0].Item != "bread" {
				t.Fatalf("milk: list %+v, category %q, error %v; want bread, dairy", l, cat, err)
			}
			if _, cat, err := st.Lists.ReadWithCategory(ctx, store.Bought, "caviar"); !errors.Is(err, store.ErrNotFound) || cat != "" {
				t.Fatalf("caviar: category %q, error %v; want none, ErrNotFound", cat, err)
			}
			pop := func(cat string, items ...string) store.PopularList {
				l := store.PopularList{Kind: store.Bought, Category: cat, Anchor: at, Days: scoring.PopularityDays, ComputedAt: at}
				for i, it := range items {
					l.Items = append(l.Items, scoring.Popular{Item: it, Count: int64(10 - i)})
				}
				return l
			}
			if _, err := st.Popularity.WriteLists(ctx, store.Bought, []store.PopularList{pop("", "pen", "milk"), pop("dairy", "milk", "cheese")}, false); err != nil {
				t.Fatal(err)
			}
			lists, err := st.Popularity.ReadLists(ctx, store.Bought, []string{"dairy", "garden", ""})
			if err != nil {
				t.Fatal(err)
			}
			if len(lists) != 3 || lists[0] == nil || lists[0].Items[1].Item != "cheese" || lists[1] != nil || lists[2] == nil || lists[2].Items[0].Item != "pen" {
				t.Fatalf("popular lists dairy, garden, overall: %+v; want dairy's, none, the overall one", lists)
			}
		})
	}
}
