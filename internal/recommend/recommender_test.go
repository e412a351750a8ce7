package recommend

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// memStore is a state in memory; it counts the list reads.
type memStore struct {
	customers  map[string]store.Customer
	lists      map[store.ListRef][]scoring.Related
	popular    map[string]store.PopularList // by category
	categories map[string]string
	rebuy      map[string]store.Rebuy
	listReads  int
}

func (m *memStore) Load(_ context.Context, ids []string) (map[string]store.Customer, error) {
	out := map[string]store.Customer{}
	for _, id := range ids {
		if c, ok := m.customers[id]; ok {
			out[id] = c
		}
	}
	return out, nil
}

func (m *memStore) ReadMany(_ context.Context, want []store.ListRef, popular *store.PopularRef, rebuy []string) (store.Gathered, error) {
	m.listReads++
	out := store.Gathered{Related: make([][]scoring.Related, len(want))}
	for _, it := range rebuy {
		out.Rebuy = append(out.Rebuy, m.rebuy[it])
	}
	for i, w := range want {
		out.Related[i] = m.lists[w]
	}
	if popular != nil {
		if pl, ok := m.popular[popular.Category]; ok {
			out.Popular = &pl
		}
	}
	return out, nil
}

func (m *memStore) ItemCategories(_ context.Context, items []string) ([]string, error) {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = m.categories[it]
	}
	return out, nil
}

// parts gives a Recommender the memory store as every part of its store.
func (m *memStore) parts() Store { return Store{Customers: m, Lists: m, Categories: m} }

func shop() *memStore {
	return &memStore{
		customers: map[string]store.Customer{"ann": {
			Purchases: delta.History{Items: []string{"milk"}},
			Views:     delta.History{Items: []string{"tv"}},
		}},
		lists: map[store.ListRef][]scoring.Related{
			{Kind: store.Bought, Item: "milk"}:       {rel("cheese", 5, 1)},
			{Kind: store.ViewedBought, Item: "tv"}:   {rel("remote", 6, 1)},
			{Kind: store.Viewed, Item: "tv"}:         {rel("radio", 4, 1)},
			{Kind: store.Bought, Item: "basket-jam"}: {rel("bread", 3, 1)},
		},
		popular: map[string]store.PopularList{
			"":     {Items: []scoring.Popular{{Item: "water", Count: 9}}, Total: 20, Distinct: 5},
			"tech": {Items: []scoring.Popular{{Item: "cable", Count: 2}}, Total: 3, Distinct: 2},
		},
		categories: map[string]string{"cheese": "dairy", "remote": "tech", "radio": "tech", "water": "drinks"},
	}
}

func reasons(recs []Recommendation) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		out[r.Item] = string(r.Reason) + " " + r.Source
	}
	return out
}

