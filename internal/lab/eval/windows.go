package eval

import (
	"fmt"
	"time"
)

// Window is one evaluation window: lists are trained on the events before
// Cutoff, and customers (or sessions) are judged on [Cutoff, End).
type Window struct {
	Cutoff, End time.Time
}

// Windows places the evaluation windows over events from first to last
// (docs/DESIGN.md section 7):
//
//   - cutoff given: n consecutive horizons starting at it;
//   - auto, one window: the last horizon, or the last fifth of the span
//     when that is longer, so short spans still leave enough to judge;
//   - auto, n windows: n consecutive horizons ending at the last event
//     (prequential evaluation).
//
// Every window needs training events before it and must end by the last
// event (the last window includes it).
func Windows(first, last, cutoff time.Time, n int, horizon time.Duration) ([]Window, error) {
	if n < 1 {
		return nil, fmt.Errorf("windows must be at least 1, got %d", n)
	}
	if horizon <= 0 {
		return nil, fmt.Errorf("horizon must be positive, got %s", horizon)
	}
	if !last.After(first) {
		return nil, fmt.Errorf("the data spans no time (first and last event at %s)", first.Format(time.RFC3339))
	}
	end := last.Add(time.Millisecond) // the last event belongs to the last window
	var ws []Window
	switch {
	case !cutoff.IsZero():
		for i := range n {
			ws = append(ws, Window{Cutoff: cutoff.Add(time.Duration(i) * horizon), End: cutoff.Add(time.Duration(i+1) * horizon)})
		}
		if ws[n-1].End.After(end) {
			ws[n-1].End = end
		}
	case n == 1:
		length := max(horizon, last.Sub(first)/5)
		ws = []Window{{Cutoff: end.Add(-length), End: end}}
	default:
		for i := range n {
			ws = append(ws, Window{Cutoff: end.Add(-time.Duration(n-i) * horizon), End: end.Add(-time.Duration(n-i-1) * horizon)})
		}
	}
	if !ws[0].Cutoff.After(first) {
		return nil, fmt.Errorf("the first cutoff %s leaves no events to train on (data starts %s): use fewer windows, a shorter horizon or a later cutoff",
			ws[0].Cutoff.Format(time.RFC3339), first.Format(time.RFC3339))
	}
	if !ws[n-1].Cutoff.Before(end) {
		return nil, fmt.Errorf("cutoff %s is after the last event (%s): nothing to evaluate",
			ws[n-1].Cutoff.Format(time.RFC3339), last.Format(time.RFC3339))
	}
	return ws, nil
}
