package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// scrape is one reading of a serve process's /metrics (Prometheus text
// format): the sum of the series of each metric name, and the cumulative
// buckets of each histogram. Only what the bench reads is kept.
type scrape struct {
	sums    map[string]float64             // metric name -> sum over its series
	buckets map[string]map[float64]float64 // histogram name -> le -> cumulative count
}

// parseScrape reads the text exposition format. It is a small reader for
// the few series the bench needs, not a general parser: labels are only
// looked into for a bucket's le.
func parseScrape(r io.Reader) (scrape, error) {
	s := scrape{sums: map[string]float64{}, buckets: map[string]map[float64]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, rest := line, "", ""
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return s, fmt.Errorf("metrics line %q: unbalanced braces", line)
			}
			name, labels, rest = line[:i], line[i+1:j], line[j+1:]
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return s, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return s, fmt.Errorf("metrics line %q: %w", line, err)
		}
		s.sums[name] += v
		if base, ok := strings.CutSuffix(name, "_bucket"); ok {
			le, ok := label(labels, "le")
			if !ok {
				continue
			}
			bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses to +Inf
			if err != nil {
				return s, fmt.Errorf("metrics line %q: le %q: %w", line, le, err)
			}
			if s.buckets[base] == nil {
				s.buckets[base] = map[float64]float64{}
			}
			s.buckets[base][bound] += v
		}
	}
	return s, sc.Err()
}

// label returns the value of one label of a series' label text.
func label(labels, name string) (string, bool) {
	for _, part := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}

// histogram is the difference of a histogram between two scrapes: the
// observations made in between.
type histogram struct {
	bounds []float64 // upper bounds, ascending, the last +Inf
	counts []float64 // cumulative count at each bound
	sum    float64
}

// histogramDelta returns the observations of histogram name made between
// two scrapes.
func histogramDelta(before, after scrape, name string) histogram {
	var h histogram
	for b := range after.buckets[name] {
		h.bounds = append(h.bounds, b)
	}
	sort.Float64s(h.bounds)
	for _, b := range h.bounds {
		h.counts = append(h.counts, after.buckets[name][b]-before.buckets[name][b])
	}
	h.sum = after.sums[name+"_sum"] - before.sums[name+"_sum"]
	return h
}

// count is the number of observations.
func (h histogram) count() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// mean is exact: the sum over the count.
func (h histogram) mean() float64 {
	if h.count() == 0 {
		return math.NaN()
	}
	return h.sum / h.count()
}

// quantile interpolates linearly within the bucket that holds the q-th
// observation, as Prometheus's histogram_quantile does: the answer is only
// known to lie within that bucket. A quantile in the +Inf bucket returns
// the largest finite bound. NaN when there is no observation.
func (h histogram) quantile(q float64) float64 {
	n := h.count()
	if n == 0 {
		return math.NaN()
	}
	rank := q * n
	lower, below := 0.0, 0.0
	for i, b := range h.bounds {
		if h.counts[i] >= rank && h.counts[i] > below {
			if math.IsInf(b, +1) {
				return lower
			}
			return lower + (b-lower)*(rank-below)/(h.counts[i]-below)
		}
		lower, below = b, h.counts[i]
	}
	return lower
}

// bucketOf returns the bounds of the bucket that holds value v.
func (h histogram) bucketOf(v float64) (lo, hi float64) {
	for _, b := range h.bounds {
		if v <= b {
			return lo, b
		}
		lo = b
	}
	return lo, math.Inf(1)
}
