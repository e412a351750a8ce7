package rescore

import (
	"math"
	"slices"
	"testing"
)

// The freshness histogram must tell p99 within 10% wherever the lists'
// freshness lives while the pipeline keeps up (0.1-10 s), and still place
// a backlog against the runbook's 30 s objective.
func TestFreshnessBucketsResolveTenPercentFromATenthToTenSeconds(t *testing.T) {
	b := FreshnessBuckets()
	if !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
		t.Fatalf("bounds not strictly ascending: %v", b)
	}
	if b[0] > 0.1 || b[len(b)-1] < 600 || !slices.Contains(b, 30) {
		t.Errorf("bounds %v..%v, want from at most 0.1 s to at least 600 s, with 30 s", b[0], b[len(b)-1])
	}
	covered := false
	for i := 1; i < len(b); i++ {
		lo, hi := b[i-1], b[i]
		if hi <= 0.1 || lo >= 10 {
			continue
		}
		if hi/lo > 1.1+1e-12 {
			t.Errorf("bucket (%g, %g] is %.1f%% wide, want at most 10%%", lo, hi, 100*(hi/lo-1))
		}
		if lo <= 0.1 {
			covered = true
		}
		if hi >= 10 && math.Abs(hi-10) > 1e-9 {
			t.Errorf("the fine range should end at 10 s, not %g", hi)
		}
	}
	if !covered {
		t.Error("no bucket starts at or below 0.1 s")
	}
}
