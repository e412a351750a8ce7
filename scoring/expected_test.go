package scoring

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestExpectedHandComputed: E_XY = sum over n >= 1 of h_X[n]*(1-(1-P_Y)^n).
func TestExpectedHandComputed(t *testing.T) {
	tests := []struct {
		name          string
		hist          []HistBin
		buyers, total int64
		want          float64
	}{
		// p = 0.2: 2*(1-0.8) + 1*(1-0.512) = 0.4 + 0.488
		{"small story", []HistBin{{1, 2}, {3, 1}}, 2, 10, 0.888},
		{"any input order", []HistBin{{3, 1}, {1, 2}}, 2, 10, 0.888},
		// n = 0: customers who hold only X have no chance to hold Y.
		{"n=0 contributes nothing", []HistBin{{0, 7}, {1, 2}, {3, 1}}, 2, 10, 0.888},
		// h_X[1] is one count, even if the store returns it in two pieces.
		{"repeated Others merged", []HistBin{{1, 1}, {3, 1}, {1, 1}}, 2, 10, 0.888},
		{"zero bins ignored", []HistBin{{5, 0}, {1, 2}, {3, 1}}, 2, 10, 0.888},
		// p = 1/4: 4 * (1 - 0.75^2) = 4 * 0.4375
		{"one bin", []HistBin{{2, 4}}, 1, 4, 1.75},
		// p = 1 (every purchase is Y): every customer with n >= 1 holds Y.
		{"p = 1", []HistBin{{1, 3}, {9, 2}}, 8, 8, 5},
		{"B_Y = 0", []HistBin{{1, 3}}, 0, 8, 0},
		{"T = 0", []HistBin{{1, 3}}, 0, 0, 0},
		{"empty histogram", nil, 2, 10, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Expected(tc.hist, tc.buyers, tc.total); relDiff(got, tc.want) > 1e-15 {
				t.Errorf("Expected = %.17g, want %.17g", got, tc.want)
			}
		})
	}
	if got := Expected([]HistBin{{1, 3}}, 9, 8); !math.IsNaN(got) {
		t.Errorf("B_Y > T: Expected = %v, want NaN (no histories give P_Y > 1)", got)
	}
}

// TestExpectedBitIdentical: the sum runs in ascending Others whatever the
// input order, so a shuffled histogram gives the same bits. With a fixed
// order, two items with equal counts always get exactly equal scores.
// Expected must not reorder the caller's slice either.
func TestExpectedBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hist := randomHist(rng, 300)
	want := Expected(hist, 1234, 987_654)
	differs := false
	for range 50 {
		rng.Shuffle(len(hist), func(i, j int) { hist[i], hist[j] = hist[j], hist[i] })
		in := slices.Clone(hist)
		if got := Expected(hist, 1234, 987_654); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("shuffled histogram: %.17g, want %.17g bit for bit", got, want)
		}
		if !slices.Equal(in, hist) {
			t.Fatal("Expected modified the caller's histogram")
		}
		// The point of the fixed order: summing in input order would not
		// always give these bits.
		if naiveSum(hist, 1234, 987_654) != want {
			differs = true
		}
	}
	if !differs {
		t.Error("summing in input order never changed the last bits; this test no longer shows why the order is fixed")
	}
}

func naiveSum(hist []HistBin, by, total int64) float64 {
	l := math.Log1p(-float64(by) / float64(total))
	e := 0.0
	for _, b := range hist {
		if b.Others > 0 {
			e += float64(float64(b.Customers) * -math.Expm1(float64(b.Others)*l))
		}
	}
	return e
}

func randomHist(rng *rand.Rand, bins int) []HistBin {
	h := make([]HistBin, bins)
	for i := range h {
		h[i] = HistBin{Others: int64(i + 1), Customers: 1 + rng.Int64N(5000)/int64(i+1)}
	}
	return h
}

// chanceRef is 1-(1-p)^n to 512 bits: the reference for the precision tests.
func chanceRef(n int64, p float64) float64 {
	const prec = 512
	one := new(big.Float).SetPrec(prec).SetInt64(1)
	q := new(big.Float).SetPrec(prec).Sub(one, new(big.Float).SetPrec(prec).SetFloat64(p)) // exact: 1-p needs < 512 bits
	pow := new(big.Float).SetPrec(prec).SetInt64(1)
	for base, k := q, n; k > 0; k >>= 1 { // square and multiply
		if k&1 == 1 {
			pow.Mul(pow, base)
		}
		base = new(big.Float).SetPrec(prec).Mul(base, base)
	}
	f, _ := new(big.Float).SetPrec(prec).Sub(one, pow).Float64()
	return f
}

