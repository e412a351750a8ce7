package scoring

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// smallStory is the worked example of the tests below, small enough to
// check by hand:
//
//	c1: X Y         (X's buyer with 1 other item)
//	c2: X Y         (X's buyer with 1 other item)
//	c3: X A B C     (X's buyer with 3 other items)
//	c4: D E         (does not hold X)
//
//	T = 2+2+4+2 = 10, C = 4
//	B_X = 3, B_Y = 2, N_XY = 2, h_X = {1: 2, 3: 1}
//	h_Y = {1: 2}, B_A = 1, N_XA = 1
var smallStory = map[string][]string{
	"c1": {"X", "Y"},
	"c2": {"X", "Y"},
	"c3": {"X", "A", "B", "C"},
	"c4": {"D", "E"},
}

func TestSmallStoryCounters(t *testing.T) {
	w := fromHistories(t, smallStory)
	if w.g != (Globals{Total: 10, Customers: 4}) {
		t.Fatalf("globals = %+v, want T=10 C=4", w.g)
	}
	x := w.row("X")
	if x.Buyers != 3 || len(x.Hist) != 2 || x.Hist[0] != (HistBin{1, 2}) || x.Hist[1] != (HistBin{3, 1}) {
		t.Fatalf("row X = %+v, want B_X=3 h_X={1:2, 3:1}", x)
	}
	if c := w.candidate("X", "Y"); c != (Candidate{"Y", 2, 2}) {
		t.Fatalf("candidate Y of X = %+v, want N=2 B_Y=2", c)
	}
}

// TestScoreHandComputed: each method on the small story, with the arithmetic.
func TestScoreHandComputed(t *testing.T) {
	w := fromHistories(t, smallStory)
	g := w.g
	tests := []struct {
		name     string
		m        Method
		x, y     string
		want     float64
		wantsDef bool
	}{
		// P_Y = 2/10 = 0.2.
		// E_XY = h_X[1]*(1-0.8^1) + h_X[3]*(1-0.8^3) = 2*0.2 + 1*0.488 = 0.888
		// S = (2 - 0.888)/sqrt(0.888) = 1.112/0.942338... = 1.180044...
		{"amazon2017 X->Y", Amazon2017, "X", "Y", (2 - 0.888) / math.Sqrt(0.888), true},
		// Directional: in Y's list, P_X = 3/10 and h_Y = {1: 2}.
		// E_YX = 2*(1-0.7) = 0.6; S = (2-0.6)/sqrt(0.6) = 1.807392...
		{"amazon2017 Y->X", Amazon2017, "Y", "X", 1.4 / math.Sqrt(0.6), true},
		// P_A = 1/10. E_XA = 2*0.1 + 1*(1-0.9^3) = 0.2+0.271 = 0.471
		// S = (1-0.471)/sqrt(0.471) = 0.770807...
		{"amazon2017 X->A", Amazon2017, "X", "A", 0.529 / math.Sqrt(0.471), true},
		// The same expectations with the prior: (N-E)/sqrt(E+25).
		{"amazon2017_prior X->Y", Amazon2017Prior, "X", "Y", (2 - 0.888) / math.Sqrt(25.888), true},
		{"amazon2017_prior Y->X", Amazon2017Prior, "Y", "X", 1.4 / math.Sqrt(25.6), true},
		{"amazon2017_prior X->A", Amazon2017Prior, "X", "A", 0.529 / math.Sqrt(25.471), true},
		// N_XY/sqrt(B_X*B_Y) = 2/sqrt(3*2) = 0.816496...
		{"cosine X->Y", Cosine, "X", "Y", 2 / math.Sqrt(6), true},
		{"cosine Y->X (symmetric)", Cosine, "Y", "X", 2 / math.Sqrt(6), true},
		// N_XY/(B_X+B_Y-N_XY) = 2/(3+2-2) = 2/3
		{"jaccard X->Y", Jaccard, "X", "Y", 2.0 / 3, true},
		// 1/(3+1-1) = 1/3
		{"jaccard X->A", Jaccard, "X", "A", 1.0 / 3, true},
		{"count X->Y", Count, "X", "Y", 2, true},
		{"count X->A", Count, "X", "A", 1, true},
		// k11 = 2, k12 = 3-2 = 1, k21 = 2-2 = 0, k22 = 4-3-2+2 = 1; N = 4.
		// Row sums 3, 1; column sums 2, 2. Positive: 2/3 > 0/1.
		// G^2 = 2*[2 ln(2*4/(3*2)) + 1 ln(1*4/(3*2)) + 0 + 1 ln(1*4/(1*2))]
		//     = 2*[2 ln(4/3) + ln(2/3) + ln 2] = 2 ln(64/27) = 1.726092...
		{"llr X->Y", LLR, "X", "Y", 2 * math.Log(64.0/27), true},
		// k11 = 1, k12 = 2, k21 = 0, k22 = 1. Rows 3, 1; columns 1, 3.
		// G^2 = 2*[1 ln(1*4/(3*1)) + 2 ln(2*4/(3*3)) + 1 ln(1*4/(1*3))]
		//     = 2*[ln(4/3) + 2 ln(8/9) + ln(4/3)] = 2 ln(16/9 * 64/81) = 2 ln(1024/729)
		{"llr X->A", LLR, "X", "A", 2 * math.Log(1024.0/729), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Score(tc.m, w.row(tc.x), w.candidate(tc.x, tc.y), g)
			if ok != tc.wantsDef {
				t.Fatalf("defined = %v, want %v", ok, tc.wantsDef)
			}
			if relDiff(got, tc.want) > 1e-12 {
				t.Errorf("score = %.17g, want %.17g", got, tc.want)
			}
		})
	}
}

