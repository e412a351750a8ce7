package bench

import (
	"encoding/json"
	"math"
)

// Figure is a derived number of a report: a rate, a cost per event, a
// quantile, a ratio. A figure over nothing (a phase without freshness
// samples, a zero denominator) is NaN or infinite, which JSON cannot
// carry: it is written as null, so that one such figure does not lose the
// whole report.
type Figure float64

// MarshalJSON writes a finite figure as a JSON number and any other as null.
func (f Figure) MarshalJSON() ([]byte, error) {
	if v := float64(f); math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// ratio is a/b as a figure: NaN or infinite when b is 0.
func ratio(a, b float64) Figure { return Figure(a / b) }
