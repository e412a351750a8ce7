package recommend

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

func TestOwnedLimitMax(t *testing.T) {
	tests := []struct {
		limit OwnedLimit
		k     int
		want  int
	}{
		{OwnedLimit{}, 6, 6},           // the zero value caps nothing
		{OwnedLimit{Share: 0.5}, 6, 6}, // a share without Capped is no cap
		{NoOwned, 6, 0},
		{OwnedShare(1), 6, 6},
		{OwnedShare(0.5), 6, 3},
		{OwnedShare(0.5), 5, 2}, // floor: the share is never exceeded
		{OwnedShare(0.34), 3, 1},
		{OwnedShare(0.33), 3, 0},
		{OwnedShare(0.29), 100, 29}, // 0.29 x 100 is 28.999999999999996 in floats
		{OwnedShare(0.7), 10, 7},
		{OwnedShare(-1), 6, 0}, // out of range: clamped to [0, 1]
		{OwnedShare(2), 6, 6},
		{OwnedShare(0.5), 0, 0},
	}
	for _, tc := range tests {
		if got := tc.limit.Max(tc.k); got != tc.want {
			t.Errorf("%+v.Max(%d) = %d, want %d", tc.limit, tc.k, got, tc.want)
		}
	}
}

// TestMergeMarksOwnedItems: every owned item says so, and its reason is
// buy_again unless a list's single contribution reaches ln StatedLift.
func TestMergeMarksOwnedItems(t *testing.T) {
	owned := map[string]bool{"tea": true, "cups": true, "jam": true, "pot": true}
	// Lifts 1.77 and 23.3 (LiftPriorBought), tempered by the two purchases'
	// weight, 1 + 0.85^5: 0.83 x ln 23.3 > ln 10.
	weak, strong := rel("tea", 2, 1), rel("cups", 30, 1)
	sources := []Source{
		{Item: "milk", Bought: true, Rank: 0, AlsoBought: []scoring.Related{weak, strong, rel("bread", 3, 1)}},
		// jam's lift is 23.3 too, but from a source of rank 5: 0.85^5 x 0.83 x ln 23.3 < ln 10.
		{Item: "scone", Bought: true, Rank: 5, AlsoBought: []scoring.Related{rel("jam", 30, 1)}},
		// pot is owned, on a viewed list, lift exactly StatedLift: stated.
		{Item: "kettle", Rank: 0, AlsoViewed: []scoring.Related{{Item: "pot", Score: 1, Support: 10, Expected: 1 - 0.9*LiftPrior}}},
	}
	// Every owned item is a popular one, so it has a repeat prior.
	prior := Prior{Popular: []scoring.Popular{{Item: "tea", Count: 1}, {Item: "cups", Count: 1}, {Item: "jam", Count: 1}, {Item: "pot", Count: 1}},
		Total: 4, Distinct: 4, RepeatShare: 0.5}
	got := Merge(sources, Request{K: 10, Owned: owned, Prior: prior, Rebuy: boughtOnce(owned)})
	want := map[string]string{
		"cups":  "bought milk owned",
		"pot":   "viewed kettle owned",
		"jam":   "buy_again  owned",
		"tea":   "buy_again  owned",
		"bread": "bought milk new",
	}
	labels := map[string]string{}
	for _, r := range got {
		o := "new"
		if r.Owned {
			o = "owned"
		}
		labels[r.Item] = string(r.Reason) + " " + r.Source + " " + o
	}
	if !reflect.DeepEqual(labels, want) {
		t.Errorf("labels %v\nwant %v", labels, want)
	}
	if l := lift(10, 1-0.9*LiftPrior); math.Abs(l-StatedLift) > 1e-9 {
		t.Fatalf("pot's lift is %v, the test wants exactly %v", l, StatedLift)
	}
}

