package scoring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchRow builds a consistent, realistically skewed row. Histogram sizes
// decay like 1/n. B_Y follows a Zipf law, so many candidates share small B_Y
// values, as in real catalogues. N_XY <= min(B_X, B_Y), and the LLR table
// stays non-negative. With distinctBuyers every candidate has its own B_Y:
// the worst case for the E_XY memo.
func benchRow(rng *rand.Rand, candidates, bins int, distinctBuyers bool) (Row, Globals) {
	g := Globals{Total: 20_000_000, Customers: 400_000}
	row := Row{Item: "X"}
	for i := range bins {
		n := int64(i + 1)
		c := 1 + 3000/n + rng.Int64N(5)
		row.Hist = append(row.Hist, HistBin{Others: n, Customers: c})
		row.Buyers += c
	}
	zipfB := rand.NewZipf(rng, 1.3, 1, 50_000)
	for i := range candidates {
		by := 1 + int64(zipfB.Uint64())
		if distinctBuyers {
			by = 1 + int64(i)*17
		}
		maxN := min(by, row.Buyers)
		n := 1 + int64(rand.NewZipf(rng, 1.5, 1, uint64(maxN-1)).Uint64())
		row.Candidates = append(row.Candidates, Candidate{Item: fmt.Sprintf("item-%06d", i), Support: n, Buyers: by})
	}
	return row, g
}

func benchmarkRelatedList(b *testing.B, m Method, distinctBuyers bool, rules ListRules) {
	rng := rand.New(rand.NewPCG(42, 43))
	row, g := benchRow(rng, 2000, 300, distinctBuyers)
	// Report how much work a row is: candidates past the support filter, and
	// how many distinct B_Y values (E_XY computations) they have.
	scored, distinct := 0, map[int64]bool{}
	for _, c := range row.Candidates {
		if c.Support >= max(rules.MinSupport, 1) {
			scored++
			distinct[c.Buyers] = true
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if l := RelatedList(m, row, g, rules); len(l) != rules.Size {
			b.Fatalf("list of %d items", len(l))
		}
	}
	// After the loop: b.Loop's timer reset drops metrics reported before it.
	b.ReportMetric(float64(scored), "scored/op")
	if m == Amazon2017 {
		b.ReportMetric(float64(len(distinct)), "distinctB_Y/op")
	}
}

// A row of 2,000 candidates and a 300-bin histogram, default list rules.
func BenchmarkRelatedListAmazon2017(b *testing.B) {
	benchmarkRelatedList(b, Amazon2017, false, DefaultListRules())
}

// Worst case: every candidate is scored (min support 1), and each has its
// own B_Y, so no E_XY is reused: 2,000 sums of 300 expm1 terms.
func BenchmarkRelatedListAmazon2017WorstCase(b *testing.B) {
	benchmarkRelatedList(b, Amazon2017, true, ListRules{Size: 20, MinSupport: 1})
}

// The served score on the same rows: the row of 2,000 candidates, and
// one where every candidate has its own B_Y.
func BenchmarkRelatedListAmazon2017Prior(b *testing.B) {
	benchmarkRelatedList(b, Amazon2017Prior, false, DefaultListRules())
}

func BenchmarkRelatedListAmazon2017PriorDistinctB(b *testing.B) {
	benchmarkRelatedList(b, Amazon2017Prior, true, DefaultListRules())
}

func BenchmarkRelatedListCosine(b *testing.B) {
	benchmarkRelatedList(b, Cosine, false, DefaultListRules())
}

func BenchmarkRelatedListJaccard(b *testing.B) {
	benchmarkRelatedList(b, Jaccard, false, DefaultListRules())
}

func BenchmarkRelatedListLLR(b *testing.B) {
	benchmarkRelatedList(b, LLR, false, DefaultListRules())
}

func BenchmarkRelatedListCount(b *testing.B) {
	benchmarkRelatedList(b, Count, false, DefaultListRules())
}

// One E_XY over 300 bins, including the histogram copy and sort.
func BenchmarkExpected300Bins(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	hist := randomHist(rng, 300)
	b.ReportAllocs()
	for b.Loop() {
		Expected(hist, 1234, 20_000_000)
	}
}
