package bench

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/alsobought/alsobought/internal/obs"
)

// scrape is one reading of a serve process's /metrics, by metric family
// name.
type scrape map[string]*dto.MetricFamily

// parseScrape decodes an exposition in the given format (expfmt.ResponseFormat
// of the response's header; the text format when unknown).
func parseScrape(r io.Reader, format expfmt.Format) (scrape, error) {
	s := scrape{}
	dec := expfmt.NewDecoder(r, format)
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return s, fmt.Errorf("decode metrics: %w", err)
		}
		s[mf.GetName()] = mf
	}
}

// sum is the sum of a counter's or gauge's series (0 when not exported).
func (s scrape) sum(name string) float64 {
	var v float64
	for _, m := range s[name].GetMetric() {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
	}
	return v
}

// histogram merges a histogram's series into one.
func (s scrape) histogram(name string) *dto.Histogram {
	counts := map[float64]uint64{}
	var count uint64
	var sum float64
	for _, m := range s[name].GetMetric() {
		h := m.GetHistogram()
		count += h.GetSampleCount()
		sum += h.GetSampleSum()
		for _, b := range h.GetBucket() {
			counts[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	h := &dto.Histogram{SampleCount: proto.Uint64(count), SampleSum: proto.Float64(sum)}
	for _, bound := range slices.Sorted(maps.Keys(counts)) {
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(bound), CumulativeCount: proto.Uint64(counts[bound])})
	}
	return h
}

// histogramDelta is the histogram of the observations made between two
// scrapes.
func histogramDelta(before, after scrape, name string) *dto.Histogram {
	return obs.HistogramSince(after.histogram(name), before.histogram(name))
}

// quantile is obs.HistogramQuantile's estimate: only known to lie within
// its bucket; a rank in the +Inf bucket gives the largest finite bound.
func quantile(q float64, h *dto.Histogram) float64 { return obs.HistogramQuantile(q, h).Value }

// mean is exact: the sum over the count; NaN without observations.
func mean(h *dto.Histogram) float64 {
	if h.GetSampleCount() == 0 {
		return math.NaN()
	}
	return h.GetSampleSum() / float64(h.GetSampleCount())
}

// describeBuckets states the resolution of a histogram: its finite
// bounds, and the widest step between two of them in the range where
// freshness lives while the pipeline keeps up (0.1-10 s).
func describeBuckets(h *dto.Histogram) string {
	var finite []float64
	for _, b := range h.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 0) {
			finite = append(finite, b.GetUpperBound())
		}
	}
	if len(finite) == 0 {
		return "no histogram"
	}
	slices.Sort(finite)
	widest := 0.0
	for i := 1; i < len(finite); i++ {
		if finite[i] > 0.1 && finite[i-1] < 10 && finite[i-1] > 0 {
			widest = max(widest, finite[i]/finite[i-1]-1)
		}
	}
	return fmt.Sprintf("%d buckets from %gs to %gs, from 0.1s to 10s each at most %.1f%% above the one before; quantiles interpolated within a bucket",
		len(finite), finite[0], finite[len(finite)-1], 100*widest)
}
