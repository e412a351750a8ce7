package recommend

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// The constants of the repeat model (docs/DESIGN.md section 12), chosen once
// for every data set on the earlier evaluation windows (docs/EVALUATION.md).
const (
	// CustomerRepeatPrior is the weight, in purchases, of the catalogue's
	// repeat share in a customer's own: a customer with few retained
	// purchases repeats like the catalogue, one with many like themself.
	CustomerRepeatPrior = 10
	// ItemRepeatPrior is the same weight for an item's repeat share. It is
	// also the evidence that an item is of a kind nobody buys again: once
	// its purchases reach it without a single repeat, its repeat share is 0.
	ItemRepeatPrior = 10
	// GapPrior is the weight, in repeats, of the catalogue's inter-purchase
	// times in an item's own: an item with few repeats is timed like the
	// catalogue (no timing at all), one with many by its own rhythm. Chosen
	// high on the earlier evaluation windows: on the shared data few items
	// have enough repeats for their rhythm to beat the noise
	// (docs/EVALUATION.md).
	GapPrior = 100
	// OwnedPopularityExponent weighs an owned item by the square root of its
	// recent purchases plus one: what the shop is buying now (the season,
	// an offer) tilts which staples come back, without drowning the
	// customer's own counts.
	OwnedPopularityExponent = 0.5
)

// repeatModel splits the chance that a customer's next purchase is a repeat
// over their owned items. It is computed once per request.
type repeatModel struct {
	share   float64            // the customer's repeat share, q_c
	weights map[string]float64 // owned item -> its share of the repeats
}

// newRepeatModel computes a customer's repeat model (docs/DESIGN.md section 12).
//
//   - q_c, the customer's repeat share: their retained purchases that
//     bought an item again, (sum of n_cY - 1), out of all of them (sum of
//     n_cY), shrunk toward the catalogue's share r with the weight of
//     CustomerRepeatPrior purchases.
//   - rho_Y, the item's repeat share: its repeat purchases R_Y out of its
//     purchases P_Y, shrunk toward r with the weight of ItemRepeatPrior;
//     0 when P_Y reached that weight without a repeat.
//   - tau_Y(d), the timing: how much more often than the catalogue Y's
//     buyers bought it again after a gap like d = now - t_cY: the share of
//     Y's gaps in d's bucket, shrunk toward the catalogue's share with the
//     weight of GapPrior repeats, over the catalogue's share.
//   - w_Y = n_cY x rho_Y x tau_Y(d) x (c_Y + 1)^OwnedPopularityExponent,
//     with c_Y the item's purchases in the popularity window.
//
// Owned item Y then gets q_c x w_Y / sum of w over the owned items.
func newRepeatModel(owned map[string]OwnedItem, r float64, gaps [schema.GapBuckets]int64, now time.Time, popular func(item string) int64) repeatModel {
	r = min(max(r, 0), 1)
	var bought, repeats int64
	for _, o := range owned {
		if o.Count > 0 {
			bought += o.Count
			repeats += o.Count - 1
		}
	}
	m := repeatModel{share: (float64(repeats) + CustomerRepeatPrior*r) / (float64(bought) + CustomerRepeatPrior)}
	if !(m.share > 0) {
		return repeatModel{}
	}
	var catalogueRepeats int64
	for _, n := range gaps {
		catalogueRepeats += n
	}
	m.weights = make(map[string]float64, len(owned))
	var sum float64
	// In item order: a float sum in map order would differ in its last
	// bits from one request to the next, and so could the order of two
	// owned items that tie.
	for _, item := range slices.Sorted(maps.Keys(owned)) {
		o := owned[item]
		if o.Count <= 0 {
			continue // owned without a count (bought before the retained history): never offered back
		}
		w := float64(o.Count) * itemRepeatShare(o.Stats, r) * timing(o.Stats, gaps, catalogueRepeats, now.Sub(o.Last)) *
			math.Pow(float64(popular(item)+1), OwnedPopularityExponent)
		if w > 0 {
			m.weights[item] = w
			sum += w
		}
	}
	if sum == 0 {
		return repeatModel{}
	}
	for item, w := range m.weights {
		m.weights[item] = m.share * w / sum
	}
	return m
}

// itemRepeatShare is rho_Y.
func itemRepeatShare(s store.Rebuy, r float64) float64 {
	rep := s.Repeats()
	if rep == 0 && s.Purchases >= ItemRepeatPrior {
		return 0 // enough purchases, none again: a kind nobody re-buys
	}
	return (float64(rep) + ItemRepeatPrior*r) / (float64(s.Purchases) + ItemRepeatPrior)
}

// timing is tau_Y(d): 1 where Y's gaps are like the catalogue's or too
// few to tell.
func timing(s store.Rebuy, catalogue [schema.GapBuckets]int64, catalogueRepeats int64, d time.Duration) float64 {
	if catalogueRepeats == 0 {
		return 1
	}
	b := schema.GapBucket(d)
	base := float64(catalogue[b]) / float64(catalogueRepeats)
	if base == 0 {
		return 1 // the catalogue never saw such a gap: no basis to judge it
	}
	own := (float64(s.Gaps[b]) + GapPrior*base) / (float64(s.Repeats()) + GapPrior)
	return own / base
}

// of returns owned item's share of the next purchase (0 when it is not a
// repeat candidate).
func (m repeatModel) of(item string) float64 { return m.weights[item] }