// TestPriorShrinksRarePairs: the prior changes the order only where E_XY is
// tiny. A pair of rare items seen twice (E near 0) tops the plain 2017
// list; with the prior, a pair with many excess co-buyers ranks first, and
// two candidates with large expectations keep their plain order.
func TestPriorShrinksRarePairs(t *testing.T) {
	g := Globals{Total: 1_000_000, Customers: 100_000}
	row := Row{Item: "X", Buyers: 1000, Hist: []HistBin{{Others: 9, Customers: 1000}}}
	tests := []struct {
		name string
		m    Method
		want []string
	}{
		{"plain: the rare pair first", Amazon2017, []string{"rare", "staple", "common"}},
		{"prior: excess co-buyers first", Amazon2017Prior, []string{"staple", "common", "rare"}},
	}
	row.Candidates = []Candidate{
		{Item: "rare", Support: 2, Buyers: 2},          // E = 1000*(1-(1-2e-6)^9) ~ 0.018
		{Item: "staple", Support: 250, Buyers: 20_000}, // E ~ 166, 84 excess
		{Item: "common", Support: 80, Buyers: 5_000},   // E ~ 44, 36 excess
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := RelatedList(tc.m, row, g, DefaultListRules())
			var got []string
			for _, r := range l {
				got = append(got, r.Item)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("list = %v, want %v", got, tc.want)
			}
		})
	}
	// Where E dominates the prior, the prior barely moves the score.
	big := Candidate{Item: "staple", Support: 250, Buyers: 20_000}
	plain, _ := Score(Amazon2017, row, big, g)
	prior, _ := Score(Amazon2017Prior, row, big, g)
	if r := prior / plain; r < 0.9 || r >= 1 {
		t.Errorf("prior/plain = %v for E ~ 166, want in [0.9, 1)", r)
	}
}

