package scoring

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// ListRules are docs/DESIGN.md section 3's list rules. They apply to every scorer.
// They shape stored state, so they belong in the settings fingerprint.
type ListRules struct {
	// Size is K_list, the most items a list holds. Default 20.
	Size int
	// MinSupport is the smallest N_XY (or M_XY) an item needs to be listed.
	// Default 2: a single co-buyer is a coincidence, not evidence. Without
	// this filter the chi-square score ranks one-off pairs of rare items
	// highest.
	MinSupport int64
}

// DefaultListRules returns docs/DESIGN.md's defaults: K_list 20, min_support 2.
func DefaultListRules() ListRules {
	return ListRules{Size: 20, MinSupport: 2}
}

// Validate reports settings that cannot mean anything: Size < 1 and
// MinSupport < 1. It does not silently map MinSupport 0 to 1, although every
// score already needs N_XY >= 1. Otherwise two spellings of one behaviour
// would give two settings fingerprints. Call it where settings are loaded.
// RelatedList does not validate: for Size < 1 it returns an empty list, and
// it treats MinSupport < 1 as 1.
func (r ListRules) Validate() error {
	var errs []error
	if r.Size < 1 {
		errs = append(errs, fmt.Errorf("scoring: list size must be at least 1, got %d", r.Size))
	}
	if r.MinSupport < 1 {
		errs = append(errs, fmt.Errorf("scoring: min support must be at least 1, got %d", r.MinSupport))
	}
	return errors.Join(errs...)
}

// Related is one entry of a related-item list, as stored and served.
type Related struct {
	Item    string  `json:"item"`
	Score   float64 `json:"score"`
	Support int64   `json:"support"` // N_XY (co-buyers), or M_XY for viewed-then-bought
	// Expected is E_XY, the co-buyers (or M_XY) expected by chance: the
	// 2017 expectation for the 2017 scores, B_X·B_Y/C for the others, and
	// M_X·B_Y/T for viewed-then-bought. Personal recommendations weigh an
	// entry by Support against it. 0 in lists stored before it was kept.
	Expected float64 `json:"expected,omitempty"`
}

// DefaultRelTol is the relative score tolerance of promise 2 (docs/DESIGN.md section 5).
// EqualLists uses it when called with relTol <= 0.
const DefaultRelTol = 1e-9

// RelatedList returns X's related list: the top rules.Size items Y != X with
// Support >= rules.MinSupport and a defined, finite score > 0. The items are
// ordered by score desc, ties by Support desc, then item id ascending in
// byte order. That order is total, so the result does not depend on the
// order of row.Candidates.
//
// Per-row work (sorting the histogram, the LLR row terms) happens once, and
// the E_XY values are memoised by B_Y. Per candidate it allocates nothing.
// The only allocations are the sorted histogram and the result. Selection
// uses a bounded heap: O(n log K), not a sort of all n candidates. Once
// the heap is full, an Amazon2017Prior candidate whose support bounds its
// score below the heap's worst entry is skipped unscored (rowScorer.below).
//
// The result is never nil (it encodes as JSON [] rather than null). An
// unknown method gives an empty list.
func RelatedList(m Method, row Row, g Globals, rules ListRules) []Related {
	list, _ := RelatedListVisible(m, row, g, rules, nil)
	return list
}

// Visible says whether an item may be listed now (docs/DESIGN.md §11: a
// hidden item, or one outside its availability window, may not). A nil
// Visible lets every item be listed.
type Visible func(item string) bool

// RelatedListVisible is RelatedList over the candidates visible lets be
// listed: a list that loses an item is filled from its next candidates.
// passedOver are the items left out that would have been listed had they
// been visible (ranked before the list's last entry, or any, in a list
// shorter than rules.Size), in id order: a change of their availability,
// or of a listed item's, is what can change the list without a change of
// its counters.
func RelatedListVisible(m Method, row Row, g Globals, rules ListRules, visible Visible) (list []Related, passedOver []string) {
	if rules.Size < 1 || len(row.Candidates) == 0 {
		return []Related{}, nil
	}
	var cache expCache
	rs, ok := newRowScorer(m, row, g, &cache)
	if !ok {
		return []Related{}, nil
	}
	minSupport := max(rules.MinSupport, 1)
	top := newVisibleTop(rules.Size, len(row.Candidates), visible)
	for i := range row.Candidates {
		c := &row.Candidates[i]
		if c.Support < minSupport || c.Item == row.Item {
			continue
		}
		if worst, full := top.worst(); full && rs.below(c.Support, worst) {
			continue // cannot be listed, nor passed over: its E_XY is not needed
		}
		s, e, ok := rs.scoreExpected(*c)
		if !ok || !(s > 0) {
			continue
		}
		top.offer(Related{Item: c.Item, Score: s, Support: c.Support, Expected: e})
	}
	return top.result()
}