// TestMergeCapsOwnedItems: the cap on owned items is applied when the top
// k is chosen; the best other items take the slots owned ones may not.
func TestMergeCapsOwnedItems(t *testing.T) {
	// r = 0.9: the owned staples lead; new items follow by count.
	prior := Prior{Popular: []scoring.Popular{
		{Item: "milk", Count: 50}, {Item: "bread", Count: 40}, {Item: "eggs", Count: 30},
		{Item: "water", Count: 20}, {Item: "salt", Count: 10}, {Item: "tea", Count: 5},
	}, Total: 155, Distinct: 6, RepeatShare: 0.9}
	owned := map[string]bool{"milk": true, "bread": true, "eggs": true}
	tests := []struct {
		name  string
		limit OwnedLimit
		k     int
		want  []string
	}{
		{"no cap: the staples first", OwnedLimit{}, 4, []string{"milk", "bread", "eggs", "water"}},
		{"share 1 is no cap", OwnedShare(1), 4, []string{"milk", "bread", "eggs", "water"}},
		{"half of 4 slots: the two best staples", OwnedShare(0.5), 4, []string{"milk", "bread", "water", "salt"}},
		{"half of 5 slots is 2 (floor)", OwnedShare(0.5), 5, []string{"milk", "bread", "water", "salt", "tea"}},
		{"none: discover something new", NoOwned, 4, []string{"water", "salt", "tea"}},
		{"a cap above what is owned changes nothing", OwnedShare(0.9), 4, []string{"milk", "bread", "eggs", "water"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(nil, Request{K: tc.k, Owned: owned, Prior: prior, BuyAgain: tc.limit, Rebuy: boughtOnce(owned)})
			var items []string
			ownedN := 0
			for i, r := range got {
				items = append(items, r.Item)
				if r.Owned != owned[r.Item] {
					t.Errorf("%s: owned %v", r.Item, r.Owned)
				}
				if r.Owned {
					ownedN++
				}
				if i > 0 && better(r, got[i-1]) {
					t.Errorf("not best first: %+v before %+v", got[i-1], r)
				}
			}
			if !reflect.DeepEqual(items, tc.want) {
				t.Errorf("items %v, want %v", items, tc.want)
			}
			if ownedN > tc.limit.Max(tc.k) {
				t.Errorf("%d owned items, the cap is %d", ownedN, tc.limit.Max(tc.k))
			}
		})
	}
}

// TestMergeNeverReturnsHiddenOwnedItems: what Allow rejects (the category
// filter, the catalogue) does not come back through buy-again, however
// strong its repeat prior or its lists.
func TestMergeNeverReturnsHiddenOwnedItems(t *testing.T) {
	prior := Prior{Popular: []scoring.Popular{{Item: "milk", Count: 50}, {Item: "water", Count: 20}}, Total: 70, Distinct: 2, RepeatShare: 0.99}
	sources := []Source{{Item: "bread", Bought: true, AlsoBought: []scoring.Related{rel("milk", 50, 0.1)}}}
	owned := map[string]bool{"milk": true, "bread": true}
	got := Merge(sources, Request{K: 5, Owned: owned, Prior: prior, Rebuy: boughtOnce(owned),
		Allow: func(it string) bool { return it != "milk" }})
	for _, r := range got {
		if r.Item == "milk" {
			t.Fatalf("hidden owned milk recommended: %+v", got)
		}
	}
}

// TestRecommenderBuyAgainSettings: the configured cap applies to every
// answer, a request's own cap replaces it, and an owned item the catalogue
// hides never comes back.
func TestRecommenderBuyAgainSettings(t *testing.T) {
	st := repeating{shop(), store.Repeats{Purchases: 10, Repeats: 5}}
	// A window of 200 purchases over 100 items: not thin, the prior adds one.
	st.popular[""] = store.PopularList{Items: []scoring.Popular{{Item: "milk", Count: 9}, {Item: "cheese", Count: 8}, {Item: "water", Count: 5}},
		Total: 200, Distinct: 100}
	ask := Ask{Customer: "ann", K: 3}
	items := func(cfg Config, a Ask) []string {
		t.Helper()
		ans, err := New(cfg, Store{Customers: st, Lists: st, Categories: st}).Recommend(context.Background(), a)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range ans.Items {
			s := r.Item
			if r.Owned {
				s += "(owned)"
			}
			out = append(out, s)
		}
		return out
	}
	// milk, the owned staple, leads without a cap; with one, the best
	// other items take its slot.
	withMilk := []string{"milk(owned)", "cheese", "water"}
	withoutMilk := []string{"cheese", "water", "remote"}
	if got := items(Config{}, ask); !reflect.DeepEqual(got, withMilk) {
		t.Errorf("no cap: %v, want %v", got, withMilk)
	}
	if got := items(Config{BuyAgain: NoOwned}, ask); !reflect.DeepEqual(got, withoutMilk) {
		t.Errorf("configured NoOwned: %v, want %v", got, withoutMilk)
	}
	ask.BuyAgain = OwnedShare(1)
	if got := items(Config{BuyAgain: NoOwned}, ask); !reflect.DeepEqual(got, withMilk) {
		t.Errorf("a request's share 1 over a configured NoOwned: %v, want %v", got, withMilk)
	}
	ask.BuyAgain = OwnedLimit{}
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	hide := Config{Catalogue: shelf{hidden: map[string]bool{"milk": true}}, Now: func() time.Time { return now }}
	if got := items(hide, ask); !reflect.DeepEqual(got, withoutMilk) {
		t.Errorf("owned milk hidden by the catalogue: %v, want %v", got, withoutMilk)
	}
}