// TestScoreUndefined: the cases where a score has no value and must not be
// ranked. Inconsistent counters count as undefined too.
func TestScoreUndefined(t *testing.T) {
	g := Globals{Total: 100, Customers: 20}
	row := Row{Item: "X", Buyers: 5, Hist: []HistBin{{Others: 4, Customers: 5}}}
	tests := []struct {
		name string
		m    Method
		row  Row
		c    Candidate
		g    Globals
	}{
		{"amazon2017 N=0", Amazon2017, row, Candidate{"Y", 0, 3}, g},
		{"cosine N=0", Cosine, row, Candidate{"Y", 0, 3}, g},
		{"jaccard N=0", Jaccard, row, Candidate{"Y", 0, 3}, g},
		{"llr N=0", LLR, row, Candidate{"Y", 0, 3}, g},
		{"count N=0", Count, row, Candidate{"Y", 0, 3}, g},
		{"count N<0", Count, row, Candidate{"Y", -1, 3}, g},
		{"unknown method", Method("lift"), row, Candidate{"Y", 2, 3}, g},

		// E_XY = 0: X's buyers hold nothing else, so nothing is expected
		// (and N_XY >= 1 is then impossible anyway).
		{"amazon2017 E=0", Amazon2017, Row{Item: "X", Buyers: 5, Hist: []HistBin{{0, 5}}}, Candidate{"Y", 1, 3}, g},
		{"amazon2017 empty hist", Amazon2017, Row{Item: "X", Buyers: 5}, Candidate{"Y", 1, 3}, g},
		{"amazon2017 B_Y > T", Amazon2017, row, Candidate{"Y", 2, 101}, g},
		{"amazon2017 N > B_Y", Amazon2017, row, Candidate{"Y", 4, 3}, g},
		{"amazon2017 T = 0", Amazon2017, row, Candidate{"Y", 2, 3}, Globals{}},
		{"cosine N > B_X", Cosine, row, Candidate{"Y", 6, 7}, g},
		{"cosine N > B_Y", Cosine, row, Candidate{"Y", 3, 2}, g},
		{"jaccard N > B_Y", Jaccard, row, Candidate{"Y", 3, 2}, g},

		// k11 = 1, k12 = 4, k21 = 4, k22 = 11: 1/5 < 4/15 is negative association.
		{"llr negative association", LLR, row, Candidate{"Y", 1, 5}, g},
		// C = 20, B_X = 5, B_Y = 4, N = 1: 1/5 = 3/15 is independence (G^2 = 0).
		{"llr independence", LLR, row, Candidate{"Y", 1, 4}, g},
		// k22 = C - B_X - B_Y + N = 20 - 5 - 18 + 2 < 0: no table has these margins.
		{"llr k22 < 0", LLR, row, Candidate{"Y", 2, 18}, g},
		{"llr N > B_Y", LLR, row, Candidate{"Y", 3, 2}, g},
		{"llr N > B_X", LLR, row, Candidate{"Y", 6, 7}, g},
		// Every customer holds X: there is no "without X" row to compare with.
		{"llr C = B_X", LLR, row, Candidate{"Y", 2, 3}, Globals{Total: 100, Customers: 5}},
		{"llr B_X > C", LLR, row, Candidate{"Y", 2, 3}, Globals{Total: 100, Customers: 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s, ok := Score(tc.m, tc.row, tc.c, tc.g); ok {
				t.Errorf("Score = %v, defined; want undefined", s)
			}
		})
	}
}

