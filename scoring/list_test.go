package scoring

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func items(l []Related) []string {
	out := make([]string, len(l))
	for i, r := range l {
		out[i] = r.Item
	}
	return out
}

// TestRelatedListOrder: score desc, then Support desc, then item id
// ascending in byte order (upper case before lower case: "B" < "a" < "b").
func TestRelatedListOrder(t *testing.T) {
	rules := ListRules{Size: 20, MinSupport: 1}
	g := Globals{Total: 1000, Customers: 100}

	t.Run("cosine ties by support then id", func(t *testing.T) {
		// B_X = 4. Cosine = N/sqrt(4*B_Y), so:
		//   N=2, B_Y=4:  2/sqrt(16) = 0.5   (a, b, B)
		//   N=3, B_Y=9:  3/sqrt(36) = 0.5   (z)
		//   N=4, B_Y=16: 4/sqrt(64) = 0.5   (y)
		//   N=2, B_Y=2:  2/sqrt(8)  = 0.707 (top)
		//   N=1, B_Y=16: 1/sqrt(64) = 0.125 (last)
		// All 0.5 scores are exact, so equal bits. Support then decides,
		// then bytes: 'B' (0x42) < 'a' (0x61) < 'b' (0x62).
		row := Row{Item: "X", Buyers: 4, Candidates: []Candidate{
			{"b", 2, 4}, {"last", 1, 16}, {"a", 2, 4}, {"z", 3, 9}, {"B", 2, 4}, {"y", 4, 16}, {"top", 2, 2},
		}}
		got := items(RelatedList(Cosine, row, g, rules))
		want := []string{"top", "y", "z", "B", "a", "b", "last"}
		if !slices.Equal(got, want) {
			t.Errorf("order = %v, want %v", got, want)
		}
	})
	t.Run("amazon2017 equal counts give equal bits and id order", func(t *testing.T) {
		// T = 100,000; P_Y = 4e-5 for a, b, B; h_X = {1: 10, 7: 10, 250: 10}
		// E = 10*4e-5 + 10*(1-(1-4e-5)^7) + 10*(1-(1-4e-5)^250) = 0.1027
		// S = (3 - 0.1027)/sqrt(0.1027) = 9.04; "other" has B_Y = 5, so E is
		// higher and S lower.
		g := Globals{Total: 100_000, Customers: 1000}
		row := Row{Item: "X", Buyers: 30, Hist: []HistBin{{7, 10}, {1, 10}, {250, 10}}, Candidates: []Candidate{
			{"b", 3, 4}, {"a", 3, 4}, {"B", 3, 4}, {"other", 3, 5},
		}}
		got := RelatedList(Amazon2017, row, g, rules)
		if !slices.Equal(items(got), []string{"B", "a", "b", "other"}) {
			t.Fatalf("order = %v, want B a b other", items(got))
		}
		if got[0].Score != got[1].Score || got[1].Score != got[2].Score {
			t.Errorf("equal counts, unequal scores: %v", got)
		}
	})
}

