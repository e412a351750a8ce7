package consumer

import (
	"testing"
	"time"
)

func TestBatchDeadline(t *testing.T) {
	now := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	const wait, maxWait = 20 * time.Millisecond, 500 * time.Millisecond
	tests := []struct {
		name          string
		record        time.Time
		wait, maxWait time.Duration
		want          time.Duration // after now
	}{
		{"fresh record waits the budget", now, wait, maxWait, maxWait},
		{"a record 200ms old waits what is left of it", now.Add(-200 * time.Millisecond), wait, maxWait, 300 * time.Millisecond},
		{"a record near the budget waits at least wait", now.Add(-490 * time.Millisecond), wait, maxWait, wait},
		{"a backlog's old record waits wait", now.Add(-time.Hour), wait, maxWait, wait},
		{"a record from a clock ahead waits the budget, no more", now.Add(time.Minute), wait, maxWait, maxWait},
		{"no record time counts from the fetch", time.Time{}, wait, maxWait, maxWait},
		{"a budget at wait is off", now, wait, wait, wait},
		{"a budget below wait is off", now, 50 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond},
		{"no wait, budget on", now.Add(-100 * time.Millisecond), 0, maxWait, 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := batchDeadline(now, tt.record, tt.wait, tt.maxWait)
			if d := got.Sub(now); d != tt.want {
				t.Errorf("batchDeadline = now+%s, want now+%s", d, tt.want)
			}
		})
	}
}
