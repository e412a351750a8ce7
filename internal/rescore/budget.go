package rescore

import (
	"math"
	"time"
)

// The re-scoring budget (docs/DESIGN.md §4): while re-scoring takes little
// of the re-scorer's time, a dirty list is re-scored at the next poll; as
// it takes more, a list's first mark must be older before it is taken, up
// to the whole MinInterval once the budget is spent, so that the changes of
// a busy stream gather into fewer re-scores of each list instead of
// re-scoring it at every poll it is touched in.

// DefaultBudget is Config.Budget's default: the whole of the re-scorer's
// time. Busy is measured in wall time (Redis's work included), so a
// re-scorer busy all of the time is saturated: marks start to gather at
// half of that and gather for the whole interval at saturation, where
// re-scoring each list once per interval is all the re-scorer can do.
const DefaultBudget = 1.0

// busyWindow is how far back the busy share looks: a poll weighs
// 1 - e^(-elapsed/busyWindow), so about the last second counts however
// long the polls are (a 200 ms poll weighs 0.18, a drain of several
// seconds under load almost all).
const busyWindow = time.Second

// busyShare returns the busy share after a poll that spent spent of
// elapsed re-scoring: an exponentially time-weighted mean of the polls'
// shares, each at most 1. Weighing by the polls' count instead made a
// loaded re-scorer, whose polls drain for seconds, take tens of seconds to
// notice it was busy.
func busyShare(prev float64, spent, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return prev
	}
	share := 1.0
	if spent < elapsed {
		share = max(spent.Seconds()/elapsed.Seconds(), 0)
	}
	weight := -math.Expm1(-elapsed.Seconds() / busyWindow.Seconds())
	return prev + weight*(share-prev)
}

// gatherFor returns how old a list's first mark must be before the list is
// re-scored, at a busy share against the budget: nothing up to half the
// budget, the whole minInterval from the budget on, in proportion between.
func gatherFor(busy, budget float64, minInterval time.Duration) time.Duration {
	switch {
	case budget <= 0 || busy >= budget:
		return minInterval
	case busy <= budget/2:
		return 0
	}
	return time.Duration(float64(minInterval) * (busy - budget/2) / (budget / 2))
}