func TestRelatedListRules(t *testing.T) {
	g := Globals{Total: 1000, Customers: 100}
	// Count scores make the filters easy to see: score = support.
	row := Row{Item: "X", Buyers: 10, Candidates: []Candidate{
		{"n1", 1, 5}, {"n2", 2, 5}, {"n3", 3, 5}, {"n4", 4, 5}, {"n5", 5, 5},
		{"X", 9, 10}, // X itself, should a store ever return it: never listed
	}}
	tests := []struct {
		name  string
		rules ListRules
		want  []string
	}{
		{"defaults: min support 2", DefaultListRules(), []string{"n5", "n4", "n3", "n2"}},
		{"min support 4", ListRules{Size: 20, MinSupport: 4}, []string{"n5", "n4"}},
		{"min support 1", ListRules{Size: 20, MinSupport: 1}, []string{"n5", "n4", "n3", "n2", "n1"}},
		{"min support 0 acts as 1", ListRules{Size: 20, MinSupport: 0}, []string{"n5", "n4", "n3", "n2", "n1"}},
		{"truncated to K", ListRules{Size: 3, MinSupport: 1}, []string{"n5", "n4", "n3"}},
		{"K = 1", ListRules{Size: 1, MinSupport: 1}, []string{"n5"}},
		{"K larger than candidates", ListRules{Size: 1000, MinSupport: 2}, []string{"n5", "n4", "n3", "n2"}},
		{"K = 0 gives an empty list", ListRules{Size: 0, MinSupport: 1}, []string{}},
		{"support filter applies before K", ListRules{Size: 2, MinSupport: 5}, []string{"n5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := items(RelatedList(Count, row, g, tc.rules)); !slices.Equal(got, tc.want) {
				t.Errorf("list = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRelatedListDropsNonPositive: an item bought with X no more often than
// chance is not related to X, and neither is one whose score is undefined.
func TestRelatedListDropsNonPositive(t *testing.T) {
	rules := ListRules{Size: 20, MinSupport: 1}
	g := Globals{Total: 10_000, Customers: 100}
	// 40 buyers of X with 200 other items each.
	row := Row{Item: "X", Buyers: 40, Hist: []HistBin{{200, 40}}, Candidates: []Candidate{
		// B_Y = 9: P = 0.0009; E = 40*(1-0.9991^200) = 6.59; N = 9 > E
		{"above", 9, 9},
		// B_Y = 50: P = 0.005; E = 40*(1-0.995^200) = 25.3; N = 9 < E
		{"below", 9, 50},
		// inconsistent counters (N > B_Y): undefined, not listed
		{"broken", 9, 8},
	}}
	if got := items(RelatedList(Amazon2017, row, g, rules)); !slices.Equal(got, []string{"above"}) {
		t.Errorf("amazon2017 list = %v, want [above]", got)
	}
	// LLR with C = 100, B_X = 40:
	//   pos: N=9, B_Y=10 -> 9/40 > 1/60, positive association
	//   neg: N=2, B_Y=50 -> 2/40 < 48/60, negative: undefined
	//   ind: N=4, B_Y=10 -> 4/40 = 6/60, independent: G^2 = 0
	row.Candidates = []Candidate{{"pos", 9, 10}, {"neg", 2, 50}, {"ind", 4, 10}}
	if got := items(RelatedList(LLR, row, g, rules)); !slices.Equal(got, []string{"pos"}) {
		t.Errorf("llr list = %v, want [pos]", got)
	}
}

// TestRelatedListMatchesScore: the list holds exactly the bits Score
// returns for each item. That is the same scores, not merely close ones.
func TestRelatedListMatchesScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	row, g := benchRow(rng, 500, 120, false)
	for _, m := range Methods() {
		list := RelatedList(m, row, g, ListRules{Size: 50, MinSupport: 2})
		if len(list) == 0 {
			t.Fatalf("%s: empty list", m)
		}
		byItem := map[string]Candidate{}
		for _, c := range row.Candidates {
			byItem[c.Item] = c
		}
		for _, r := range list {
			s, ok := Score(m, row, byItem[r.Item], g)
			if !ok || math.Float64bits(s) != math.Float64bits(r.Score) {
				t.Errorf("%s %s: list score %.17g, Score %.17g (defined %v)", m, r.Item, r.Score, s, ok)
			}
		}
	}
}

// TestRelatedListIgnoresInputOrder: a Redis hash has no order, so any order
// of bins and candidates must give the same list, bit for bit.
func TestRelatedListIgnoresInputOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	row, g := benchRow(rng, 800, 200, false)
	rules := ListRules{Size: 25, MinSupport: 2}
	for _, m := range Methods() {
		want := RelatedList(m, row, g, rules)
		for range 10 {
			r := row
			r.Hist, r.Candidates = slices.Clone(row.Hist), slices.Clone(row.Candidates)
			rng.Shuffle(len(r.Hist), func(i, j int) { r.Hist[i], r.Hist[j] = r.Hist[j], r.Hist[i] })
			rng.Shuffle(len(r.Candidates), func(i, j int) { r.Candidates[i], r.Candidates[j] = r.Candidates[j], r.Candidates[i] })
			if got := RelatedList(m, r, g, rules); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: shuffled input changed the list:\n got %v\nwant %v", m, got, want)
			}
		}
	}
}

// TestRelatedListTopKIsSortedPrefix: the heap selection agrees with sorting
// every scored candidate and cutting at K.
func TestRelatedListTopKIsSortedPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	row, g := benchRow(rng, 1000, 50, false)
	for _, m := range Methods() {
		var all []Related
		for _, c := range row.Candidates {
			if s, ok := Score(m, row, c, g); ok && s > 0 && c.Support >= 2 {
				e := float64(row.Buyers) * float64(c.Buyers) / float64(g.Customers) // independence
				if m == Amazon2017 || m == Amazon2017Prior {
					e = Expected(row.Hist, c.Buyers, g.Total)
				}
				all = append(all, Related{c.Item, s, c.Support, e})
			}
		}
		slices.SortFunc(all, compareRelated)
		for _, k := range []int{1, 2, 7, 20, 100, len(all), len(all) + 5} {
			got := RelatedList(m, row, g, ListRules{Size: k, MinSupport: 2})
			want := all[:min(k, len(all))]
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s K=%d: heap selection differs from sort+truncate", m, k)
			}
		}
	}
}