// TestRecommenderReadsEachListForItsSource: a customer's purchases and
// views, and a request's context, each bring their own lists, read in one
// round trip, and each recommendation names the source behind it.
func TestRecommenderReadsEachListForItsSource(t *testing.T) {
	st := shop()
	ans, err := New(Config{}, st.parts()).Recommend(context.Background(), Ask{Customer: "ann", ContextBought: []string{"basket-jam"}, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cheese": "bought milk", "bread": "bought basket-jam",
		"remote": "viewed tv", "radio": "viewed tv", "water": "popular ",
	}
	if got := reasons(ans.Items); !reflect.DeepEqual(got, want) {
		t.Errorf("recommendations %v, want %v", got, want)
	}
	if !ans.Known || st.listReads != 1 {
		t.Errorf("known %v after %d list reads; want known after one", ans.Known, st.listReads)
	}
}

// TestRecommenderKeepsACategory: with a category, only its items come
// back, and its popularity list back-fills.
func TestRecommenderKeepsACategory(t *testing.T) {
	ans, err := New(Config{}, shop().parts()).Recommend(context.Background(), Ask{Customer: "ann", Category: "tech", K: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"remote": "viewed tv", "radio": "viewed tv", "cable": "popular "}
	if got := reasons(ans.Items); !reflect.DeepEqual(got, want) {
		t.Errorf("recommendations %v, want %v (the tech items, and the category's popular list)", got, want)
	}
}

// TestRecommenderWithoutAnythingKnown: an unknown customer without context
// gets the popular items, and the answer says nothing was known.
func TestRecommenderWithoutAnythingKnown(t *testing.T) {
	ans, err := New(Config{}, shop().parts()).Recommend(context.Background(), Ask{Customer: "bob", K: 3})
	if err != nil {
		t.Fatal(err)
	}
	if ans.Known || !reflect.DeepEqual(reasons(ans.Items), map[string]string{"water": "popular "}) {
		t.Errorf("known %v, items %v; want unknown, the popular water", ans.Known, ans.Items)
	}
}

// shelf is a catalogue in memory: items hidden, items with an end of
// availability, and categories it gives.
type shelf struct {
	hidden     map[string]bool
	until      map[string]time.Time
	categories map[string]string
}

func (s shelf) Visible(item string, now time.Time) bool {
	u, ok := s.until[item]
	return !s.hidden[item] && (!ok || now.Before(u))
}
func (s shelf) Category(item string) string { return s.categories[item] }

// TestRecommenderAsksTheCatalogue: what the catalogue hides is never
// served, even when a stored list or the popularity list still holds it
// (a window that closed since it was written); the catalogue's category
// wins over the events'.
func TestRecommenderAsksTheCatalogue(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	cat := shelf{hidden: map[string]bool{"cheese": true}, until: map[string]time.Time{"water": now, "radio": now.Add(time.Second)},
		categories: map[string]string{"remote": "dairy"}}
	r := New(Config{Catalogue: cat, Now: func() time.Time { return now }}, shop().parts())
	ans, err := r.Recommend(context.Background(), Ask{Customer: "ann", ContextBought: []string{"basket-jam"}, K: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bread": "bought basket-jam", "remote": "viewed tv", "radio": "viewed tv"}
	if got := reasons(ans.Items); !reflect.DeepEqual(got, want) {
		t.Errorf("recommendations %v, want %v (no hidden cheese, no water past its end)", got, want)
	}
	ans, err = r.Recommend(context.Background(), Ask{Customer: "ann", Category: "tech", K: 10})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"radio": "viewed tv", "cable": "popular "}
	if got := reasons(ans.Items); !reflect.DeepEqual(got, want) {
		t.Errorf("tech recommendations %v, want %v (remote is dairy in the catalogue)", got, want)
	}
}

// TestRecommenderPassesTheOwnedItems: the request Merge gets carries, for
// each owned item, the customer's count and last purchase time from the
// stored history (as Recommend reads it) and the item's purchase statistics, read with the lists
// in the same round trip, and the popularity anchor as its clock; whether
// or not owned items compete as new.
func TestRecommenderPassesTheOwnedItems(t *testing.T) {
	anchor := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	last := anchor.Add(-72 * time.Hour)
	st := shop()
	st.customers["ann"] = store.Customer{Purchases: delta.History{Items: []string{"soap", "milk"},
		Times: []int64{last.Add(-time.Hour).UnixMilli(), last.UnixMilli()}, Seqs: []int64{1, 2}, Counts: []int64{1, 4}}}
	pop := st.popular[""]
	pop.Anchor = anchor
	st.popular[""] = pop
	milk := store.Rebuy{Purchases: 40}
	milk.Gaps[3] = 12
	st.rebuy = map[string]store.Rebuy{"milk": milk}
	for _, keep := range []bool{false, true} {
		r := New(Config{KeepOwned: keep}, st.parts())
		plan, err := r.plan(context.Background(), Ask{Customer: "ann", K: 5})
		if err != nil {
			t.Fatal(err)
		}
		st.listReads = 0
		_, req, err := r.merging(context.Background(), plan, 5, "")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]OwnedItem{
			"milk": {Count: 4, Last: last, Stats: milk},
			"soap": {Count: 1, Last: last.Add(-time.Hour)},
		}
		if !reflect.DeepEqual(req.Rebuy, want) || !req.Now.Equal(anchor) || st.listReads != 1 {
			t.Errorf("keep owned %v: rebuy %+v now %v after %d reads; want %+v now %v after one", keep, req.Rebuy, req.Now, st.listReads, want, anchor)
		}
	}
}
