package recommend

import (
	"math"
	"reflect"
	"testing"

	"github.com/alsobought/alsobought/scoring"
)

// rel is a list entry with n co-buyers where e were expected by chance.
func rel(item string, n int64, e float64) scoring.Related {
	return scoring.Related{Item: item, Score: float64(n) - e, Support: n, Expected: e}
}

// lift is an entry's likelihood ratio.
func lift(n int64, e float64) float64 { return (float64(n) + LiftPrior) / (e + LiftPrior) }

// liftBought is the likelihood ratio of an entry of a purchase's list.
func liftBought(n int64, e float64) float64 {
	return (float64(n) + LiftPriorBought) / (e + LiftPriorBought)
}

func TestMerge(t *testing.T) {
	// 200 purchases in the window over 100 items (so the prior adds one to
	// each: Smoothing); 180 of them of the listed three.
	prior := Prior{Popular: []scoring.Popular{{Item: "water", Count: 90}, {Item: "bread", Count: 80}, {Item: "salt", Count: 10}},
		Total: 200, Distinct: 100}
	withRepeats := func(r float64) Prior { p := prior; p.RepeatShare = r; return p }
	// Without repeats a new item's prior is (count + 1) / (purchases + distinct items).
	const newN = 200 + 100
	tests := []struct {
		name    string
		sources []Source
		req     Request
		want    []Recommendation
	}{
		{
			name: "nothing known: the best sellers by count",
			req:  Request{K: 2, Prior: prior},
			want: []Recommendation{{Item: "water", Score: 91.0 / newN, Reason: Popular}, {Item: "bread", Score: 81.0 / newN, Reason: Popular}},
		},
		{
			name: "where nobody buys again, owned items never come back",
			req:  Request{K: 2, Owned: map[string]bool{"water": true}, Prior: prior},
			want: []Recommendation{
				{Item: "bread", Score: 81.0 / (110 + 100), Reason: Popular},
				{Item: "salt", Score: 11.0 / (110 + 100), Reason: Popular},
			},
		},
		{
			// r = 0.5, the customer bought bread twice and caviar once, and
			// neither item has statistics yet (each repeats like the catalogue:
			// rho = 0.5). q_c = (1 + 10 x 0.5) / (3 + 10) = 6/13, spread by
			// count x rho x sqrt(recent purchases + 1): bread 2 x 0.5 x 9 = 9,
			// caviar 1 x 0.5 x 1 = 0.5. A new item is water with 7/13 x 91 /
			// (120 other purchases + 100).
			name: "where customers buy again, owned staples come back first, best-sellers or not",
			req: Request{K: 4, Owned: map[string]bool{"bread": true, "caviar": true}, Prior: withRepeats(0.5),
				Rebuy: map[string]OwnedItem{"bread": {Count: 2}, "caviar": {Count: 1}}},
			want: []Recommendation{
				{Item: "bread", Score: 6.0 / 13 * 9 / 9.5, Reason: BuyAgain, Owned: true},
				{Item: "water", Score: 7.0 / 13 * 91 / 220, Reason: Popular},
				{Item: "salt", Score: 7.0 / 13 * 11 / 220, Reason: Popular},
				{Item: "caviar", Score: 6.0 / 13 * 0.5 / 9.5, Reason: BuyAgain, Owned: true},
			},
		},
		{
			name:    "a list entry multiplies the prior by its lift; weak and unexpected-less entries add nothing",
			sources: []Source{{Item: "milk", Bought: true, AlsoBought: []scoring.Related{rel("salt", 4, 0.97), rel("eggs", 2, 1.97), rel("jam", 1, 2), {Item: "tea", Score: 9, Support: 9}}}},
			req:     Request{K: 5, Owned: map[string]bool{"milk": true}, Prior: prior},
			want: []Recommendation{
				{Item: "water", Score: 91.0 / newN, Reason: Popular},
				{Item: "bread", Score: 81.0 / newN, Reason: Popular},
				{Item: "salt", Score: 11.0 / newN * liftBought(4, 0.97), Reason: BecauseBought, Source: "milk"},
				{Item: "eggs", Score: 1.0 / newN * liftBought(2, 1.97), Reason: BecauseBought, Source: "milk"},
			},
		},
		{
			// Two purchases of recency weight 1 + 0.85: their evidence is
			// tempered by 1/sqrt(1.85) (purchaseTemper).
			name: "evidence adds up over sources, older ones weigh less, purchases tempered; the reason is the strongest",
			sources: []Source{
				{Item: "tea", Bought: true, Rank: 0, AlsoBought: []scoring.Related{rel("cups", 3, 0.5)}},
				{Item: "milk", Bought: true, Rank: 1, AlsoBought: []scoring.Related{rel("cups", 9, 0.5), rel("tea", 9, 0.5)}},
			},
			req: Request{K: 1, Owned: map[string]bool{"tea": true, "milk": true}},
			want: []Recommendation{{Item: "cups", Score: math.Pow(liftBought(3, 0.5)*math.Pow(liftBought(9, 0.5), RecencyDecay), 1/math.Sqrt(1+RecencyDecay)),
				Reason: BecauseBought, Source: "milk"}},
		},
		{
			name:    "a view contributes its viewed-then-bought and also-viewed lists",
			sources: []Source{{Item: "tv", ViewedBought: []scoring.Related{rel("hdmi", 2, 0.1)}, AlsoViewed: []scoring.Related{rel("tv2", 5, 1), rel("hdmi", 3, 1)}}},
			req:     Request{K: 2, Exclude: map[string]bool{"tv": true}},
			want: []Recommendation{
				{Item: "hdmi", Score: lift(2, 0.1) * lift(3, 1), Reason: BecauseViewed, Source: "tv"},
				{Item: "tv2", Score: lift(5, 1), Reason: BecauseViewed, Source: "tv"},
			},
		},
		{
			name:    "excluded items and a filter apply to lists and popular items",
			sources: []Source{{Item: "milk", Bought: true, AlsoBought: []scoring.Related{rel("eggs", 5, 1), rel("jam", 5, 1)}}},
			req: Request{K: 3, Exclude: map[string]bool{"eggs": true}, Prior: prior,
				Allow: func(it string) bool { return it != "water" }},
			want: []Recommendation{
				{Item: "bread", Score: 81.0 / newN, Reason: Popular},
				{Item: "salt", Score: 11.0 / newN, Reason: Popular},
				{Item: "jam", Score: 1.0 / newN * liftBought(5, 1), Reason: BecauseBought, Source: "milk"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(tc.sources, tc.req)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d items %+v\nwant %+v", len(got), got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Item != w.Item || g.Reason != w.Reason || g.Source != w.Source || math.Abs(g.Score-w.Score) > 1e-12*w.Score {
					t.Fatalf("item %d: got %+v, want %+v\nall: %+v", i, g, w, got)
				}
			}
		})
	}
}

