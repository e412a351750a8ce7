package rescore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// buy applies baskets as purchase histories of new customers (one per
// basket, each basket bought three times by three customers, so every pair
// passes the minimum support).
func buy(t *testing.T, st *store.Store, baskets ...[]string) {
	t.Helper()
	b := delta.NewBatch(0)
	offset := int64(0)
	for range 3 {
		for _, basket := range baskets {
			var h delta.History
			for _, it := range basket {
				offset++
				b.Purchase(&h, &delta.History{}, it, offset, 10)
			}
		}
	}
	if err := st.Batches.Apply(context.Background(), b, nil, offset, -1); err != nil {
		t.Fatal(err)
	}
}

// boughtWith returns the items of X's "bought together" list.
func boughtWith(t *testing.T, st *store.Store, x string) []string {
	t.Helper()
	l, err := st.Lists.Read(context.Background(), store.Bought, x)
	if err != nil {
		t.Fatalf("list of %s: %v", x, err)
	}
	var out []string
	for _, r := range l.Items {
		out = append(out, r.Item)
	}
	return out
}

// eventually waits, with a generous bound, until every list of holders
// satisfies ok.
func eventually(t *testing.T, st *store.Store, what string, holders []string, ok func(list []string) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		bad := ""
		for _, x := range holders {
			if l := boughtWith(t, st, x); !ok(l) {
				bad = fmt.Sprintf("%s's list is %v", x, l)
				break
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after a minute, %s", what, bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func setCatalogue(t *testing.T, st *store.Store, offset int64, rec *event.Item, item string) {
	t.Helper()
	if _, err := st.Catalogue.Apply(context.Background(), 0, []store.CatalogueRecord{{Offset: offset, Item: item, Record: rec}}, offset+1, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// A hidden item leaves every list that held it without any change of the
// counters, the lists fill up from their next candidates, and un-hiding
// it brings it back; an item whose launch is later appears at its launch,
// with no event and no record arriving then.
func TestAvailabilityChangesReachEveryListHoldingTheItem(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) {
		st := env.Store
		// x sells with a, b and c; each of them also with two fillers.
		// Lists hold 2 entries, so x pushes a filler out.
		var baskets [][]string
		for _, h := range []string{"a", "b", "c"} {
			baskets = append(baskets, []string{h, "x", "f" + h}, []string{h, "x"}, []string{h, "g" + h})
		}
		buy(t, st, baskets...)
		cfg := rescore.Config{PollInterval: 20 * time.Millisecond, Method: scoring.Count, Rules: scoring.ListRules{Size: 2, MinSupport: 2}}
		rs, err := rescore.New(cfg, rescore.StateOf(st), zerolog.Nop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.DrainDirty(context.Background()); err != nil {
			t.Fatal(err)
		}
		holders := []string{"a", "b", "c"}
		has := func(item string) func([]string) bool {
			return func(l []string) bool { return slices.Contains(l, item) && len(l) == 2 }
		}
		lacks := func(item string) func([]string) bool {
			return func(l []string) bool { return !slices.Contains(l, item) && len(l) == 2 }
		}
		eventually(t, st, "before any record", holders, has("x"))

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = rs.Run(ctx) }()
		defer func() { cancel(); <-done }()

		setCatalogue(t, st, 0, &event.Item{ID: "x", Status: event.Hidden}, "x")
		eventually(t, st, "x hidden", holders, lacks("x"))
		setCatalogue(t, st, 1, nil, "x") // a tombstone: available again
		eventually(t, st, "x un-hidden", holders, has("x"))

		launch := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
		setCatalogue(t, st, 2, &event.Item{ID: "x", Status: event.Available, From: launch}, "x")
		eventually(t, st, "x not launched yet", holders, lacks("x"))
		if time.Now().Before(launch) {
			for _, h := range holders {
				if l := boughtWith(t, st, h); slices.Contains(l, "x") {
					t.Fatalf("x in %s's list %v before its launch", h, l)
				}
			}
		}
		eventually(t, st, "x launched", holders, has("x"))
	})
}
