package scoring

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

// HistBin is one entry of h_X: Customers customers hold X and have Others
// other items in their history (|H_c| - 1 = Others). Only the bins are stored,
// not the customers, because E_XY depends on X's buyers only through how many
// other purchases each one has.
type HistBin struct {
	Others    int64
	Customers int64
}

// Row is everything needed to score the related list of item X. One read of
// X's counters fills it, and the scorer never has to go back to the store.
type Row struct {
	Item   string // X
	Buyers int64  // B_X
	// Hist is h_X. It may come in any order (a Redis hash has none) and may
	// repeat an Others value. Scoring works on a copy: sorted by Others
	// ascending, repeated Others merged, bins with Others < 1 or no
	// customers dropped.
	Hist []HistBin
	// Candidates holds every Y != X with N_XY >= 1 that a list may take: a
	// reader may leave out those below the list rules' MinSupport, which no
	// list takes (store.Lists.ReadRows does). If X itself appears, it is
	// ignored. Item ids are expected to be distinct.
	Candidates []Candidate
}

// Candidate is one item Y co-bought with X, with the counters its score needs.
type Candidate struct {
	Item    string
	Support int64 // N_XY
	Buyers  int64 // B_Y
}

// Globals are the store-wide totals that scores normalise by.
type Globals struct {
	Total     int64 // T = sum over customers of |H_c|; P_Y = B_Y / T
	Customers int64 // C = customers with a non-empty history (LLR's table size)
}

// Expected returns the number of customers expected to hold both X and Y by
// chance: E_XY = sum over n >= 1, in ascending n, of
// h_X[n] * (1-(1-P_Y)^n), with P_Y = buyersY/total (Smith & Linden 2017).
// Each of a customer's n other purchases is one chance to have bought Y. This
// is why heavy buyers of X raise the expectation.
//
// 1-(1-p)^n is computed as -math.Expm1(n*math.Log1p(-p)). That form is
// accurate to a few ulps for any n and any p. The obvious 1-math.Pow(1-p, n)
// loses about 7 of 16 digits at p = 1e-9, because 1-p rounds. The paper's
// alternating binomial series loses 10 digits at n*p = 25 and all of them at
// n*p = 50 (TestChancePrecision).
//
// hist may come in any order and is not modified. Bins are summed in
// ascending Others (repeated Others merged first), so the result does not
// depend on the input order. Two items Y with the same buyersY get
// bit-identical expectations.
//
// When buyersY <= 0 or total <= 0, Y cannot have been bought: the result is 0.
// When buyersY > total, which is impossible for counters taken from
// histories, the result is NaN.
func Expected(hist []HistBin, buyersY, total int64) float64 {
	return prepareHist(hist).expected(buyersY, total)
}

// histBin is a prepared histogram bin: the conversions to float64 are done
// once per row, not once per candidate.
type histBin struct {
	others    float64 // n
	customers float64 // h_X[n]
}

// preparedHist is h_X in canonical form. Bins come in strictly ascending
// Others, all with Others >= 1, and none has zero customers.
type preparedHist []histBin

// prepareHist returns hist in canonical form (see Row.Hist). Only canonical
// data is summed, so input order cannot change the result's bits. It
// allocates the copy once. The caller's slice is never modified.
func prepareHist(hist []HistBin) preparedHist {
	s := make([]HistBin, 0, len(hist))
	for _, b := range hist {
		// n = 0 contributes 1-(1-p)^0 = 0; n < 0 is not a history size.
		if b.Others >= 1 && b.Customers != 0 {
			s = append(s, b)
		}
	}
	slices.SortFunc(s, func(a, b HistBin) int { return cmp.Compare(a.Others, b.Others) })
	out := make(preparedHist, 0, len(s))
	for i := 0; i < len(s); {
		// h_X[n] is one count. If the store returned n twice, add the integer
		// counts before converting to float. The result then does not depend
		// on how the count was split.
		n, c := s[i].Others, s[i].Customers
		for i++; i < len(s) && s[i].Others == n; i++ {
			c += s[i].Customers
		}
		if c != 0 {
			out = append(out, histBin{others: float64(n), customers: float64(c)})
		}
	}
	return out
}

