package rescore

import (
	"math"
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

func TestBusyShareFollowsTheLastSecond(t *testing.T) {
	for _, tc := range []struct {
		name           string
		prev           float64
		spent, elapsed time.Duration
		want           float64
	}{
		{"an idle poll lowers it by its weight", 0.5, 0, 200 * time.Millisecond, 0.5 * math.Exp(-0.2)},
		{"a busy poll raises it by its weight", 0, 200 * time.Millisecond, 200 * time.Millisecond, -math.Expm1(-0.2)},
		{"a poll longer than its interval counts as busy", 0, 3 * time.Second, time.Second, -math.Expm1(-1)},
		{"a drain of seconds is almost all of it", 0, 5 * time.Second, 5 * time.Second, -math.Expm1(-5)},
		{"no time elapsed changes nothing", 0.3, 0, 0, 0.3},
		{"steady half busy stays", 0.5, 100 * time.Millisecond, 200 * time.Millisecond, 0.5},
	} {
		if got := busyShare(tc.prev, tc.spent, tc.elapsed); got < tc.want-1e-12 || got > tc.want+1e-12 {
			t.Errorf("%s: busyShare(%g, %s, %s) = %g, want %g", tc.name, tc.prev, tc.spent, tc.elapsed, got, tc.want)
		}
	}
}
