package consumer

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alsobought/alsobought/event"
)

// TestStatsCountEveryTypeAndReason: the status page's totals sum the
// applied events of every type and the dead letters of every reason, as
// the sums of the labelled metrics do.
func TestStatsCountEveryTypeAndReason(t *testing.T) {
	c := &Consumer{}
	c.stats.observeBatch(6, BatchResult{Applied: map[event.Type]int{event.Purchase: 2, event.View: 1},
		Skipped: 1, Rejected: []Rejected{{Reason: event.ReasonInvalidJSON}, {Reason: event.ReasonInvalidJSON}}})
	c.stats.observeBatch(3, BatchResult{Applied: map[event.Type]int{event.Purchase: 3}})
	c.stats.observeDeadLetters([]Rejected{{Reason: event.ReasonBadWindow}}) // a catalogue record
	got := c.Stats()
	if got.Consumed != 9 || got.Applied != 6 || got.DeadLettered != 3 {
		t.Fatalf("Stats() = %+v, want 9 consumed, 6 applied, 3 dead-lettered", got)
	}
	for _, r := range event.Reasons() {
		want := map[event.Reason]uint64{event.ReasonInvalidJSON: 2, event.ReasonBadWindow: 1}[r]
		if n, ok := got.DeadLetteredBy[r]; !ok || n != want {
			t.Errorf("dead-lettered %s: %d (present: %v), want %d", r, n, ok, want)
		}
	}
}

// The sweeps' lag is how much older than the cut the oldest held entry
// is: 0 while they keep up, and 0 without an entry.
func TestSweepBehind(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	for _, tc := range []struct {
		cut, oldest int64
		want        float64
	}{
		{cut: 10_000, oldest: 12_000, want: 0},  // every entry is younger than the cut
		{cut: 10_000, oldest: 0, want: 0},       // nothing held
		{cut: 10_000, oldest: 7_500, want: 2.5}, // 2.5 s of entries should be gone
	} {
		m.observeSweepBehind(3, tc.cut, tc.oldest)
		if got := testGauge(t, reg, "alsobought_sweep_behind_seconds"); got != tc.want {
			t.Errorf("cut %d, oldest %d: %v, want %v", tc.cut, tc.oldest, got, tc.want)
		}
	}
}

// TestReleasedPartitionLeavesNoGauges: once a partition's loop ends (its
// generation ended and another member may own it), this instance exports
// neither its applied offset nor its sweeps' lag, so that no alert keeps
// firing on a stale value; the other partitions' series stay.
func TestReleasedPartitionLeavesNoGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	for _, p := range []int{1, 2} {
		m.observeSweepBehind(p, 10_000, 5_000)
		m.appliedOff.WithLabelValues(strconv.Itoa(p)).Set(42)
	}
	m.releasePartition(1)
	for _, name := range []string{"alsobought_sweep_behind_seconds", "alsobought_applied_offset"} {
		if got := testGauge(t, reg, name); got != map[string]float64{"alsobought_sweep_behind_seconds": 5, "alsobought_applied_offset": 42}[name] {
			t.Errorf("%s of the partition kept = %v", name, got)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "partition" && l.GetValue() == "1" && (mf.GetName() == "alsobought_sweep_behind_seconds" || mf.GetName() == "alsobought_applied_offset") {
					t.Errorf("%s still has partition 1", mf.GetName())
				}
			}
		}
	}
}

func testGauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}
