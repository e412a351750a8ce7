package scoring

import (
	"cmp"
	"slices"
	"testing"
)

// world holds docs/DESIGN.md section 3's counters, computed in the plainest way
// from final histories (customer -> distinct items). Tests derive a Row from a
// story about customers rather than writing the counters by hand. That also
// checks that the hand-written rows in other tests mean what they say.
type world struct {
	g      Globals
	buyers map[string]int64            // B_Y
	hist   map[string]map[int64]int64  // h_X[n]
	pairs  map[string]map[string]int64 // N_XY
	items  []string                    // sorted
}

func fromHistories(t testing.TB, histories map[string][]string) world {
	t.Helper()
	w := world{
		buyers: map[string]int64{},
		hist:   map[string]map[int64]int64{},
		pairs:  map[string]map[string]int64{},
	}
	for c, h := range histories {
		seen := map[string]bool{}
		for _, x := range h {
			if seen[x] {
				t.Fatalf("history of %s holds %s twice; histories are distinct items", c, x)
			}
			seen[x] = true
		}
		if len(h) == 0 {
			continue
		}
		w.g.Customers++
		w.g.Total += int64(len(h))
		for _, x := range h {
			if w.buyers[x] == 0 {
				w.items = append(w.items, x)
				w.hist[x] = map[int64]int64{}
				w.pairs[x] = map[string]int64{}
			}
			w.buyers[x]++
			w.hist[x][int64(len(h)-1)]++
			for _, y := range h {
				if y != x {
					w.pairs[x][y]++
				}
			}
		}
	}
	slices.Sort(w.items)
	return w
}

// row returns X's Row with bins and candidates in a fixed order (results
// must not depend on it; TestRelatedListIgnoresInputOrder checks that).
func (w world) row(x string) Row {
	r := Row{Item: x, Buyers: w.buyers[x]}
	for n, c := range w.hist[x] {
		r.Hist = append(r.Hist, HistBin{Others: n, Customers: c})
	}
	slices.SortFunc(r.Hist, func(a, b HistBin) int { return cmp.Compare(a.Others, b.Others) })
	for _, y := range w.items {
		if n := w.pairs[x][y]; n > 0 {
			r.Candidates = append(r.Candidates, Candidate{Item: y, Support: n, Buyers: w.buyers[y]})
		}
	}
	return r
}

func (w world) candidate(x, y string) Candidate {
	return Candidate{Item: y, Support: w.pairs[x][y], Buyers: w.buyers[y]}
}
