package eval

import (
	"cmp"
	"context"
	"slices"

	"github.com/alsobought/alsobought/internal/recommend"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// methodsFor returns the methods of an evaluation, in report order:
// popularity, for customers buy_again, each score, the view-based lists
// where the data has views, the served blend, and for sessions the echo
// diagnostic. Sessions have no purchase history, so buy_again would be
// popularity again: it is left out.
func methodsFor(cfg Config, hasViews bool) []string {
	out := []string{MethodPopularity, MethodPopularityOwned}
	if cfg.Protocol == Customers {
		out = append(out, MethodBuyAgain)
	}
	for _, m := range []scoring.Method{scoring.Count, scoring.Cosine, scoring.Jaccard, scoring.LLR, scoring.Amazon2017, scoring.Amazon2017Prior} {
		out = append(out, string(m))
	}
	if hasViews {
		out = append(out, MethodViewed, MethodViewedBought)
	}
	out = append(out, MethodServed)
	if cfg.Protocol == Sessions {
		out = append(out, MethodEcho)
	}
	return out
}

// recommendFor returns method m's top K for one judged customer whose
// query resolved into plan, per target (only popularity differs between
// targets: each target gets the popularity list of its own kind).
//
// The popularity rows are the list of the window before the cutoff, of the
// target's kind: "popularity" without the customer's owned items (the
// classic baseline; owned as Plan.Owns says: the purchase history and the
// ever-bought set), "popularity_with_owned" with them.
//
// buy_again is the customer's retained purchase history ordered by how
// often they bought each item before the cutoff, then by recency, topped
// up with the popularity list of the target's kind: the repeat baseline.
//
// A score's row uses only that score's "bought also bought" lists, of
// every source (purchases and views alike), ranked by recommend.ByScore
// without owned items and without popularity, so it measures the score
// alone. The view rows do the same with "viewed also viewed" (scored by the
// served method) and "viewed then bought" lists. The served row is the
// API's answer, asked of the same recommend.Recommender the API asks
// (served, reading the model): every list kind, the popularity prior and
// the repeat share.
func recommendFor(ctx context.Context, m string, c judged, plan recommend.Plan, model Model, served *recommend.Recommender, cfg Config) (map[Target][]string, error) {
	same := func(items []string) map[Target][]string {
		return map[Target][]string{TargetBought: items, TargetViewed: items}
	}
	excludeOwned := func(item string) bool { return plan.Exclude[item] || plan.Owns(item) }
	switch m {
	case MethodEcho:
		return same(c.revealed[:min(cfg.K, len(c.revealed))]), nil
	case MethodPopularity, MethodPopularityOwned, MethodBuyAgain:
		var first []string
		skip := excludeOwned
		switch m {
		case MethodPopularityOwned:
			skip = func(item string) bool { return plan.Exclude[item] }
		case MethodBuyAgain:
			first = byPurchases(c.query.HistoryBought, model.PurchaseCounts(c.customer), plan.Exclude, cfg.K)
			skip = func(item string) bool { return plan.Exclude[item] || slices.Contains(first, item) }
		}
		out := map[Target][]string{}
		for target, kind := range map[Target]store.ListKind{TargetBought: store.Bought, TargetViewed: store.Viewed} {
			out[target] = slices.Clone(first)
			for _, p := range model.Popular(kind).Items {
				if len(out[target]) == cfg.K {
					break
				}
				if !skip(p.Item) {
					out[target] = append(out[target], p.Item)
				}
			}
		}
		return out, nil
	case MethodServed:
		recs, err := served.ForPlan(ctx, plan, cfg.K, "")
		return same(itemsOf(recs)), err
	}
	// One list kind from every source, ranked by recency within its kind.
	kind, method := store.Bought, scoring.Method(m)
	switch m {
	case MethodViewed:
		kind, method = store.Viewed, cfg.Served
	case MethodViewedBought:
		kind = store.ViewedBought
	}
	lists := make([]recommend.SourceList, 0, len(plan.Bought)+len(plan.Viewed))
	for _, items := range [][]string{plan.Bought, plan.Viewed} {
		for i, x := range items {
			lists = append(lists, recommend.SourceList{Source: x, Rank: i, List: model.List(kind, method, x)})
		}
	}
	return same(recommend.ByScore(lists, cfg.K, excludeOwned)), nil
}

// byPurchases returns at most k items of a purchase history (least recent
// first), without the excluded ones, most bought first (counts), the more
// recent first among equals.
func byPurchases(history []string, counts map[string]int64, exclude map[string]bool, k int) []string {
	out := make([]string, 0, len(history))
	for i := len(history) - 1; i >= 0; i-- { // most recent first: the stable sort keeps it among equals
		if !exclude[history[i]] {
			out = append(out, history[i])
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(counts[b], counts[a]) })
	return out[:min(k, len(out))]
}

func itemsOf(recs []recommend.Recommendation) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Item
	}
	return out
}

// tally sums a method's hits per target over customers and windows.
type tally struct {
	sums map[tallyKey]*sum
}

type tallyKey struct {
	method string
	target Target
}

type sum struct {
	customers, hits int
	recall          float64
	items           map[string]bool
	// discovery: the customers with a target they did not own, and those
	// of them with a hit on one
	newCustomers, newHits int
}

func newTally() *tally { return &tally{sums: map[tallyKey]*sum{}} }

// add counts one customer's recommendations under every target the
// customer has, and again for discovery: the recommendations of new items
// only (fresh) against the targets the customer did not own.
func (t *tally) add(method string, c judged, recs, fresh map[Target][]string) {
	for _, target := range []Target{TargetBought, TargetViewed} {
		want := c.targets[target]
		if method == MethodEcho {
			want = c.echoTargets[target]
		}
		if len(c.targets[target]) == 0 { // echo is judged on the same customers
			continue
		}
		k := tallyKey{method, target}
		s := t.sums[k]
		if s == nil {
			s = &sum{items: map[string]bool{}}
			t.sums[k] = s
		}
		s.customers++
		hits, newHits := 0, 0
		for _, it := range recs[target] {
			s.items[it] = true
			if want[it] {
				hits++
			}
		}
		for _, it := range fresh[target] {
			if want[it] && !c.owned[it] {
				newHits++
			}
		}
		if hits > 0 {
			s.hits++
		}
		for it := range want {
			if !c.owned[it] {
				s.newCustomers++
				if newHits > 0 {
					s.newHits++
				}
				break
			}
		}
		s.recall += float64(hits) / float64(len(want))
	}
}

func (t *tally) result(method string, target Target, itemsSeen int) (Result, bool) {
	s := t.sums[tallyKey{method, target}]
	if s == nil || s.customers == 0 {
		return Result{}, false
	}
	r := Result{Method: method, Target: target, Hits: s.hits, Customers: s.customers, Items: len(s.items),
		HR: float64(s.hits) / float64(s.customers), Recall: s.recall / float64(s.customers)}
	r.DiscoveryHits, r.DiscoveryCustomers = s.newHits, s.newCustomers
	if s.newCustomers > 0 {
		r.DiscoveryHR = float64(s.newHits) / float64(s.newCustomers)
	}
	if itemsSeen > 0 {
		r.Coverage = float64(len(s.items)) / float64(itemsSeen)
	}
	return r, true
}
