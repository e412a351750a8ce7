// Package recommend merges related lists into personal recommendations
// (DESIGN.md section 3): the lists of a customer's most recent purchases
// and views, weighted by recency and by score, without the items the
// customer owns, back-filled from popularity, each item with the reason it
// is there. It is pure: the HTTP layer reads the inputs from Redis.
package recommend

import (
	"math"
	"sort"

	"github.com/alsobought/alsobought/scoring"
)

// Limits on the inputs, which bound the Redis reads of one request.
const (
	// MaxSources is how many recent purchases, and how many recent views,
	// contribute their lists.
	MaxSources = 10
	// RecencyDecay weighs the i-th most recent source by RecencyDecay^i.
	RecencyDecay = 0.85
)

// Reason says why an item is recommended.
type Reason string

// Reasons.
const (
	BecauseBought Reason = "bought"  // because you bought Source
	BecauseViewed Reason = "viewed"  // because you viewed Source
	Popular       Reason = "popular" // popular (back-fill, or nothing known)
)

// Weights of the lists a source contributes: what a customer bought says
// more than what they viewed, and "viewed X, then bought Y" more than
// "viewed X, also viewed Y".
const (
	weightBought       = 1.0
	weightViewedBought = 0.8
	weightViewed       = 0.6
)

// Source is an item of the customer's history (or of a request's context)
// with the lists read for it. Rank 0 is the most recent of its kind.
type Source struct {
	Item   string
	Bought bool // a purchase (else a view)
	Rank   int
	// A purchase contributes its "bought also bought" list; a view its
	// "viewed then bought" and "viewed also viewed" lists.
	AlsoBought, AlsoViewed, ViewedBought []scoring.Related
}

// Recommendation is one recommended item.
type Recommendation struct {
	Item   string  `json:"item"`
	Score  float64 `json:"score"`            // merged weight; 0 for popular back-fill
	Reason Reason  `json:"reason"`           // bought, viewed or popular
	Source string  `json:"source,omitempty"` // the item behind the reason
}

// Request is what a merge needs besides the sources.
type Request struct {
	K       int
	Exclude map[string]bool        // owned items (unless kept), items the caller excludes
	Allow   func(item string) bool // a category filter; nil allows all
	Popular []scoring.Popular      // back-fill, best first
}

// Merge returns up to req.K recommendations: the items of the sources'
// lists by summed contribution (recency weight x list weight x score
// relative to the list's best), each with the source that contributed
// most; then popular items. Ties break by item id, so the order is total.
func Merge(sources []Source, req Request) []Recommendation {
	type acc struct {
		score, best float64
		reason      Reason
		source      string
	}
	merged := map[string]*acc{}
	add := func(src Source, list []scoring.Related, weight float64, reason Reason) {
		if len(list) == 0 || !(list[0].Score > 0) {
			return
		}
		w := weight * math.Pow(RecencyDecay, float64(src.Rank))
		for _, r := range list {
			if r.Item == src.Item || req.Exclude[r.Item] || (req.Allow != nil && !req.Allow(r.Item)) {
				continue
			}
			c := w * r.Score / list[0].Score
			a := merged[r.Item]
			if a == nil {
				a = &acc{}
				merged[r.Item] = a
			}
			a.score += c
			if c > a.best || c == a.best && src.Item < a.source {
				a.best, a.reason, a.source = c, reason, src.Item
			}
		}
	}
	for _, s := range sources {
		if s.Bought {
			add(s, s.AlsoBought, weightBought, BecauseBought)
		} else {
			add(s, s.ViewedBought, weightViewedBought, BecauseViewed)
			add(s, s.AlsoViewed, weightViewed, BecauseViewed)
		}
	}
	out := make([]Recommendation, 0, len(merged))
	for item, a := range merged {
		out = append(out, Recommendation{Item: item, Score: a.score, Reason: a.reason, Source: a.source})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Item < out[j].Item
	})
	if len(out) > req.K {
		out = out[:req.K]
	}
	seen := make(map[string]bool, len(out))
	for _, r := range out {
		seen[r.Item] = true
	}
	for _, p := range req.Popular {
		if len(out) >= req.K {
			break
		}
		if seen[p.Item] || req.Exclude[p.Item] || (req.Allow != nil && !req.Allow(p.Item)) {
			continue
		}
		seen[p.Item] = true
		out = append(out, Recommendation{Item: p.Item, Reason: Popular})
	}
	return out
}