// alternatingSeries is the 2017 paper's Figure 1 expansion,
// 1-(1-p)^n = sum_{k=1..n} (-1)^(k+1) C(n,k) p^k, in float64. Precomputing
// alpha_k(X) and summing alpha_k*P_Y^k evaluates this same series.
func alternatingSeries(n int64, p float64) float64 {
	sum, term := 0.0, 1.0
	for k := int64(1); k <= n; k++ {
		term *= float64(n-k+1) / float64(k) * p // C(n,k) p^k
		if k%2 == 1 {
			sum += term
		} else {
			sum -= term
		}
	}
	return sum
}

// TestChancePrecision: how 1-(1-p)^n is computed matters. The expm1/log1p
// form stays within a few ulps of a 512-bit reference everywhere. The
// alternatives fail promise 2's 1e-9 tolerance by far where real data
// lives: tiny P_Y (long-tail items) and hundreds of purchases per customer.
func TestChancePrecision(t *testing.T) {
	tests := []struct {
		n             int64
		buyers, total int64 // P_Y = buyers/total
		naivePowFails bool  // 1-math.Pow(1-p, n) is off by more than 1e-9
		seriesFails   bool  // the alternating series is off by more than 1e-9
	}{
		{1000, 1, 1_000_000_000, true, false}, // p = 1e-9: 1-p rounds, about 7 digits lost
		{200, 1, 100_000_000, true, false},    // p = 1e-8
		{1, 1, 1_000_000_000, true, false},    // even n = 1
		{200, 1, 100, false, false},           // p = 0.01, n*p = 2: the series still works
		{500, 1, 20, false, true},             // p = 0.05, n*p = 25: terms near 1e9 cancel to below 1
		{1000, 1, 20, false, true},            // n*p = 50: terms near 1e20, no digit survives
		{5000, 1, 1000, false, false},         // p = 0.001, n*p = 5
		{200, 1, 2, false, true},              // p = 0.5
	}
	for _, tc := range tests {
		p := float64(tc.buyers) / float64(tc.total)
		ref := chanceRef(tc.n, p)
		ours := Expected([]HistBin{{Others: tc.n, Customers: 1}}, tc.buyers, tc.total)
		naive := 1 - math.Pow(1-p, float64(tc.n))
		series := alternatingSeries(tc.n, p)
		t.Logf("n=%4d p=%-6g relative error: expm1/log1p %.1e, naive pow %.1e, alternating series %.1e",
			tc.n, p, relDiff(ours, ref), relDiff(naive, ref), relDiff(series, ref))
		if e := relDiff(ours, ref); e > 1e-14 {
			t.Errorf("n=%d p=%g: -expm1(n*log1p(-p)) off by %.3g (got %.17g, reference %.17g)", tc.n, p, e, ours, ref)
		}
		if e := relDiff(naive, ref); (e > 1e-9) != tc.naivePowFails {
			t.Errorf("n=%d p=%g: 1-pow(1-p,n) relative error %.3g; expected failing = %v", tc.n, p, e, tc.naivePowFails)
		}
		if e := relDiff(series, ref); (e > 1e-9) != tc.seriesFails {
			t.Errorf("n=%d p=%g: alternating series relative error %.3g; expected failing = %v", tc.n, p, e, tc.seriesFails)
		}
	}
}

// TestExpectedPrecisionAgainstBigFloat: the whole E_XY for a 300-bin
// histogram agrees with a 512-bit evaluation, for a long-tail item and a
// best-seller.
func TestExpectedPrecisionAgainstBigFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	hist := randomHist(rng, 300)
	const total = 5_000_000
	for _, by := range []int64{1, 7, 5_000, 250_000} {
		p := float64(by) / total
		ref := new(big.Float).SetPrec(512)
		for _, b := range hist {
			term := new(big.Float).SetPrec(512).SetFloat64(chanceRef(b.Others, p))
			ref.Add(ref, term.Mul(term, new(big.Float).SetInt64(b.Customers)))
		}
		want, _ := ref.Float64()
		if got := Expected(hist, by, total); relDiff(got, want) > 1e-13 {
			t.Errorf("B_Y=%d: Expected = %.17g, reference %.17g (relative error %.3g)", by, got, want, relDiff(got, want))
		}
	}
}