// TestLLRMatchesDirectFormula: Mahout's entropy form equals the textbook
// G^2 = 2 * sum k_ij ln(k_ij N / (R_i C_j)) (empty cells contribute 0).
func TestLLRMatchesDirectFormula(t *testing.T) {
	direct := func(k11, k12, k21, k22 int64) float64 {
		k := [2][2]float64{{float64(k11), float64(k12)}, {float64(k21), float64(k22)}}
		n := k[0][0] + k[0][1] + k[1][0] + k[1][1]
		r := [2]float64{k[0][0] + k[0][1], k[1][0] + k[1][1]}
		c := [2]float64{k[0][0] + k[1][0], k[0][1] + k[1][1]}
		sum := 0.0
		for i := range 2 {
			for j := range 2 {
				if k[i][j] > 0 {
					sum += k[i][j] * math.Log(k[i][j]*n/(r[i]*c[j]))
				}
			}
		}
		return 2 * sum
	}
	tests := []struct {
		c, bx, by, n int64
		tol          float64
	}{
		{10, 4, 5, 3, 1e-12},
		{4, 3, 2, 2, 1e-12},
		{1000, 30, 40, 12, 1e-12},
		{1000, 30, 30, 30, 1e-12}, // k12 = k21 = 0
		{50, 49, 2, 2, 1e-12},     // k22 = 1
		// Large C: the entropy form subtracts terms near C ln C = 1.4e7 to get
		// G^2 = O(100), so about 1e-16 * 1e7 / 1e2 = 1e-11 of relative error
		// is to be expected (Mahout has it too). Scores are compared at
		// 1e-9, and both sides of promise 2 call this same code.
		{1_000_000, 2_000, 3_000, 40, 1e-9},
	}
	for _, tc := range tests {
		row := Row{Item: "X", Buyers: tc.bx}
		got, ok := Score(LLR, row, Candidate{"Y", tc.n, tc.by}, Globals{Total: 1 << 40, Customers: tc.c})
		want := direct(tc.n, tc.bx-tc.n, tc.by-tc.n, tc.c-tc.bx-tc.by+tc.n)
		if !ok || relDiff(got, want) > tc.tol {
			t.Errorf("C=%d B_X=%d B_Y=%d N=%d: LLR = %.17g (defined %v), direct G^2 = %.17g",
				tc.c, tc.bx, tc.by, tc.n, got, ok, want)
		}
	}
}

// TestHeavyBuyerEffect is the 2017 paper's point. X_light and X_heavy each
// have 4 buyers, and 2 of each item's buyers also hold Y. The 2003-era scores
// cannot tell the two apart. But X_heavy's buyers hold 39 other items each:
// with P_Y = 4/168 they hold Y by chance about 2.4 times out of 4, so 2
// co-buyers are no evidence at all. X_light's buyers hold 1 other item each,
// so 2 co-buyers are far above the 0.1 expected.
//
// The effect works through h_X, in X's own list. In Y's list, X_light and
// X_heavy have equal counts (N = 2, B = 4), so they get equal scores and the
// id decides: the score is directional.
func TestHeavyBuyerEffect(t *testing.T) {
	h := map[string][]string{
		"light1": {"Xlight", "Y"},
		"light2": {"Xlight", "Y"},
		"light3": {"Xlight", "P"},
		"light4": {"Xlight", "Q"},
	}
	for i, c := range []string{"heavy1", "heavy2", "heavy3", "heavy4"} {
		items := []string{"Xheavy"}
		if i < 2 {
			items = append(items, "Y")
		}
		for len(items) < 40 { // each heavy buyer holds 39 items besides Xheavy
			items = append(items, c+"-filler-"+strings.Repeat("f", len(items)))
		}
		h[c] = items
	}
	w := fromHistories(t, h)
	light, heavy := w.row("Xlight"), w.row("Xheavy")
	cl, ch := w.candidate("Xlight", "Y"), w.candidate("Xheavy", "Y")
	if cl != ch || light.Buyers != heavy.Buyers {
		t.Fatalf("story broken: Y in Xlight %+v, in Xheavy %+v", cl, ch)
	}
	for _, m := range []Method{Cosine, Jaccard, Count} {
		sl, _ := Score(m, light, cl, w.g)
		sh, _ := Score(m, heavy, ch, w.g)
		if sl != sh {
			t.Errorf("%s: %v vs %v; the 2003-era scores should not see the difference", m, sl, sh)
		}
	}
	// T = 4*2 + 4*40 = 168; P_Y = 4/168.
	// E(Xlight, Y) = 4*(1-(1-P_Y)^1)  = 0.095;  S = (2-0.095)/sqrt(0.095) = +6.2
	// E(Xheavy, Y) = 4*(1-(1-P_Y)^39) = 2.44;   S = (2-2.44)/sqrt(2.44)  = -0.28
	sl, _ := Score(Amazon2017, light, cl, w.g)
	sh, _ := Score(Amazon2017, heavy, ch, w.g)
	if !(sl > 6 && sh < 0) {
		t.Errorf("amazon2017: S(Xlight,Y) = %v, S(Xheavy,Y) = %v; want about +6.2 and -0.28", sl, sh)
	}
	if got := RelatedList(Amazon2017, light, w.g, DefaultListRules()); len(got) != 1 || got[0].Item != "Y" {
		t.Errorf("Xlight's list = %v, want [Y]", got)
	}
	if got := RelatedList(Amazon2017, heavy, w.g, DefaultListRules()); len(got) != 0 {
		t.Errorf("Xheavy's list = %v, want empty: Y is what heavy buyers hold by chance", got)
	}
	// In Y's list both have N = 2 and B = 4: equal bits, id order.
	got := RelatedList(Amazon2017, w.row("Y"), w.g, DefaultListRules())
	if len(got) != 2 || got[0].Item != "Xheavy" || got[1].Item != "Xlight" || got[0].Score != got[1].Score {
		t.Errorf("Y's list = %v, want Xheavy and Xlight with equal scores", got)
	}
}