func TestRelatedListEmpty(t *testing.T) {
	g := Globals{Total: 10, Customers: 4}
	for _, tc := range []struct {
		name string
		m    Method
		row  Row
	}{
		{"no candidates", Amazon2017, Row{Item: "X", Buyers: 3}},
		{"unknown method", Method("lift"), Row{Item: "X", Buyers: 3, Candidates: []Candidate{{"Y", 3, 3}}}},
		{"all filtered", Count, Row{Item: "X", Buyers: 3, Candidates: []Candidate{{"Y", 1, 3}}}},
	} {
		got := RelatedList(tc.m, tc.row, g, DefaultListRules())
		b, _ := json.Marshal(got)
		if got == nil || string(b) != "[]" {
			t.Errorf("%s: %#v encodes as %s; want an empty, non-nil list ([])", tc.name, got, b)
		}
	}
}

func TestTopRelated(t *testing.T) {
	in := []Related{
		{"d", 0.5, 1, 0}, // support below 2
		{"c", 2.0, 3, 0},
		{"b", 2.0, 3, 0},
		{"a", 3.0, 2, 0},
		{"neg", -1, 9, 0},          // not positive
		{"zero", 0, 9, 0},          // not positive
		{"inf", math.Inf(1), 9, 0}, // not finite
		{"nan", math.NaN(), 9, 0},  // not finite
		{"e", 1.0, 4, 0},
	}
	orig := slices.Clone(in)
	got := TopRelated(in, ListRules{Size: 3, MinSupport: 2})
	if want := []string{"a", "b", "c"}; !slices.Equal(items(got), want) {
		t.Errorf("TopRelated = %v, want %v", items(got), want)
	}
	if !reflect.DeepEqual(items(in), items(orig)) {
		t.Error("TopRelated reordered its input")
	}
	if got := TopRelated(nil, DefaultListRules()); got == nil || len(got) != 0 {
		t.Errorf("TopRelated(nil) = %#v, want empty non-nil", got)
	}
}

func TestListRulesValidate(t *testing.T) {
	if d := DefaultListRules(); d != (ListRules{Size: 20, MinSupport: 2}) || d.Validate() != nil {
		t.Errorf("DefaultListRules() = %+v (%v), want K_list 20, min support 2, valid", d, d.Validate())
	}
	for _, tc := range []struct {
		r    ListRules
		errs []string
	}{
		{ListRules{Size: 1, MinSupport: 1}, nil},
		{ListRules{Size: 0, MinSupport: 2}, []string{"list size"}},
		{ListRules{Size: 20, MinSupport: 0}, []string{"min support"}},
		{ListRules{Size: -1, MinSupport: -1}, []string{"list size", "min support"}},
	} {
		err := tc.r.Validate()
		if (err == nil) != (tc.errs == nil) {
			t.Errorf("%+v: Validate() = %v", tc.r, err)
			continue
		}
		for _, e := range tc.errs {
			if !strings.Contains(err.Error(), e) {
				t.Errorf("%+v: error %q does not mention %q", tc.r, err, e)
			}
		}
	}
}

