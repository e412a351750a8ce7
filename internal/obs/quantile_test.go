package obs

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// hist builds a histogram from (upper bound, cumulative count) pairs and
// the sample count.
func hist(count uint64, buckets ...float64) *dto.Histogram {
	h := &dto.Histogram{SampleCount: proto.Uint64(count)}
	for i := 0; i < len(buckets); i += 2 {
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(buckets[i]), CumulativeCount: proto.Uint64(uint64(buckets[i+1]))})
	}
	return h
}

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	// 100 observations: 50 in (0.5, 1], 49 in (1, 2], 1 above 2.
	spread := hist(100, 0.5, 0, 1, 50, 2, 99)
	spreadWithInf := hist(100, 0.5, 0, 1, 50, 2, 99, inf, 100)
	shuffled := hist(100, 2, 99, inf, 100, 0.5, 0, 1, 50)
	for _, tc := range []struct {
		name         string
		q            float64
		h            *dto.Histogram
		want         float64
		beyond       bool
		lower, upper float64 // the bucket that holds the rank
	}{
		{"median at a bucket's top", 0.5, spread, 1, false, 0.5, 1},
		{"a quarter: halfway through (0.5, 1]", 0.25, spread, 0.75, false, 0.5, 1},
		{"halfway through (1, 2]", 0.745, spread, 1.5, false, 1, 2},
		{"in the +Inf bucket: the largest finite bound, beyond", 0.995, spread, 2, true, 2, inf},
		{"the +Inf bucket listed: the same", 0.995, spreadWithInf, 2, true, 2, inf},
		{"the +Inf bucket listed, below it: the same as without", 0.745, spreadWithInf, 1.5, false, 1, 2},
		{"buckets in any order", 0.25, shuffled, 0.75, false, 0.5, 1},
		{"q = 0: the bottom of the first bucket with an observation", 0, spread, 0.5, false, 0.5, 1},
		{"q = 1 with the last observation above every bound", 1, spread, 2, true, 2, inf},
		{"q = 1 when every observation is within a bound", 1, hist(10, 1, 4, 2, 10), 2, false, 1, 2},
		{"the first bucket interpolates from 0", 0.5, hist(10, 4, 10), 2, false, 0, 4},
		{"a non-positive first bound is the answer", 0.5, hist(10, -1, 10), -1, false, -1, -1},
		{"empty buckets between are skipped", 0.9, hist(10, 1, 5, 2, 5, 4, 10), 3.6, false, 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := HistogramQuantile(tc.q, tc.h)
			if math.Abs(got.Value-tc.want) > 1e-9 || got.Beyond != tc.beyond || got.Lower != tc.lower || got.Upper != tc.upper {
				t.Errorf("HistogramQuantile(%v) = %+v, want {Value:%v Beyond:%v Lower:%v Upper:%v}", tc.q, got, tc.want, tc.beyond, tc.lower, tc.upper)
			}
		})
	}
	for name, tc := range map[string]struct {
		q float64
		h *dto.Histogram
	}{
		"no observation":  {0.5, hist(0, 1, 0, 2, 0)},
		"no histogram":    {0.5, nil},
		"q below 0":       {-0.1, spread},
		"q above 1":       {1.1, spread},
		"q NaN":           {math.NaN(), spread},
		"only +Inf bound": {0.5, hist(3, inf, 3)},
	} {
		if got := HistogramQuantile(tc.q, tc.h); !math.IsNaN(got.Value) {
			t.Errorf("%s: got %+v, want NaN", name, got)
		}
	}
}

// The function reads what the client library gathers: its histograms leave
// the +Inf bucket out.
func TestHistogramQuantileOfAGatheredHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x_seconds", Buckets: []float64{0.1, 0.2, 0.4, 0.8}})
	reg.MustRegister(h)
	for _, v := range []float64{0.15, 0.15, 0.3, 0.3, 0.3, 0.3, 0.5, 0.5, 5, 5} {
		h.Observe(v)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := HistogramQuantile(0.5, mfs[0].GetMetric()[0].GetHistogram())
	// The 5th of 10 is the 3rd of the 4 in (0.2, 0.4]: 0.2 + 0.2·3/4.
	if math.Abs(got.Value-0.35) > 1e-9 || got.Beyond {
		t.Errorf("median %+v, want 0.35", got)
	}
	if got := HistogramQuantile(0.95, mfs[0].GetMetric()[0].GetHistogram()); got.Value != 0.8 || !got.Beyond {
		t.Errorf("p95 %+v, want beyond 0.8", got)
	}
}

// HistogramSince keeps what was observed between two readings, bucket by
// bucket, so quantiles of a recent window come out of two readings.
func TestHistogramSince(t *testing.T) {
	earlier := hist(10, 1, 4, 2, 10)
	earlier.SampleSum = proto.Float64(12)
	later := hist(16, 1, 5, 2, 12)
	later.SampleSum = proto.Float64(40)
	d := HistogramSince(later, earlier)
	if d.GetSampleCount() != 6 || d.GetSampleSum() != 28 || d.GetBucket()[0].GetCumulativeCount() != 1 || d.GetBucket()[1].GetCumulativeCount() != 2 {
		t.Errorf("since: %v", d)
	}
	if all := HistogramSince(later, nil); all.GetSampleCount() != 16 || all.GetBucket()[1].GetCumulativeCount() != 12 {
		t.Errorf("since nothing: %v", all)
	}
}