// visibleTop is a topK of the visible entries offered that remembers the
// entries it left out as not visible.
type visibleTop struct {
	size    int // rules.Size
	top     topK
	visible Visible
	hidden  []Related
}

func newVisibleTop(size, candidates int, visible Visible) *visibleTop {
	return &visibleTop{size: size, top: topK{items: make([]Related, 0, min(size, candidates))}, visible: visible}
}

// worst returns the lowest score in a full list: an entry scored below
// it is neither listed nor passed over (result). full is false while the
// list holds fewer than size entries.
func (v *visibleTop) worst() (score float64, full bool) {
	if len(v.top.items) < v.size || v.size < 1 {
		return 0, false
	}
	return v.top.items[0].Score, true // the heap's root is its worst entry
}

func (v *visibleTop) offer(r Related) {
	if v.visible != nil && !v.visible(r.Item) {
		v.hidden = append(v.hidden, r)
		return
	}
	v.top.offer(r)
}

func (v *visibleTop) result() ([]Related, []string) {
	list := v.top.sorted()
	var over []string
	for _, h := range v.hidden {
		if len(list) < v.size || compareRelated(h, list[len(list)-1]) < 0 {
			over = append(over, h.Item)
		}
	}
	slices.Sort(over)
	return list, over
}

// TopRelated applies the list rules to entries that were scored elsewhere,
// for example viewed-then-bought entries with M_XY as Support. It keeps
// entries with Support >= rules.MinSupport and a finite Score > 0, orders
// them as RelatedList does, and truncates to rules.Size. The caller must
// already have left out X itself and undefined scores. items is not modified.
// The result is never nil.
func TopRelated(items []Related, rules ListRules) []Related {
	list, _ := TopRelatedVisible(items, rules, nil)
	return list
}

// TopRelatedVisible is TopRelated over the entries visible lets be listed,
// with the entries passed over as RelatedListVisible returns them.
func TopRelatedVisible(items []Related, rules ListRules, visible Visible) (list []Related, passedOver []string) {
	if rules.Size < 1 || len(items) == 0 {
		return []Related{}, nil
	}
	minSupport := max(rules.MinSupport, 1)
	top := newVisibleTop(rules.Size, len(items), visible)
	for _, r := range items {
		if r.Support >= minSupport && r.Score > 0 && !math.IsInf(r.Score, 0) {
			top.offer(r)
		}
	}
	return top.result()
}

// compareRelated is the list order: score desc, Support desc, Item asc
// (byte order, which Go's string comparison uses). Scores are compared
// exactly. Scores are deterministic, so exact ties are real ties.
func compareRelated(a, b Related) int {
	switch {
	case a.Score > b.Score:
		return -1
	case a.Score < b.Score:
		return 1
	case a.Support > b.Support:
		return -1
	case a.Support < b.Support:
		return 1
	}
	return strings.Compare(a.Item, b.Item)
}

// topK keeps the best cap(items) entries offered, as a heap whose root is the
// worst kept entry. A newcomer then only has to beat the root.
type topK struct{ items []Related }