// TestAListNeedsOnlyTheCandidatesAtItsListableSupport: a list computed
// from any subset of a row's candidates says, by ListableSupport, which
// of the others can still be listed or passed over; the list of that
// subset and those others (the rest left out, their B_Y never read) is the
// row's list, bit for bit, with the same hidden items passed over. Random
// rows, subsets and visibility, for every method (those without a bound
// keep every candidate).
func TestAListNeedsOnlyTheCandidatesAtItsListableSupport(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	pruned := 0
	for trial := range 300 {
		row, g := benchRow(rng, 50+rng.IntN(600), 1+rng.IntN(120), trial%2 == 0)
		rules := ListRules{Size: 1 + rng.IntN(30), MinSupport: 1 + rng.Int64N(3)}
		hidden := map[string]bool{}
		for _, c := range row.Candidates {
			if rng.IntN(10) == 0 {
				hidden[c.Item] = true
			}
		}
		visible := func(item string) bool { return !hidden[item] }
		for _, m := range Methods() {
			want, wantOver := RelatedListVisible(m, row, g, rules, visible)
			var first, rest []Candidate
			for _, c := range row.Candidates {
				if rng.IntN(4) == 0 {
					first = append(first, c)
				} else {
					rest = append(rest, c)
				}
			}
			partial, _ := RelatedListVisible(m, Row{Item: row.Item, Buyers: row.Buyers, Hist: row.Hist, Candidates: first}, g, rules, visible)
			floor := ListableSupport(m, partial, rules)
			if !m.BoundsBySupport() && floor != max(rules.MinSupport, 1) {
				t.Fatalf("%s has no bound, yet ListableSupport = %d", m, floor)
			}
			kept := row
			kept.Candidates = slices.Clone(first)
			for _, c := range rest {
				if c.Support >= floor {
					kept.Candidates = append(kept.Candidates, c)
				}
			}
			pruned += len(row.Candidates) - len(kept.Candidates)
			got, gotOver := RelatedListVisible(m, kept, g, rules, visible)
			if !reflect.DeepEqual(got, want) || !slices.Equal(gotOver, wantOver) {
				t.Fatalf("trial %d, %s, floor %d: the shortlisted row lists\n %v (over %v)\nthe whole row\n %v (over %v)", trial, m, floor, got, gotOver, want, wantOver)
			}
		}
	}
	if pruned == 0 {
		t.Fatal("no candidate was ever left out: the test does not test the bound")
	}
}

// TestListableSupportIsTheBoundsEdge: ListableSupport is the least support
// that Amazon2017Prior's bound (n/sqrt(PriorExpected) below the list's
// worst score) does not exclude, never below the min support; a list
// shorter than its size bounds nothing.
func TestListableSupportIsTheBoundsEdge(t *testing.T) {
	full := func(worst float64) []Related {
		return []Related{{Item: "a", Score: worst + 1}, {Item: "b", Score: worst}}
	}
	rules := ListRules{Size: 2, MinSupport: 2}
	for _, tc := range []struct {
		name    string
		m       Method
		partial []Related
		want    int64
	}{
		{"worst 1: n/5 >= 1 from n = 5", Amazon2017Prior, full(1), 5},
		{"worst just above 1", Amazon2017Prior, full(math.Nextafter(1, 2)), 6},
		{"worst just below 1", Amazon2017Prior, full(math.Nextafter(1, 0)), 5},
		{"worst 2.3: from n = 12", Amazon2017Prior, full(2.3), 12},
		{"a low worst keeps the min support", Amazon2017Prior, full(0.1), 2},
		{"a list not full bounds nothing", Amazon2017Prior, full(3)[:1], 2},
		{"no bound without the prior", Amazon2017, full(3), 2},
		{"no bound for counts", Count, full(3), 2},
	} {
		if got := ListableSupport(tc.m, tc.partial, rules); got != tc.want {
			t.Errorf("%s: ListableSupport = %d, want %d", tc.name, got, tc.want)
		}
	}
}