// expected computes E_XY from a canonical histogram. Expected and every
// scorer use it, which makes their results bit-identical.
func (h preparedHist) expected(buyersY, total int64) float64 {
	if buyersY <= 0 || total <= 0 {
		return 0
	}
	if buyersY > total {
		return math.NaN()
	}
	p := float64(buyersY) / float64(total)
	l := math.Log1p(-p) // ln(1-p); -Inf when p == 1, and then every term below is h_X[n]
	e := 0.0
	for _, b := range h {
		// float64(...) forbids fusing this product into e's sum (see doc.go).
		e += float64(b.customers * -math.Expm1(b.others*l))
	}
	return e
}

// Score returns the method's score of Y (c) in X's list (row) and whether
// that score is defined. Undefined means the formula has no meaningful value
// for these counters: N_XY < 1, E_XY = 0, negative association for LLR,
// inconsistent counters, an unknown method, or a result that is not finite.
// Callers must not rank undefined scores.
//
// For the whole list of X, use RelatedList. Score prepares X's histogram on
// every call. It runs the same code as RelatedList, so it returns exactly
// the score RelatedList would list.
func Score(m Method, row Row, c Candidate, g Globals) (float64, bool) {
	rs, ok := newRowScorer(m, row, g, nil)
	if !ok {
		return 0, false
	}
	return rs.score(c)
}

// rowScorer holds what one row's scores share, computed once: the canonical
// histogram for Amazon2017 and the row's entropy terms for LLR. Scoring a
// candidate then allocates nothing.
type rowScorer struct {
	m     Method
	bx    int64 // B_X
	g     Globals
	hist  preparedHist // Amazon2017 and Amazon2017Prior only
	cache *expCache    // Amazon2017 and Amazon2017Prior only; nil disables memoisation

	// LLR only: xlogx(C), xlogx(B_X), xlogx(C - B_X), and whether the row
	// counters are consistent (0 <= B_X <= C).
	xlC, xlBx, xlNotBx float64
	rowOK              bool
}

func newRowScorer(m Method, row Row, g Globals, cache *expCache) (rowScorer, bool) {
	if !m.valid() {
		return rowScorer{}, false
	}
	rs := rowScorer{m: m, bx: row.Buyers, g: g}
	switch m {
	case Amazon2017, Amazon2017Prior:
		rs.hist = prepareHist(row.Hist)
		rs.cache = cache
	case LLR:
		c, bx := g.Customers, row.Buyers
		rs.rowOK = bx >= 0 && c >= bx
		if rs.rowOK {
			rs.xlC, rs.xlBx, rs.xlNotBx = xlogx(c), xlogx(bx), xlogx(c-bx)
		}
	}
	return rs, true
}

// score returns c's score in the row and whether it is defined (see Score).
func (rs *rowScorer) score(c Candidate) (float64, bool) {
	s, _, ok := rs.scoreExpected(c)
	return s, ok
}

// scoreExpected returns c's score, whether it is defined (see Score), and
// the E_XY a list entry carries with it (see Related.Expected): the 2017
// expectation the score was computed from, B_X·B_Y/C for the other
// methods. The expectation is meaningful only when the score is defined.
func (rs *rowScorer) scoreExpected(c Candidate) (s, e float64, ok bool) {
	n, by := c.Support, c.Buyers
	if n < 1 {
		return 0, 0, false
	}
	switch rs.m {
	case Count:
		s = float64(n)
	case Cosine:
		if n > rs.bx || n > by {
			return 0, 0, false
		}
		s = float64(n) / math.Sqrt(float64(rs.bx)*float64(by))
	case Jaccard:
		if n > rs.bx || n > by {
			return 0, 0, false
		}
		s = float64(n) / float64(rs.bx+by-n) // |X buyers ∪ Y buyers| >= N_XY >= 1
	case LLR:
		if s, ok = rs.llr(n, by); !ok {
			return 0, 0, false
		}
	case Amazon2017, Amazon2017Prior:
		// N_XY <= B_Y <= T; by >= 1 follows from n >= 1.
		if n > by || by > rs.g.Total {
			return 0, 0, false
		}
		e = rs.expected(by)
		if !(e > 0) || math.IsInf(e, 0) {
			return 0, 0, false
		}
		if rs.m == Amazon2017Prior {
			s = (float64(n) - e) / math.Sqrt(e+PriorExpected)
		} else {
			s = (float64(n) - e) / math.Sqrt(e)
		}
	default:
		return 0, 0, false
	}
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0, 0, false
	}
	if rs.m != Amazon2017 && rs.m != Amazon2017Prior && rs.g.Customers >= 1 {
		e = float64(rs.bx) * float64(by) / float64(rs.g.Customers)
	}
	return s, e, true
}

