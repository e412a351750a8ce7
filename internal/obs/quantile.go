package obs

import (
	"cmp"
	"math"
	"slices"

	dto "github.com/prometheus/client_model/go"
)

// Quantile is a quantile estimated from a histogram's buckets. Beyond says
// that the rank fell in the +Inf bucket: the true value is above Value, the
// largest finite bound, by an unknown amount. Lower and Upper are the
// bounds of the bucket that holds the rank: the true quantile lies between
// them, whatever the interpolation says (Upper is +Inf when Beyond).
type Quantile struct {
	Value        float64
	Beyond       bool
	Lower, Upper float64
}

// HistogramQuantile estimates the q-quantile (0 <= q <= 1) of a histogram
// as Prometheus's histogram_quantile does: it finds the bucket that holds
// the rank q·count and interpolates linearly inside it, from 0 for the
// first bucket (or from that bucket's bound when it is not positive). The
// answer is only known to lie within that bucket.
//
// h is a histogram as the registry gathers it (Gather, or a scrape decoded
// by expfmt): cumulative counts, with or without the +Inf bucket (the
// client library leaves it out and the text format has it; the sample
// count stands for it either way). Buckets may come in any order; h is not
// modified.
//
// The value is NaN when there is no observation, no finite bucket, or q
// is outside [0, 1].
func HistogramQuantile(q float64, h *dto.Histogram) Quantile {
	total := float64(h.GetSampleCount())
	if total == 0 || !(q >= 0 && q <= 1) {
		return Quantile{Value: math.NaN()}
	}
	type bucket struct{ upper, count float64 }
	bs := make([]bucket, 0, len(h.GetBucket()))
	for _, b := range h.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), +1) {
			bs = append(bs, bucket{b.GetUpperBound(), float64(b.GetCumulativeCount())})
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.upper, b.upper) })
	rank := q * total
	for i, b := range bs {
		below, lower := 0.0, min(0, b.upper)
		if i > 0 {
			below, lower = bs[i-1].count, bs[i-1].upper
		}
		// The first bucket that holds the rank and an observation: an
		// empty bucket before the first observation (q = 0) holds none.
		if b.count >= rank && b.count > below {
			return Quantile{Value: lower + (b.upper-lower)*(rank-below)/(b.count-below), Lower: lower, Upper: b.upper}
		}
	}
	if len(bs) == 0 {
		return Quantile{Value: math.NaN()} // no finite bound to report
	}
	last := bs[len(bs)-1].upper
	return Quantile{Value: last, Beyond: true, Lower: last, Upper: math.Inf(+1)}
}
