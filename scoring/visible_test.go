package scoring

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestVisibleListIsTheFilteredRanking: a list over the visible candidates is
// the full ranking with the invisible ones struck out, cut at K, so a list
// that loses an item is filled from its next candidates; the passed-over
// items are exactly the invisible ones that rank before the cut (all of
// them when the list is shorter than K), and none is passed over when
// every item is visible.
func TestVisibleListIsTheFilteredRanking(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	row, g := benchRow(rng, 400, 40, false)
	for _, m := range Methods() {
		full := RelatedList(m, row, g, ListRules{Size: len(row.Candidates), MinSupport: 2})
		for _, hiddenShare := range []float64{0, 0.1, 0.5, 1} {
			hidden := map[string]bool{}
			for _, c := range row.Candidates {
				if rng.Float64() < hiddenShare {
					hidden[c.Item] = true
				}
			}
			visible := func(item string) bool { return !hidden[item] }
			for _, k := range []int{1, 6, 20, len(full) + 3} {
				rules := ListRules{Size: k, MinSupport: 2}
				got, over := RelatedListVisible(m, row, g, rules, visible)
				var want []Related
				var wantOver []string
				for _, r := range full {
					if len(want) == k {
						break
					}
					if hidden[r.Item] {
						wantOver = append(wantOver, r.Item)
						continue
					}
					want = append(want, r)
				}
				if len(want) < k { // a short list: every hidden candidate would be listed
					wantOver = wantOver[:0]
					for _, r := range full {
						if hidden[r.Item] {
							wantOver = append(wantOver, r.Item)
						}
					}
				}
				slices.Sort(wantOver)
				if want == nil {
					want = []Related{}
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s K=%d hidden %.0f%%: list %v, want %v", m, k, 100*hiddenShare, items(got), items(want))
				}
				if !slices.Equal(over, wantOver) {
					t.Fatalf("%s K=%d hidden %.0f%%: passed over %v, want %v", m, k, 100*hiddenShare, over, wantOver)
				}
			}
		}
	}
}

func TestViewedBoughtVisibleList(t *testing.T) {
	row := Row{Item: "X", Candidates: []Candidate{{"a", 5, 10}, {"b", 4, 10}, {"c", 3, 10}, {"d", 2, 10}}}
	g := Globals{Total: 1000, Customers: 100}
	all := items(ViewedBoughtList(row, 20, g, ListRules{Size: 3, MinSupport: 1}))
	if !slices.Equal(all, []string{"a", "b", "c"}) {
		t.Fatalf("unfiltered %v", all)
	}
	got, over := ViewedBoughtListVisible(row, 20, g, ListRules{Size: 3, MinSupport: 1}, func(i string) bool { return i != "b" })
	if !slices.Equal(items(got), []string{"a", "c", "d"}) || !slices.Equal(over, []string{"b"}) {
		t.Fatalf("hiding b: list %v passed over %v; want [a c d] and [b]", items(got), over)
	}
}
