package rescore

import (
	"testing"
	"time"
)

func TestGatherForGrowsWithTheBusyShare(t *testing.T) {
	for _, tc := range []struct {
		name         string
		busy, budget float64
		want         time.Duration
	}{
		{"idle: at once", 0, 0.5, 0},
		{"half the budget: at once", 0.25, 0.5, 0},
		{"three quarters of the budget: half the interval", 0.375, 0.5, 500 * time.Millisecond},
		{"budget spent: the whole interval", 0.5, 0.5, time.Second},
		{"over the budget: never more than the interval", 1, 0.5, time.Second},
		{"no budget: always the interval", 0, 0, time.Second},
	} {
		if got := gatherFor(tc.busy, tc.budget, time.Second); got != tc.want {
			t.Errorf("%s: gatherFor(%g, %g) = %s, want %s", tc.name, tc.busy, tc.budget, got, tc.want)
		}
	}
}

func TestBusyShareFollowsThePolls(t *testing.T) {
	for _, tc := range []struct {
		name           string
		prev           float64
		spent, elapsed time.Duration
		want           float64
	}{
		{"an idle poll lowers it", 0.5, 0, time.Second, 0.4},
		{"a busy poll raises it", 0, time.Second, time.Second, busyWeight},
		{"a poll longer than its interval counts as busy", 0, 3 * time.Second, time.Second, busyWeight},
		{"no time elapsed counts as busy", 0, 0, 0, busyWeight},
		{"steady half busy stays", 0.5, 100 * time.Millisecond, 200 * time.Millisecond, 0.5},
	} {
		if got := busyShare(tc.prev, tc.spent, tc.elapsed); got < tc.want-1e-12 || got > tc.want+1e-12 {
			t.Errorf("%s: busyShare(%g, %s, %s) = %g, want %g", tc.name, tc.prev, tc.spent, tc.elapsed, got, tc.want)
		}
	}
}
