package scoring

import (
	"fmt"
	"math/bits"
	"strings"
)

// Bins says how the histogram h_X groups X's customers by n, their number
// of other items (docs/DESIGN.md §3, "Histogram bins"). A customer is
// counted under Bins.Of(n), and E_XY takes that value as the customer's n.
//
// The names are stable strings: they are a flag's values and are recorded
// with the state, because counters kept under one binning cannot be
// continued under another.
type Bins string

const (
	// ExactBins keeps a bin per n: E_XY exactly as the 2017 paper defines
	// it. Each new purchase of a customer with n items moves the customer
	// in the histogram of every one of them, one change per held item.
	ExactBins Bins = "exact"
	// LogBins keeps a bin per n below LogBinsExact, then four per
	// doubling: [8,9], [10,11], [12,13], [14,15], [16,19] … [128,159] …
	// A bin holds at most a quarter of its lowest n, and its customers
	// count as the middle n of the bin (rounded down), so no n is off by
	// more than 12.5%. A customer moves only when a purchase takes it
	// across a bin's edge: while a history grows from 8 to 200 items it
	// crosses 19 edges instead of 192, which removes most of the histogram
	// changes of long histories.
	LogBins Bins = "log"
)

// LogBinsExact is the n from which LogBins groups: every n below it has a
// bin of its own, where a step of one item is a large relative change.
const LogBinsExact = 8

// DefaultBins is the binning of a new state.
const DefaultBins = LogBins

// AllBins returns every binning, default first, for help texts.
func AllBins() []Bins { return []Bins{LogBins, ExactBins} }

// ParseBins returns the binning called s, ignoring case and surrounding
// space; an unknown name's error lists the valid ones.
func ParseBins(s string) (Bins, error) {
	name := Bins(strings.ToLower(strings.TrimSpace(s)))
	for _, b := range AllBins() {
		if b == name {
			return b, nil
		}
	}
	return "", fmt.Errorf("unknown histogram binning %q (valid: %s, %s)", s, LogBins, ExactBins)
}

// Of returns the bin of a customer with n other items: the Others value
// under which h_X counts the customer. Of(Of(n)) == Of(n), and n < 1 (a
// customer whose only item is X, who adds nothing to E_XY) is its own bin.
// The zero Bins is DefaultBins. An unknown binning panics: the state's
// record and ParseBins admit only the known ones, so reaching it is a
// programming error that would otherwise corrupt counters silently.
func (b Bins) Of(n int64) int64 {
	if b == "" {
		b = DefaultBins
	}
	switch b {
	case ExactBins:
		return n
	case LogBins:
		if n < LogBinsExact {
			return n
		}
		// n = m·2^shift with a 3-bit m in [4, 8): the bin is m's octave
		// quarter, [m·2^shift, (m+1)·2^shift − 1], named by its middle.
		shift := uint(bits.Len64(uint64(n)) - 3)
		lo := n >> shift << shift
		return lo + (int64(1)<<shift-1)/2
	}
	panic(fmt.Sprintf("scoring: unknown histogram binning %q", string(b)))
}