// below reports whether every score a candidate with support n can have
// in the row is below worst, without computing its E_XY: most of a popular
// row's candidates are a few co-buyers against lists of stronger pairs,
// and E_XY (a sum over the histogram) is most of their cost. Only
// Amazon2017Prior has such a bound: (n - E)/sqrt(E + PriorExpected) falls
// as E grows, so it is at most n/sqrt(PriorExpected), and the rounded
// operations keep that order (float64(n) - e <= float64(n) and
// sqrt(e + 25) >= 5 for e > 0; a candidate without a positive E_XY is
// not listed at all).
func (rs *rowScorer) below(n int64, worst float64) bool {
	return rs.m.BoundsBySupport() && supportBelow(n, worst)
}

// BoundsBySupport reports whether a candidate's support alone bounds its
// score (rowScorer.below): only Amazon2017Prior's does.
func (m Method) BoundsBySupport() bool { return m == Amazon2017Prior }

// supportBelow is Amazon2017Prior's bound: every score of a candidate with
// support n is below worst.
func supportBelow(n int64, worst float64) bool {
	return float64(n)/math.Sqrt(PriorExpected) < worst
}

// ListableSupport returns the least support a candidate of a row needs to
// be listed, or passed over (RelatedListVisible), given partial: the list
// of some of the row's candidates, computed with the same method, rules
// and visibility. The row's list ranks its last entry at least as high as
// partial's, so when partial is full (rules.Size entries) and the method
// bounds a score by its support (BoundsBySupport), a candidate with less
// support can be neither, whatever its B_Y: a re-score need not read its
// B_Y (docs/DESIGN.md §4, "Reading B only for the candidates that can be
// listed"). Otherwise every candidate may count, and it returns
// rules.MinSupport (at least 1).
func ListableSupport(m Method, partial []Related, rules ListRules) int64 {
	least := max(rules.MinSupport, 1)
	if !m.BoundsBySupport() || rules.Size < 1 || len(partial) < rules.Size {
		return least
	}
	worst := partial[len(partial)-1].Score
	// The least n that supportBelow does not exclude, found from an
	// estimate so that the float comparison itself decides.
	n := max(int64(math.Ceil(worst*math.Sqrt(PriorExpected))), least)
	for n > least && !supportBelow(n-1, worst) {
		n--
	}
	for supportBelow(n, worst) {
		n++
	}
	return n
}

// expected returns E_XY for a candidate with buyersY buyers, memoised by
// buyersY. The memo is safe because E_XY depends on Y only through B_Y. It
// pays off because most candidates in a row have small B_Y values that
// repeat.
func (rs *rowScorer) expected(buyersY int64) float64 {
	if rs.cache == nil {
		return rs.hist.expected(buyersY, rs.g.Total)
	}
	slot := &rs.cache[expCacheSlot(buyersY)]
	if slot.buyers != buyersY {
		slot.buyers = buyersY
		slot.e = rs.hist.expected(buyersY, rs.g.Total)
	}
	return slot.e
}

// expCache is a direct-mapped memo from B_Y to E_XY for one row. It has a
// fixed size, so it lives on the stack of RelatedList. A collision only
// costs a recomputation, and a recomputed value has the same bits.
type expCache [1024]struct {
	buyers int64 // 0 = empty: only B_Y >= 1 reaches the cache
	e      float64
}

func expCacheSlot(buyers int64) uint64 {
	return (uint64(buyers) * 0x9E3779B97F4A7C15) >> (64 - 10) // Fibonacci hashing onto 1024 slots
}