func TestViewedThenBought(t *testing.T) {
	tests := []struct {
		name                 string
		mXY, mX, buyers, tot int64
		want                 float64
		defined              bool
	}{
		// P_Y = 2/20 = 0.1; E = 10*0.1 = 1; S = (3-1)/sqrt(1) = 2
		{"above chance", 3, 10, 2, 20, 2, true},
		// P_Y = 10/100; E = 100*0.1 = 10; S = (1-10)/sqrt(10) = -2.846...
		{"below chance is defined but negative", 1, 100, 10, 100, -9 / math.Sqrt(10), true},
		// P_Y = 1/1000; E = 4*0.001 = 0.004; S = (4-0.004)/sqrt(0.004) = 63.18...
		{"every viewer bought Y", 4, 4, 1, 1000, 3.996 / math.Sqrt(0.004), true},
		{"M_XY = 0", 0, 10, 2, 20, 0, false},
		{"M_XY > M_X", 11, 10, 2, 20, 0, false},
		{"B_Y = 0", 3, 10, 0, 20, 0, false},
		{"B_Y > T", 3, 10, 21, 20, 0, false},
		{"T = 0", 3, 10, 2, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ViewedThenBought(tc.mXY, tc.mX, tc.buyers, tc.tot)
			if ok != tc.defined {
				t.Fatalf("defined = %v, want %v (score %v)", ok, tc.defined, got)
			}
			if ok && relDiff(got, tc.want) > 1e-12 {
				t.Errorf("score = %.17g, want %.17g", got, tc.want)
			}
		})
	}
}

func TestParseMethod(t *testing.T) {
	for _, m := range Methods() {
		got, err := ParseMethod(string(m))
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %q, %v", m, got, err)
		}
	}
	if got, err := ParseMethod("  LLR "); err != nil || got != LLR {
		t.Errorf(`ParseMethod("  LLR ") = %q, %v; flags and env vars are case- and space-tolerant`, got, err)
	}
	for _, bad := range []string{"", "lift", "amazon"} {
		_, err := ParseMethod(bad)
		if err == nil {
			t.Errorf("ParseMethod(%q) succeeded", bad)
			continue
		}
		if !strings.Contains(err.Error(), "amazon2017_prior, amazon2017, cosine, jaccard, llr, count") {
			t.Errorf("error %q does not list the valid names", err)
		}
	}
	if ms := Methods(); ms[0] != DefaultMethod || DefaultMethod != Amazon2017Prior || len(ms) != 6 {
		t.Errorf("Methods() = %v, want 6 methods, default amazon2017_prior first", ms)
	}
	ms := Methods()
	ms[0] = "changed"
	if Methods()[0] != DefaultMethod {
		t.Error("Methods() returns shared state")
	}
}
