package obs

import (
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// HistogramSince is the histogram of the observations made between two
// readings of one cumulative histogram, earlier and later (as gathered: the
// same buckets). A nil earlier reading is an empty one.
func HistogramSince(later, earlier *dto.Histogram) *dto.Histogram {
	before := map[float64]uint64{}
	for _, b := range earlier.GetBucket() {
		before[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	d := &dto.Histogram{SampleCount: proto.Uint64(later.GetSampleCount() - earlier.GetSampleCount()),
		SampleSum: proto.Float64(later.GetSampleSum() - earlier.GetSampleSum())}
	for _, b := range later.GetBucket() {
		d.Bucket = append(d.Bucket, &dto.Bucket{UpperBound: b.UpperBound,
			CumulativeCount: proto.Uint64(b.GetCumulativeCount() - before[b.GetUpperBound()])})
	}
	return d
}
