package scoring

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBinsOf(t *testing.T) {
	tests := []struct {
		bins Bins
		n    int64
		want int64
	}{
		{ExactBins, 0, 0},
		{ExactBins, 1, 1},
		{ExactBins, 199, 199},
		{LogBins, 0, 0},
		{LogBins, 7, 7},   // below LogBinsExact: a bin per n
		{LogBins, 8, 8},   // [8,9]
		{LogBins, 9, 8},   // [8,9]
		{LogBins, 10, 10}, // [10,11]
		{LogBins, 15, 14}, // [14,15]
		{LogBins, 16, 17}, // [16,19]
		{LogBins, 19, 17},
		{LogBins, 20, 21},   // [20,23]
		{LogBins, 127, 119}, // [112,127]
		{LogBins, 128, 143}, // [128,159]
		{LogBins, 199, 207}, // [192,223]
		{LogBins, 1 << 20, 1<<20 + (1<<18-1)/2},
		{"", 9, 8}, // the zero Bins is DefaultBins
	}
	for _, tc := range tests {
		if got := tc.bins.Of(tc.n); got != tc.want {
			t.Errorf("%s.Of(%d) = %d, want %d", tc.bins, tc.n, got, tc.want)
		}
	}
}

// TestLogBinsProperties: a customer's bin never moves backwards as its
// history grows, a bin's name is in the bin (so binning the state's own
// fields again changes nothing), and no n is counted more than 12.5% away
// from its own value.
func TestLogBinsProperties(t *testing.T) {
	prev := int64(-1)
	for n := int64(0); n <= 100_000; n++ {
		b := LogBins.Of(n)
		if b < prev {
			t.Fatalf("Of(%d) = %d below Of(%d) = %d", n, b, n-1, prev)
		}
		if LogBins.Of(b) != b {
			t.Fatalf("Of(Of(%d)) = %d, want %d", n, LogBins.Of(b), b)
		}
		if n >= 1 && math.Abs(float64(b-n)) > 0.125*float64(n) {
			t.Fatalf("Of(%d) = %d: more than 12.5%% off", n, b)
		}
		prev = b
	}
}

// TestLogBinsMoves: the reason for the binning. A history growing from 8 to
// 200 items (n from 7 to 199) moves its customer at every step with exact
// bins and at 19 bin edges with log bins.
func TestLogBinsMoves(t *testing.T) {
	for _, tc := range []struct {
		bins Bins
		want int
	}{{ExactBins, 192}, {LogBins, 19}} {
		moves := 0
		for n := int64(8); n <= 199; n++ {
			if tc.bins.Of(n-1) != tc.bins.Of(n) {
				moves++
			}
		}
		if moves != tc.want {
			t.Errorf("%s: %d moves from 8 to 200 items, want %d", tc.bins, moves, tc.want)
		}
	}
}

// TestLogBinsExpectedClose: E_XY from a log-binned histogram stays within
// a few percent of the exact one on histograms of every shape, from rare
// to nearly certain Y.
func TestLogBinsExpectedClose(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		exact := randomHist(rng, 1+rng.IntN(300))
		merged := map[int64]int64{}
		for _, b := range exact {
			merged[LogBins.Of(b.Others)] += b.Customers
		}
		var binned []HistBin
		for n, c := range merged {
			binned = append(binned, HistBin{Others: n, Customers: c})
		}
		total := int64(1_000_000)
		for _, buyers := range []int64{1, 100, 10_000, 200_000} {
			want, got := Expected(exact, buyers, total), Expected(binned, buyers, total)
			if relDiff(got, want) > 0.05 {
				t.Fatalf("trial %d, P_Y = %g: log-binned E = %g, exact %g", trial, float64(buyers)/float64(total), got, want)
			}
		}
	}
}

func TestParseBins(t *testing.T) {
	for in, want := range map[string]Bins{"log": LogBins, " Exact ": ExactBins} {
		if got, err := ParseBins(in); err != nil || got != want {
			t.Errorf("ParseBins(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseBins("linear"); err == nil {
		t.Error("ParseBins(linear): no error")
	}
}