// llr returns Dunning's G^2 for the customers' 2x2 table of X and Y. It is
// defined only for positive association (Y more frequent among X's buyers
// than among the others). A large G^2 for a pair bought together less often
// than chance would be a false "related" signal.
//
//	k11 = N_XY           k12 = B_X - N_XY
//	k21 = B_Y - N_XY     k22 = C - B_X - B_Y + N_XY
//
// Computed in Mahout's entropy form. xlogx(0) = 0 handles empty cells, and
// rounding that makes the result slightly negative is clamped to 0:
//
//	G^2 = 2 * (H(rows) + H(cols) - H(cells)),
//	H(k...) = xlogx(sum k) - sum xlogx(k)
func (rs *rowScorer) llr(n, by int64) (float64, bool) {
	c, bx := rs.g.Customers, rs.bx
	k11, k12, k21 := n, bx-n, by-n
	k22 := c - bx - k21
	if !rs.rowOK || k12 < 0 || k21 < 0 || k22 < 0 {
		return 0, false // inconsistent counters: no table has these margins
	}
	// Positive association: k11/(k11+k12) > k21/(k21+k22). Cross-multiplied
	// in exact 128-bit integers so that near-equal ratios cannot be misjudged.
	// When C = B_X, the right-hand ratio is 0/0: no customer lacks X, so
	// there is no association to measure, and the test says "not positive".
	if !ratioGreater(k11, bx, k21, c-bx) {
		return 0, false
	}
	rowH := rs.xlC - (rs.xlBx + rs.xlNotBx)
	colH := rs.xlC - (xlogx(by) + xlogx(c-by))
	cellH := rs.xlC - (xlogx(k11) + xlogx(k12) + xlogx(k21) + xlogx(k22))
	if rowH+colH < cellH {
		return 0, true // rounding: G^2 is 0 up to float error
	}
	return 2 * (rowH + colH - cellH), true
}

// xlogx returns x*ln(x), with 0 for x = 0 (the limit), as in Mahout.
func xlogx(x int64) float64 {
	if x <= 0 {
		return 0
	}
	f := float64(x)
	return float64(f * math.Log(f)) // conversion: no FMA with the caller's sum
}

// ratioGreater reports whether a/b > c/d for non-negative a, c and
// positive b, d, computed as a*d > c*b in 128 bits. A zero denominator
// makes that side's product 0, so callers must handle b or d = 0 themselves
// (llr does: the answer there is "not greater").
func ratioGreater(a, b, c, d int64) bool {
	hi1, lo1 := bits.Mul64(uint64(a), uint64(d))
	hi2, lo2 := bits.Mul64(uint64(c), uint64(b))
	return hi1 > hi2 || (hi1 == hi2 && lo1 > lo2)
}

// ViewedThenBought scores "viewed X, then bought Y" (docs/DESIGN.md section 3,
// Views). mXY is M_XY, the number of times Y entered a purchase history
// while X was in the viewer's V_c. mX is M_X, the number of purchases of a
// new item made while X was in V_c. The expectation is E = M_X * P_Y with
// P_Y = buyersY/total: each such purchase is a chance for it to have been
// Y. The score is (M_XY - E)/sqrt(E), the same chi-square form as
// Amazon2017.
//
// It is defined when 1 <= M_XY <= M_X (M_XY counts a subset of M_X's
// events) and 1 <= buyersY <= total. The list rules then apply with M_XY as
// the support (see TopRelated).
func ViewedThenBought(mXY, mX, buyersY, total int64) (float64, bool) {
	s, _, ok := viewedThenBought(mXY, mX, buyersY, total)
	return s, ok
}

// viewedThenBought is ViewedThenBought that also returns E = M_X·P_Y, the
// expectation the score was computed from, which the list entry carries
// (ViewedBoughtList).
func viewedThenBought(mXY, mX, buyersY, total int64) (s, e float64, ok bool) {
	if mXY < 1 || mXY > mX || buyersY < 1 || buyersY > total {
		return 0, 0, false
	}
	p := float64(buyersY) / float64(total)
	e = float64(float64(mX) * p) // conversion: no FMA in mXY - e
	s = (float64(mXY) - e) / math.Sqrt(e)
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0, 0, false
	}
	return s, e, true
}