// repeating is a memStore whose customers buy again: its lists come with
// the repeat counters.
type repeating struct {
	*memStore
	repeats store.Repeats
}

func (m repeating) ReadMany(ctx context.Context, want []store.ListRef, popular *store.PopularRef, rebuy []string) (store.Gathered, error) {
	g, err := m.memStore.ReadMany(ctx, want, popular, rebuy)
	g.Repeats = m.repeats
	return g, err
}

// TestKeptItemsAreOwnedToo: with KeepOwned the purchase history competes
// like new items, but the answer still says they are owned, and the cap
// counts them.
func TestKeptItemsAreOwnedToo(t *testing.T) {
	p := NewPlan(Query{HistoryBought: []string{"milk"}, KeepOwned: true})
	if len(p.Owned) != 0 || !reflect.DeepEqual(p.Kept, map[string]bool{"milk": true}) {
		t.Fatalf("KeepOwned plan: owned %v, kept %v; want none owned, milk kept", p.Owned, p.Kept)
	}
	prior := Prior{Popular: []scoring.Popular{{Item: "milk", Count: 9}, {Item: "water", Count: 5}}, Total: 14, Distinct: 2}
	got := Merge(nil, p.Request(2, prior))
	if len(got) != 2 || got[0].Item != "milk" || !got[0].Owned || got[0].Reason != BuyAgain || got[1].Owned {
		t.Errorf("kept milk, the best-seller: %+v; want it first, owned, buy_again", got)
	}
	req := p.Request(2, prior)
	req.BuyAgain = NoOwned
	if got := Merge(nil, req); len(got) != 1 || got[0].Item != "water" {
		t.Errorf("kept milk with NoOwned: %+v; want water alone", got)
	}
}

// boughtOnce is the repeat model's view of owned items bought once each,
// items without statistics yet (they repeat like the catalogue).
func boughtOnce(owned map[string]bool) map[string]OwnedItem {
	out := make(map[string]OwnedItem, len(owned))
	for item := range owned {
		out[item] = OwnedItem{Count: 1}
	}
	return out
}

// TestRecommenderOwnedItemsInACategory: an owned item the repeat model
// brings back keeps to the category asked for, like every candidate; and
// where the category has no popularity list (no anchor), the repeat
// model's clock is the customer's latest purchase, not the zero time.
func TestRecommenderOwnedItemsInACategory(t *testing.T) {
	last := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	st := repeating{shop(), store.Repeats{Purchases: 10, Repeats: 5}}
	st.customers["ann"] = store.Customer{Purchases: delta.History{Items: []string{"soap", "milk"},
		Times: []int64{last.Add(-time.Hour).UnixMilli(), last.UnixMilli()}, Seqs: []int64{1, 2}, Counts: []int64{2, 3}}}
	st.categories["milk"], st.categories["soap"] = "dairy", "home"
	items := func(category string) []string {
		t.Helper()
		ans, err := New(Config{}, Store{Customers: st, Lists: st, Categories: st}).Recommend(context.Background(),
			Ask{Customer: "ann", K: 5, Category: category})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range ans.Items {
			out = append(out, r.Item)
		}
		return out
	}
	// dairy has no popularity list: milk comes back, soap (home) does not.
	if got := items("dairy"); !slices.Contains(got, "milk") || slices.Contains(got, "soap") {
		t.Errorf("dairy: %v, want milk and never soap", got)
	}
	if got := items("home"); !slices.Contains(got, "soap") || slices.Contains(got, "milk") {
		t.Errorf("home: %v, want soap and never milk", got)
	}
	r := New(Config{}, Store{Customers: st, Lists: st, Categories: st})
	plan, err := r.plan(context.Background(), Ask{Customer: "ann", K: 5})
	if err != nil {
		t.Fatal(err)
	}
	_, req, err := r.merging(context.Background(), plan, 5, "dairy", OwnedLimit{})
	if err != nil {
		t.Fatal(err)
	}
	if !req.Now.Equal(last) {
		t.Errorf("without a popularity list the clock is %v, want the latest purchase %v", req.Now, last)
	}
}
