package lag

import (
	"strings"
	"testing"
	"time"
)

// window builds samples of one partition from (end, committed) pairs, one
// second apart, with the given group members.
func window(members int, offsets ...[2]int64) []Sample {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var out []Sample
	for i, o := range offsets {
		out = append(out, Sample{At: t0.Add(time.Duration(i) * time.Second), Members: members,
			Partitions: map[int]PartitionSample{0: {End: o[0], Committed: o[1], Applied: o[1] - 1}}})
	}
	return out
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name       string
		window     []Sample
		partition  Status
		group      Status
		wantReason string
	}{
		{"caught up", window(1, [2]int64{10, 10}, [2]int64{12, 12}), OK, OK, ""},
		{"consuming with lag that shrinks", window(1, [2]int64{100, 10}, [2]int64{110, 60}, [2]int64{120, 100}), OK, OK, ""},
		{"lag that grows at every step", window(1, [2]int64{100, 10}, [2]int64{150, 20}, [2]int64{200, 30}), Warn, Warn, ""},
		{"lag that grows once, then falls", window(1, [2]int64{100, 10}, [2]int64{150, 20}, [2]int64{160, 150}), OK, OK, ""},
		{"stalled: lag and no commit", window(1, [2]int64{100, 10}, [2]int64{100, 10}, [2]int64{120, 10}), Err, Err, ""},
		{"no member while messages wait", window(0, [2]int64{100, 100}, [2]int64{120, 100}), Warn, Err, "no member"},
		{"no member, nothing waits", window(0, [2]int64{100, 100}, [2]int64{100, 100}), OK, OK, ""},
		{"one sample", window(1, [2]int64{100, 10}), Unknown, Unknown, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(tc.window, time.Now())
			if r.Partitions[0].Status != tc.partition || r.Status != tc.group {
				t.Fatalf("partition %s, group %s (%s); want %s, %s", r.Partitions[0].Status, r.Status, r.Reason, tc.partition, tc.group)
			}
			if tc.wantReason != "" && !strings.Contains(r.Reason, tc.wantReason) {
				t.Fatalf("reason %q does not say %q", r.Reason, tc.wantReason)
			}
		})
	}
}

func TestLagCounts(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 10, 0, time.UTC)
	w := []Sample{
		{At: now.Add(-time.Second), Members: 1, Partitions: map[int]PartitionSample{0: {End: 5, Committed: -1, Applied: -1, Start: 2}}},
		{At: now, Members: 1, Partitions: map[int]PartitionSample{0: {End: 5, Committed: -1, Applied: 1, Start: 2,
			OldestUnconsumed: now.Add(-30 * time.Second)}}},
	}
	p := Evaluate(w, now).Partitions[0]
	if p.Lag != 3 || p.AppliedLag != 3 || p.LagSeconds != 30 {
		t.Fatalf("lag %d, applied lag %d, lag seconds %v; want 3 (from the first offset kept), 3, 30", p.Lag, p.AppliedLag, p.LagSeconds)
	}
}
