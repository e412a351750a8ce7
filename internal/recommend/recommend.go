// Package recommend turns a customer's recent purchases and views into
// personal recommendations (docs/DESIGN.md section 3): every candidate is ranked
// by an estimate of how likely the customer is to buy it next, the
// popularity prior times the evidence of the related lists of the
// customer's sources, each item with the reason it is there. Merge and
// Plan are pure; a Recommender reads their inputs through a small Store
// and is what the HTTP API, its status page and the evaluator ask.
package recommend

import (
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// Limits on the inputs, which bound the Redis reads of one request.
const (
	// MaxSources is how many recent purchases, and how many recent views,
	// contribute their lists.
	MaxSources = 10
	// RecencyDecay weighs the evidence of the i-th most recent source of
	// its kind by RecencyDecay^i.
	RecencyDecay = 0.85
	// LiftPrior is added to both the observed and the expected co-buyers
	// of a list entry of a view's lists before their ratio is taken: a
	// pair seen once against an expectation near zero is evidence, but
	// not unbounded evidence. Chosen once for every data set, on the
	// earlier evaluation windows (docs/EVALUATION.md).
	LiftPrior = 0.03
	// LiftPriorBought is LiftPrior for the lists of a customer's
	// purchases. Chosen by the same rule on the tables where purchases are
	// sources (Dunnhumby and MovieLens: sessions have none): a purchase
	// history holds many items whose pairs were seen once or twice, so
	// their lifts deserve more shrinking than a session's few views.
	LiftPriorBought = 0.3
	// PriorPseudoPurchases is how many purchases the popularity prior
	// spreads evenly over the window's items before it counts the real
	// ones (Prior.Smoothing): a window of that many purchases is half
	// trusted.
	PriorPseudoPurchases = 100
)

// Reason says why an item is recommended.
type Reason string

// Reasons.
const (
	BecauseBought Reason = "bought"    // because you bought Source
	BecauseViewed Reason = "viewed"    // because you viewed Source
	BuyAgain      Reason = "buy_again" // you bought it before, and customers here buy again
	Popular       Reason = "popular"   // popular (nothing personal known about it)
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
	Item string `json:"item"`
	// Score is proportional to the estimated chance that the customer
	// buys the item next; it compares items of one answer only.
	Score  float64 `json:"score"`
	Reason Reason  `json:"reason"`           // bought, viewed, buy_again or popular
	Source string  `json:"source,omitempty"` // the item behind a bought or viewed reason
	// Owned says the customer bought the item before (it is in
	// Request.Owned or Request.Kept): a re-buy, not a discovery, whatever
	// its reason.
	Owned bool `json:"owned"`
}

// StatedLift is how strong a list's evidence must be to be the reason an
// owned item is recommended: an owned item says "because you bought
// (viewed) X" only when X's list alone makes it at least StatedLift times
// as likely as chance, after X's recency weight (its largest single
// contribution is at least ln StatedLift); otherwise its reason is
// buy_again. A weak co-purchase does not explain a re-buy: the repeat
// does. In the default evaluation window of the Dunnhumby sample, 4,132
// of the 4,750 owned items of the served top 6 had a list's reason
// before this rule, though their strongest list made them only 2.3 times
// as likely as chance at the median; 87 reach 10 (docs/http-api.md,
// "Personal recommendations").
const StatedLift = 10

// OwnedLimit caps the owned items of an answer (the "buy again" slots). The
// zero value caps nothing.
type OwnedLimit struct {
	// Capped turns the cap on: at most Max(k) of the k items are owned.
	Capped bool
	// Share is the largest share of the k slots owned items may take, in
	// [0, 1]; 0 leaves every owned item out (a "discover something new"
	// row).
	Share float64
}

// NoOwned leaves every owned item out.
var NoOwned = OwnedLimit{Capped: true}

// OwnedShare caps the owned items at share of the slots.
func OwnedShare(share float64) OwnedLimit { return OwnedLimit{Capped: true, Share: share} }

// Max returns how many of k slots owned items may take: floor(Share × k),
// so the share is never exceeded (with a 1e-9 margin for the decimal
// shares a float cannot hold: 0.29 × 100 is 29, not 28); k without a cap.
func (l OwnedLimit) Max(k int) int {
	if !l.Capped {
		return k
	}
	share := min(max(l.Share, 0), 1)
	return min(int(math.Floor(share*float64(k)+1e-9)), k)
}

// Prior is what the blend knows before it looks at the customer: what
// customers bought recently and how often they buy an item again.
type Prior struct {
	// Popular is the purchase popularity list, best first, with the counts
	// of the window; Total and Distinct are the window's purchases and the
	// distinct items they bought (all items, not only the listed ones).
	Popular         []scoring.Popular
	Total, Distinct int64
	// RepeatShare is the share of all purchases that bought an item again
	// (an item already in the customer's history), in [0, 1], and Gaps the
	// catalogue's inter-purchase times of those repeats, by
	// schema.GapBucket.
	RepeatShare float64
	Gaps        [schema.GapBuckets]int64
}

// Request is what a merge needs besides the sources.
type Request struct {
	K int
	// Exclude holds items never recommended (the page being viewed, the
	// caller's exclusions); Owned the customer's purchases, never
	// recommended as new items. Those of them in Rebuy compete as "buy
	// again" candidates by the repeat model (repeat.go).
	Exclude, Owned map[string]bool
	// EverBought holds items the customer bought before its purchase
	// history (Plan.Ever): owned, with no count to come back by, so never
	// recommended unless also in Owned. nil holds nothing.
	EverBought *delta.Ever
	// Kept are owned items that compete like new ones (-keep-owned): their
	// prior is a new item's, but they are marked and capped as owned.
	Kept  map[string]bool
	Allow func(item string) bool // a category filter; nil allows all
	Prior Prior
	// BuyAgain caps how many of the K items may be owned ones; the best
	// others take the slots left.
	BuyAgain OwnedLimit
	// Rebuy holds, for each of the customer's owned items, its count, its
	// last purchase time and the item's purchase statistics, for the
	// repeat model (docs/DESIGN.md section 12). Now is the latest event
	// time applied (the popularity list's anchor): the clock that the
	// owned items' last purchase times are read against.
	Rebuy map[string]OwnedItem
	Now   time.Time
}

// Merge returns up to req.K recommendations, best first, ties by item id,
// so the order is total.
//
// An item's score is prior x exp(evidence):
//
//   - prior: a customer's next purchase is a repeat with probability q_c,
//     the customer's repeat share, spread over their owned items by the
//     repeat model (repeat.go: their counts, the items' repeat shares and
//     inter-purchase times). A new item is one of the others in
//     proportion to its recent purchases plus one (an item nobody bought
//     lately keeps a small chance). So where nobody buys again owned items
//     are never recommended, and where customers do, their staples come
//     back, best-sellers or not.
//   - evidence: every list entry Y of a source X is a likelihood ratio,
//     lift = (N_XY + a) / (E_XY + a), the co-buyers seen against those
//     expected by chance (the list's own E_XY), a being LiftPriorBought
//     for a purchase's list and LiftPrior for a view's. The logs of the
//     lifts above 1 add up over the sources, each weighted by its recency
//     (naive Bayes), the purchases' together tempered (purchaseTemper).
//     The prior's "plus one" grows where the window is thin
//     (Prior.Smoothing).
//
// The reason is the source with the largest contribution, else "buy again"
// for an owned item, else "popular"; but an owned item's reason is "buy
// again" unless that contribution is at least ln StatedLift. Every owned
// item is marked Owned, and req.BuyAgain caps how many come back.
func Merge(sources []Source, req Request) []Recommendation {
	// acc is one candidate: a popular item, a list entry, or both. The
	// index of candidates carries the popularity counts, so the prior needs
	// no map of its own.
	type acc struct {
		item           string
		count          int64 // purchases in the popularity window (0: not listed popular)
		allowed        bool
		listed         bool // some source's list gave evidence for it
		evidence, best float64
		reason         Reason
		source         string
	}
	allowed := func(item string) bool {
		return !req.Exclude[item] && (req.Owned[item] || !req.EverBought.Contains(item)) &&
			(req.Allow == nil || req.Allow(item))
	}
	entries := len(req.Prior.Popular)
	for _, s := range sources {
		entries += len(s.AlsoBought) + len(s.ViewedBought) + len(s.AlsoViewed)
	}
	index := make(map[string]int, entries) // item -> position in merged
	merged := make([]acc, 0, entries)
	var ownedCount int64
	for _, p := range req.Prior.Popular {
		if _, dup := index[p.Item]; dup {
			continue
		}
		index[p.Item] = len(merged)
		merged = append(merged, acc{item: p.Item, count: p.Count, allowed: allowed(p.Item)})
		if req.Owned[p.Item] {
			ownedCount += p.Count
		}
	}
	// Every owned item the repeat model may bring back is a candidate,
	// listed popular or not.
	repeats := newRepeatModel(req.Rebuy, req.Prior.RepeatShare, req.Prior.Gaps, req.Now, func(item string) int64 {
		if i, ok := index[item]; ok {
			return merged[i].count
		}
		return 0
	})
	for _, item := range slices.Sorted(maps.Keys(repeats.weights)) {
		if _, ok := index[item]; !ok {
			index[item] = len(merged)
			merged = append(merged, acc{item: item, allowed: allowed(item)})
		}
	}
	temper := purchaseTemper(sources)
	add := func(src Source, list []scoring.Related, reason Reason) {
		w := math.Pow(RecencyDecay, float64(src.Rank))
		smoothing := LiftPrior
		if src.Bought {
			w, smoothing = w*temper, LiftPriorBought
		}
		for _, r := range list {
			if r.Item == src.Item || !(r.Expected > 0) {
				continue // an entry without E_XY (a list stored before it was kept) is no evidence
			}
			lift := (float64(r.Support) + smoothing) / (r.Expected + smoothing)
			if !(lift > 1) {
				continue
			}
			i, ok := index[r.Item]
			if !ok {
				i = len(merged)
				index[r.Item] = i
				merged = append(merged, acc{item: r.Item, allowed: allowed(r.Item)})
			}
			a := &merged[i]
			if !a.allowed {
				continue
			}
			c := w * math.Log(lift)
			a.listed = true
			a.evidence += c
			if c > a.best || c == a.best && src.Item < a.source {
				a.best, a.reason, a.source = c, reason, src.Item
			}
		}
	}
	for _, s := range sources {
		if s.Bought {
			add(s, s.AlsoBought, BecauseBought)
		} else {
			add(s, s.ViewedBought, BecauseViewed)
			add(s, s.AlsoViewed, BecauseViewed)
		}
	}
	prior := newPrior(req, ownedCount, repeats)
	top := newPick(req.K, req.BuyAgain)
	for i := range merged {
		a := &merged[i]
		if !a.allowed {
			continue
		}
		score := prior.of(a.item, a.count)
		var rec Recommendation
		switch {
		case a.listed:
			rec = Recommendation{Item: a.item, Score: score * math.Exp(a.evidence), Reason: a.reason, Source: a.source}
		case req.Owned[a.item]:
			rec = Recommendation{Item: a.item, Score: score, Reason: BuyAgain}
		default:
			rec = Recommendation{Item: a.item, Score: score, Reason: Popular}
		}
		top.offer(labelOwned(rec, req.Owned[a.item] || req.Kept[a.item], a.best))
	}
	return top.items()
}

// labelOwned marks an owned recommendation, and makes its reason buy_again
// unless its list reason is a stated one: its largest single contribution
// best is at least ln StatedLift.
func labelOwned(r Recommendation, owned bool, best float64) Recommendation {
	if !owned {
		return r
	}
	r.Owned = true
	if r.Reason != BuyAgain && !(best >= math.Log(StatedLift)) {
		r.Reason, r.Source = BuyAgain, ""
	}
	return r
}

// pick chooses the k best recommendations of which at most maxOwned are
// owned: the best maxOwned owned ones and the best k others, merged and
// cut to k (greedy by score with a cap on one kind is the best such set).
type pick struct {
	k            int
	owned, other topK
}

func newPick(k int, limit OwnedLimit) *pick {
	k = max(k, 0)
	return &pick{k: k, owned: topK{k: limit.Max(k)}, other: topK{k: k}}
}

func (p *pick) offer(r Recommendation) {
	if r.Owned {
		p.owned.offer(r)
	} else {
		p.other.offer(r)
	}
}

// items merges the two kinds, best first, ties by item id.
func (p *pick) items() []Recommendation {
	out := make([]Recommendation, 0, min(p.k, len(p.owned.items)+len(p.other.items)))
	a, b := p.owned.items, p.other.items
	for len(out) < p.k && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || len(a) > 0 && better(a[0], b[0]) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// better orders recommendations: score descending, ties by item id.
func better(a, b Recommendation) bool {
	return a.Score > b.Score || a.Score == b.Score && a.Item < b.Item
}

// purchaseTemper is the factor on the evidence of the purchases' lists: one
// over the square root of their total recency weight, when that is above
// one. A customer's recent purchases are not independent witnesses: the
// items of a basket share their co-buyers, so their lists vote for the
// same candidates, and summing their log-lifts as if independent (naive
// Bayes) lets ten correlated purchases outvote the prior. Dividing by the
// square root keeps the evidence growing with more purchases, but as the
// sum of correlated votes does, not as independent ones. Views are left
// alone: a session's few views are the visitor's present intent, and the
// evaluation measured that tempering them loses a twentieth of the
// session hits (docs/EVALUATION.md).
func purchaseTemper(sources []Source) float64 {
	var weight float64
	for _, s := range sources {
		if s.Bought && len(s.AlsoBought) > 0 {
			weight += math.Pow(RecencyDecay, float64(s.Rank))
		}
	}
	if weight <= 1 {
		return 1
	}
	return 1 / math.Sqrt(weight)
}

// topK keeps the k best recommendations offered, best first: score
// descending, ties by item id, so the order is total. Only k are kept, so
// the many candidates of a request are never sorted.
type topK struct {
	k     int
	items []Recommendation
}

func (t *topK) offer(r Recommendation) {
	if !(r.Score > 0) || t.k == 0 {
		return
	}
	if len(t.items) == t.k && !better(r, t.items[t.k-1]) {
		return
	}
	i := sort.Search(len(t.items), func(i int) bool { return better(r, t.items[i]) })
	if len(t.items) < t.k {
		t.items = append(t.items, Recommendation{})
	}
	copy(t.items[i+1:], t.items[i:len(t.items)-1])
	t.items[i] = r
}

// prior is a request's prior, with its sums computed once; the counts of
// the items are Merge's.
type prior struct {
	owned        map[string]bool
	repeats      repeatModel
	plus, otherN float64
}

// newPrior sums a request's prior; ownedCount is the owned items'
// purchases in the popularity list.
func newPrior(req Request, ownedCount int64, repeats repeatModel) prior {
	p := prior{owned: req.Owned, repeats: repeats, plus: req.Prior.Smoothing()}
	// The other items' purchases, plus the smoothing for each item bought
	// in the window (the "plus one" of every new item's count).
	p.otherN = max(float64(req.Prior.Total-ownedCount), 0) + p.plus*float64(max(req.Prior.Distinct, int64(len(req.Prior.Popular)), 1))
	return p
}

// of returns item's prior, the chance that the next purchase is item, from
// its purchases in the popularity window.
func (p prior) of(item string, count int64) float64 {
	if p.owned[item] {
		return p.repeats.of(item)
	}
	return (1 - p.repeats.share) * (float64(count) + p.plus) / p.otherN
}

// Smoothing is what the prior adds to each new item's count in the
// popularity window: one, or more when the window is thin. The prior
// spreads at least PriorPseudoPurchases purchases evenly over the window's
// items, so a window of a few purchases says little about what sells (a
// new shop, a quiet category) and the lists decide, while a window of
// thousands keeps "plus one": with D distinct items that is
// max(1, PriorPseudoPurchases / D) per item.
func (p Prior) Smoothing() float64 {
	return max(1, PriorPseudoPurchases/float64(max(p.Distinct, int64(len(p.Popular)), 1)))
}

// SourceList is one list of one source, with the source's recency rank.
type SourceList struct {
	Source string
	Rank   int
	List   []scoring.Related
}

// ByScore ranks the items of the lists by their summed contribution
// (recency weight x score relative to the list's best), ties by item id,
// and returns the first k, leaving out the items skip reports and each
// list's own source: one list kind's score alone, without popularity or
// repeat purchases. The evaluator reports each score this way; the API
// serves Merge.
func ByScore(lists []SourceList, k int, skip func(item string) bool) []string {
	sum := map[string]float64{}
	for _, l := range lists {
		if len(l.List) == 0 || !(l.List[0].Score > 0) {
			continue
		}
		w := math.Pow(RecencyDecay, float64(l.Rank))
		for _, r := range l.List {
			if r.Item != l.Source && !skip(r.Item) {
				sum[r.Item] += w * r.Score / l.List[0].Score
			}
		}
	}
	out := make([]string, 0, len(sum))
	for item := range sum {
		out = append(out, item)
	}
	sort.Slice(out, func(i, j int) bool {
		if sum[out[i]] != sum[out[j]] {
			return sum[out[i]] > sum[out[j]]
		}
		return out[i] < out[j]
	})
	return out[:min(len(out), max(k, 0))]
}
