package recommend

import (
	"strconv"
	"testing"

	"github.com/alsobought/alsobought/scoring"
)

// BenchmarkMerge ranks a full request: 10 purchases and 10 views with
// lists of 20 (30 lists, overlapping items), 100 popular items, 200 owned.
func BenchmarkMerge(b *testing.B) {
	item := func(i int) string { return "item" + strconv.Itoa(i) }
	list := func(seed int) []scoring.Related {
		l := make([]scoring.Related, 20)
		for i := range l {
			l[i] = scoring.Related{Item: item((seed*7 + i*13) % 500), Score: float64(20 - i), Support: int64(2 + 20 - i), Expected: 0.5 + float64(i)/10}
		}
		return l
	}
	var sources []Source
	for i := range MaxSources {
		sources = append(sources, Source{Item: item(1000 + i), Bought: true, Rank: i, AlsoBought: list(i)})
		sources = append(sources, Source{Item: item(2000 + i), Rank: i, ViewedBought: list(100 + i), AlsoViewed: list(200 + i)})
	}
	req := Request{K: 6, Owned: map[string]bool{}, Exclude: map[string]bool{}, Prior: Prior{Total: 50000, Distinct: 9000, RepeatShare: 0.07}}
	for i := range 100 {
		req.Prior.Popular = append(req.Prior.Popular, scoring.Popular{Item: item(i * 3), Count: int64(1000 - 9*i)})
	}
	for i := range 200 {
		req.Owned[item(i*5)] = true
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(Merge(sources, req)) != 6 {
			b.Fatal("short answer")
		}
	}
}
