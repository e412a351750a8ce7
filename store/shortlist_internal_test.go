package store

import (
	"testing"

	"github.com/alsobought/alsobought/scoring"
)

// TestNthHighestSupport: the support a shortlist's first candidates must
// reach is the n-th highest, ties counted, the lowest when a row has fewer
// candidates, and 0 (every candidate) when there is none to find.
func TestNthHighestSupport(t *testing.T) {
	for _, tc := range []struct {
		name     string
		supports []int64
		n        int
		want     int64
	}{
		{"third highest", []int64{5, 9, 2, 7, 3, 8}, 3, 7},
		{"highest", []int64{5, 9, 2}, 1, 9},
		{"ties count once each", []int64{4, 4, 4, 1, 4}, 3, 4},
		{"fewer candidates than n: the lowest", []int64{6, 3, 9}, 20, 3},
		{"as many as n", []int64{6, 3, 9}, 3, 3},
		{"no candidates", nil, 5, 0},
		{"n of 0: every candidate is first", []int64{6, 3}, 0, 0},
	} {
		var cands []scoring.Candidate
		for _, s := range tc.supports {
			cands = append(cands, scoring.Candidate{Support: s})
		}
		if got, _ := nthHighestSupport(cands, tc.n, nil); got != tc.want {
			t.Errorf("%s: nthHighestSupport(%v, %d) = %d, want %d", tc.name, tc.supports, tc.n, got, tc.want)
		}
	}
}
