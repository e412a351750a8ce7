package recommend

import (
	"reflect"
	"testing"

	"github.com/alsobought/alsobought/scoring"
)

func list(items ...string) []scoring.Related {
	out := make([]scoring.Related, len(items))
	for i, it := range items {
		out[i] = scoring.Related{Item: it, Score: float64(len(items) - i), Support: 2}
	}
	return out
}

func TestMerge(t *testing.T) {
	popular := []scoring.Popular{{Item: "water", Count: 90}, {Item: "bread", Count: 80}, {Item: "salt", Count: 10}}
	tests := []struct {
		name    string
		sources []Source
		req     Request
		want    []Recommendation
	}{
		{
			name: "nothing known: popular items, marked as such",
			req:  Request{K: 2, Popular: popular},
			want: []Recommendation{{Item: "water", Reason: Popular}, {Item: "bread", Reason: Popular}},
		},
		{
			name:    "a purchase's list first, the owned item left out, then popular back-fill",
			sources: []Source{{Item: "milk", Bought: true, AlsoBought: list("bread", "eggs")}},
			req:     Request{K: 4, Exclude: map[string]bool{"milk": true}, Popular: popular},
			want: []Recommendation{
				{Item: "bread", Score: 1, Reason: BecauseBought, Source: "milk"},
				{Item: "eggs", Score: 0.5, Reason: BecauseBought, Source: "milk"},
				{Item: "water", Reason: Popular},
				{Item: "salt", Reason: Popular},
			},
		},
		{
			name: "recent sources weigh more; the reason is the strongest contribution",
			sources: []Source{
				{Item: "tea", Bought: true, Rank: 0, AlsoBought: list("cups")},
				{Item: "milk", Bought: true, Rank: 1, AlsoBought: list("cups", "bread")},
			},
			req: Request{K: 2},
			want: []Recommendation{
				{Item: "cups", Score: 1 + RecencyDecay, Reason: BecauseBought, Source: "tea"},
				{Item: "bread", Score: RecencyDecay * 0.5, Reason: BecauseBought, Source: "milk"},
			},
		},
		{
			name:    "a view contributes its viewed-then-bought and also-viewed lists, weighted lower",
			sources: []Source{{Item: "tv", ViewedBought: list("hdmi"), AlsoViewed: list("tv2", "hdmi")}},
			req:     Request{K: 3},
			want: []Recommendation{
				{Item: "hdmi", Score: weightViewedBought + weightViewed*0.5, Reason: BecauseViewed, Source: "tv"},
				{Item: "tv2", Score: weightViewed, Reason: BecauseViewed, Source: "tv"},
			},
		},
		{
			name:    "excluded items and a filter apply to lists and back-fill",
			sources: []Source{{Item: "milk", Bought: true, AlsoBought: list("bread", "eggs", "jam")}},
			req: Request{K: 3, Exclude: map[string]bool{"eggs": true}, Popular: popular,
				Allow: func(it string) bool { return it != "water" }},
			want: []Recommendation{
				{Item: "bread", Score: 1, Reason: BecauseBought, Source: "milk"},
				{Item: "jam", Score: 1.0 / 3, Reason: BecauseBought, Source: "milk"},
				{Item: "salt", Reason: Popular},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(tc.sources, tc.req)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
