package rescore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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
				b.Purchase(&h, &delta.History{}, it, time.UnixMilli(offset), offset, delta.Retention{Purchases: 10, Views: 10})
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

// step is one step of an interleaving: a basket bought by a new customer,
// or a catalogue record (nil: a tombstone).
type step struct {
	basket []string
	item   string
	record *event.Item
}

// TestCatalogueAndEventsInAnyOrderEndAlike: purchases and catalogue records
// applied in any interleaving, with the re-scorer following (or not) in
// between, end in the same lists, popularity lists included, once the
// re-scorer has caught up; and those are the lists a full re-score of the
// final state computes. (The count scorer makes a list depend on its row
// alone, so a list the re-scorer rightly left alone is not stale.)
func TestCatalogueAndEventsInAnyOrderEndAlike(t *testing.T) {
	testenv.Integration(t, "Redis")
	rng := rand.New(rand.NewPCG(16, 17))
	items := make([]string, 12)
	for i := range items {
		items[i] = fmt.Sprintf("i%02d", i)
	}
	var steps []step
	for range 60 {
		basket := []string{}
		for _, it := range items {
			if rng.IntN(4) == 0 {
				basket = append(basket, it)
			}
		}
		steps = append(steps, step{basket: basket})
	}
	for i := range 20 {
		it := items[rng.IntN(len(items))]
		var rec *event.Item
		switch i % 3 {
		case 0:
			rec = &event.Item{ID: it, Status: event.Hidden}
		case 1:
			rec = &event.Item{ID: it, Status: event.Available, Category: "c" + it[len(it)-1:]}
		}
		steps = append(steps, step{item: it, record: rec})
	}
	// The catalogue records keep their relative order (a partition's
	// order); the events are placed anywhere among them.
	var catalogueSteps, eventSteps []step
	for _, s := range steps {
		if s.basket != nil {
			eventSteps = append(eventSteps, s)
		} else {
			catalogueSteps = append(catalogueSteps, s)
		}
	}
	orders := [][]step{append(slices.Clone(eventSteps), catalogueSteps...), append(slices.Clone(catalogueSteps), eventSteps...)}
	for range 3 {
		var mixed []step
		e, c := 0, 0
		for e < len(eventSteps) || c < len(catalogueSteps) {
			if c == len(catalogueSteps) || e < len(eventSteps) && rng.IntN(2) == 0 {
				mixed = append(mixed, eventSteps[e])
				e++
			} else {
				mixed = append(mixed, catalogueSteps[c])
				c++
			}
		}
		orders = append(orders, mixed)
	}

	var want *store.Snapshot
	for n, order := range orders {
		env := testenv.NewRedis(t)
		st := env.Store
		cfg := rescore.Config{Method: scoring.Count, Rules: scoring.ListRules{Size: 3, MinSupport: 1}}
		rs, err := rescore.New(cfg, rescore.StateOf(st), zerolog.Nop(), nil)
		if err != nil {
			t.Fatal(err)
		}
		catchUp := func() {
			t.Helper()
			ctx := context.Background()
			if err := rs.FollowCatalogue(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := rs.DrainDirty(ctx); err != nil {
				t.Fatal(err)
			}
			if err := rs.RescorePopular(ctx); err != nil {
				t.Fatal(err)
			}
		}
		offset, catOffset := int64(0), int64(0)
		for _, s := range order {
			if s.basket != nil {
				b := delta.NewBatch(0)
				var h delta.History
				for _, it := range s.basket {
					offset++
					b.Purchase(&h, &delta.History{}, it, time.UnixMilli(offset), offset, delta.Retention{Purchases: 10, Views: 10})
				}
				if err := st.Batches.Apply(context.Background(), b, nil, offset, -1); err != nil {
					t.Fatal(err)
				}
			} else {
				setCatalogue(t, st, catOffset, s.record, s.item)
				catOffset++
			}
			if rng.IntN(4) == 0 {
				catchUp()
			}
		}
		catchUp()
		got, err := st.State.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			want = got
			// The test means something only if an item bought with
			// others ends hidden.
			hiddenSold := false
			for it, rec := range got.Catalogue {
				hiddenSold = hiddenSold || rec.Status == event.Hidden && got.Bought.Buyers[it] > 0
			}
			if !hiddenSold {
				t.Fatalf("no item that sold ends hidden: catalogue %v", got.Catalogue)
			}
		} else if diff := listsDiff(want, got); diff != "" {
			t.Fatalf("interleaving %d ends elsewhere than the first: %s", n, diff)
		}
		if _, err := rs.RescoreAll(context.Background()); err != nil {
			t.Fatal(err)
		}
		full, err := st.State.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if diff := listsDiff(full, got); diff != "" {
			t.Fatalf("interleaving %d: the followed lists differ from a full re-score: %s", n, diff)
		}
	}
}

// listsDiff describes the first difference between the lists of two
// states (related lists of every kind, popularity lists), "" when none.
// Entries are compared by item, score and support: their E_XY (Expected)
// follows the totals, which a list keeps from when it was last written.
func listsDiff(a, b *store.Snapshot) string {
	entries := func(l []scoring.Related) []scoring.Related {
		out := slices.Clone(l)
		for i := range out {
			out[i].Expected = 0
		}
		return out
	}
	for _, kind := range store.ListKinds() {
		for x, l := range a.Lists[kind] {
			if d := scoring.EqualLists(entries(l.Items), entries(b.Lists[kind][x].Items), 0); d != "" {
				return fmt.Sprintf("%s list of %s: %s", kind, x, d)
			}
		}
		for x := range b.Lists[kind] {
			if _, ok := a.Lists[kind][x]; !ok {
				return fmt.Sprintf("%s list of %s only in the second", kind, x)
			}
		}
	}
	for kind, lists := range a.Popular {
		for cat, l := range lists {
			if !slices.Equal(l.Items, b.Popular[kind][cat].Items) {
				return fmt.Sprintf("popular %s list %q: %v vs %v", kind, cat, l.Items, b.Popular[kind][cat].Items)
			}
		}
		if len(lists) != len(b.Popular[kind]) {
			return fmt.Sprintf("popular %s lists: %d vs %d categories", kind, len(lists), len(b.Popular[kind]))
		}
	}
	return ""
}