func (t *topK) offer(r Related) {
	h := t.items
	if len(h) < cap(h) {
		h = append(h, r)
		// sift up: a parent must not come before its child in list order
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if compareRelated(h[p], h[i]) >= 0 {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		t.items = h
		return
	}
	if len(h) == 0 || compareRelated(r, h[0]) >= 0 {
		return // not better than the worst kept entry
	}
	h[0] = r
	for i := 0; ; { // sift down
		l, worst := 2*i+1, i
		if l < len(h) && compareRelated(h[l], h[worst]) > 0 {
			worst = l
		}
		if rt := l + 1; rt < len(h) && compareRelated(h[rt], h[worst]) > 0 {
			worst = rt
		}
		if worst == i {
			break
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}

func (t *topK) sorted() []Related {
	slices.SortFunc(t.items, compareRelated)
	return t.items
}

// EqualLists compares two related lists as promise 2 (docs/DESIGN.md section 5)
// requires. The oracle and the streamed state compute scores from equal
// counters, but not always through the same float operations.
//
// The lists are equal when they have the same length, each item has the
// same Support and a score within relative tolerance relTol (DefaultRelTol
// when relTol <= 0) in both, and the items come in the same order. There is
// one exception to the order: where the lists hold different items at a
// position, the two items may be a tie group swapped. They must have equal
// Support and scores within tolerance of each other. A score difference of
// one ulp can legitimately flip the id tie-break.
//
// It returns "" when the lists are equal. Otherwise it describes the first
// difference, for a test failure or an oracle report.
func EqualLists(a, b []Related, relTol float64) string {
	if !(relTol > 0) {
		relTol = DefaultRelTol
	}
	if len(a) != len(b) {
		return fmt.Sprintf("lengths differ: a has %d items, b has %d", len(a), len(b))
	}
	inA, msg := indexItems(a, "a")
	if msg != "" {
		return msg
	}
	inB, msg := indexItems(b, "b")
	if msg != "" {
		return msg
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Item == y.Item {
			if d := entryDiff(x, y, relTol); d != "" {
				return fmt.Sprintf("position %d, item %q: %s", i, x.Item, d)
			}
			continue
		}
		j, ok := inB[x.Item]
		if !ok {
			return fmt.Sprintf("position %d: item %q (score %v, support %d) is in a but not in b",
				i, x.Item, x.Score, x.Support)
		}
		if _, ok := inA[y.Item]; !ok {
			return fmt.Sprintf("position %d: item %q (score %v, support %d) is in b but not in a",
				i, y.Item, y.Score, y.Support)
		}
		if d := entryDiff(x, b[j], relTol); d != "" {
			return fmt.Sprintf("item %q (a position %d, b position %d): %s", x.Item, i, j, d)
		}
		if !tied(x, y, relTol) {
			return fmt.Sprintf("position %d: order differs: a has %q (score %v, support %d), "+
				"b has %q (score %v, support %d), and they are not tied",
				i, x.Item, x.Score, x.Support, y.Item, y.Score, y.Support)
		}
	}
	return ""
}

func indexItems(l []Related, name string) (map[string]int, string) {
	idx := make(map[string]int, len(l))
	for i, r := range l {
		if j, dup := idx[r.Item]; dup {
			return nil, fmt.Sprintf("list %s holds item %q twice (positions %d and %d)", name, r.Item, j, i)
		}
		idx[r.Item] = i
	}
	return idx, ""
}

// entryDiff describes how the same item's entries differ, or returns "".
func entryDiff(x, y Related, relTol float64) string {
	if x.Support != y.Support {
		return fmt.Sprintf("support %d vs %d", x.Support, y.Support)
	}
	if !closeRel(x.Score, y.Score, relTol) {
		return fmt.Sprintf("score %v vs %v (relative difference %.3g > %g)",
			x.Score, y.Score, relDiff(x.Score, y.Score), relTol)
	}
	if !closeRel(x.Expected, y.Expected, relTol) {
		return fmt.Sprintf("expected %v vs %v (relative difference %.3g > %g)",
			x.Expected, y.Expected, relDiff(x.Expected, y.Expected), relTol)
	}
	return ""
}

// tied reports whether two entries form a tie group: equal Support and
// scores within tolerance of each other.
func tied(x, y Related, relTol float64) bool {
	return x.Support == y.Support && closeRel(x.Score, y.Score, relTol)
}

func closeRel(x, y, relTol float64) bool {
	return x == y || relDiff(x, y) <= relTol // NaN fails both
}

// relDiff is |x-y| / max(|x|,|y|).
func relDiff(x, y float64) float64 {
	if x == y {
		return 0
	}
	return math.Abs(x-y) / max(math.Abs(x), math.Abs(y))
}

// ViewedBoughtList returns X's "customers who viewed X bought" list
// (docs/DESIGN.md section 3): the candidates carry M_XY as Support and B_Y as
// Buyers, mX is M_X and g holds the purchase totals. Each is scored with
// ViewedThenBought and the list rules apply as for every list.
func ViewedBoughtList(row Row, mX int64, g Globals, rules ListRules) []Related {
	list, _ := ViewedBoughtListVisible(row, mX, g, rules, nil)
	return list
}

// ViewedBoughtListVisible is ViewedBoughtList over the candidates visible
// lets be listed, with the candidates passed over as RelatedListVisible
// returns them.
func ViewedBoughtListVisible(row Row, mX int64, g Globals, rules ListRules, visible Visible) (list []Related, passedOver []string) {
	items := make([]Related, 0, len(row.Candidates))
	for _, c := range row.Candidates {
		if c.Item == row.Item {
			continue
		}
		if s, e, ok := viewedThenBought(c.Support, mX, c.Buyers, g.Total); ok {
			items = append(items, Related{Item: c.Item, Score: s, Support: c.Support, Expected: e})
		}
	}
	return TopRelatedVisible(items, rules, visible)
}