func TestByScore(t *testing.T) {
	list := func(items ...string) []scoring.Related {
		out := make([]scoring.Related, len(items))
		for i, it := range items {
			out[i] = scoring.Related{Item: it, Score: float64(len(items) - i), Support: 2}
		}
		return out
	}
	lists := []SourceList{
		{Source: "tea", Rank: 0, List: list("cups")},
		{Source: "milk", Rank: 1, List: list("cups", "bread", "tea", "milk")},
	}
	got := ByScore(lists, 3, func(it string) bool { return it == "tea" })
	if want := []string{"cups", "bread"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ByScore = %v, want %v (cups 1 + %v, bread %v; tea excluded, milk is the source)", got, want, RecencyDecay, RecencyDecay*3/4)
	}
}

func TestNewPlan(t *testing.T) {
	q := Query{HistoryBought: []string{"old", "milk"}, HistoryViewed: []string{"tv"},
		ContextBought: []string{"basket"}, ContextViewed: []string{"page"}, Exclude: []string{"nope"}}
	p := NewPlan(q)
	if want := []string{"basket", "milk", "old"}; !reflect.DeepEqual(p.Bought, want) {
		t.Errorf("bought sources %v, want %v (context first, then history most recent first)", p.Bought, want)
	}
	if want := []string{"page", "tv"}; !reflect.DeepEqual(p.Viewed, want) {
		t.Errorf("viewed sources %v, want %v", p.Viewed, want)
	}
	if want := map[string]bool{"basket": true, "page": true, "nope": true}; !reflect.DeepEqual(p.Exclude, want) {
		t.Errorf("excluded %v, want the context items and the caller's exclusions %v", p.Exclude, want)
	}
	if want := map[string]bool{"old": true, "milk": true}; !reflect.DeepEqual(p.Owned, want) {
		t.Errorf("owned %v, want the purchase history %v", p.Owned, want)
	}
	q.Ever.Add("older", 1)
	p = NewPlan(q)
	for it, want := range map[string]bool{"old": true, "older": true, "basket": false, "tv": false} {
		if p.Owns(it) != want {
			t.Errorf("Owns(%s) = %v, want %v (the purchase history and the ever-bought set)", it, !want, want)
		}
	}
	if r := p.Request(3, Prior{}); !r.EverBought.Contains("older") || r.Owned["older"] {
		t.Errorf("the request does not carry the ever-bought set apart from the owned items")
	}
	q.KeepOwned = true
	if p := NewPlan(q); len(p.Owned) != 0 || !p.Known || p.Owns("older") {
		t.Errorf("KeepOwned: owned %v, known %v, owns older %v; want none owned, known", p.Owned, p.Known, p.Owns("older"))
	}
	if p := NewPlan(Query{}); p.Known {
		t.Error("an empty query is known")
	}
}
