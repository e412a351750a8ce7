package httpapi

import (
	"testing"
	"time"

	"github.com/alsobought/alsobought/consumer"
)

// countingConsumer's totals are what the test sets.
type countingConsumer struct{ consumed uint64 }

func (c *countingConsumer) Stats() consumer.Stats { return consumer.Stats{Consumed: c.consumed} }

// The recent window reaches back RecentWindow, from the newest sample at
// least that old; while the process is younger, to its first sample. It
// keeps no more samples than that needs.
func TestRecentWindowReachesBackFiveMinutes(t *testing.T) {
	c := &countingConsumer{}
	r := &Recent{opts: Options{Consumer: c}}
	t0 := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	for i := 0; i <= 60; i++ { // a sample every 10 s for 10 minutes, 100 events a sample
		c.consumed = uint64(100 * i)
		r.sample(t0.Add(time.Duration(i) * recentInterval))
		if i == 3 {
			if b := r.base(t0.Add(35 * time.Second)); !b.at.Equal(t0) {
				t.Errorf("35 s after start the window starts at %v, want the first sample", b.at)
			}
		}
	}
	now := t0.Add(10*time.Minute + 5*time.Second)
	b := r.base(now)
	if want := t0.Add(5 * time.Minute); !b.at.Equal(want) || b.totals[metricConsumed] != 3000 {
		t.Errorf("base at %v with %v consumed, want %v with 3000", b.at, b.totals[metricConsumed], want)
	}
	if n := len(r.samples); n > int(RecentWindow/recentInterval)+2 {
		t.Errorf("%d samples kept for a window of %s every %s", n, RecentWindow, recentInterval)
	}
}
