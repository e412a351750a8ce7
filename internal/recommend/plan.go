package recommend

import (
	"maps"
	"slices"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// Query is what one recommendation is asked for: a customer's stored
// histories and a request's context. The HTTP API and the evaluator both
// turn a Query into a Plan, so what eval measures is what the API serves.
type Query struct {
	// History is the customer's stored purchases and views, least recent
	// first (as stored); empty for an unknown customer.
	HistoryBought, HistoryViewed []string
	// Ever is the customer's ever-bought set (delta.History.Ever): items
	// bought before the purchase history's K_hist most recent ones.
	Ever delta.Ever
	// HistoryCounts and HistoryTimes are, for each item of HistoryBought,
	// how many times the customer bought it while it was held and the
	// latest purchase time (unix ms) (delta.History's Counts and Times);
	// nil when unknown (a count of 1 and no time).
	HistoryCounts, HistoryTimes []int64
	// Context is what the page says: bought and viewed items, most recent
	// first. Context items were just viewed or bought (the page, the
	// basket), so they are never recommended back.
	ContextBought, ContextViewed []string
	// Exclude is what the caller does not want to see.
	Exclude []string
	// KeepOwned lets the purchase history's items compete like items never
	// bought, whatever the repeat share.
	KeepOwned bool
}

// Plan is a Query resolved into the sources whose lists are read and the
// items left out of the answer.
type Plan struct {
	// Bought and Viewed are the sources, most recent first, distinct, at
	// most MaxSources each: context first, then history.
	Bought, Viewed []string
	// Exclude holds the context items and the caller's exclusions; Owned
	// the purchase history's items, empty when kept.
	Exclude, Owned map[string]bool
	// Ever holds the items bought before the purchase history (the
	// ever-bought set), nil when owned items are kept. They are owned too
	// but have no count in the history, so they never come back as a
	// repeat: they are left out (Owns).
	Ever *delta.Ever
	// Kept holds the purchase history's items when they compete like items
	// never bought (KeepOwned): still marked owned in the answer, and
	// capped with the owned ones.
	Kept map[string]bool
	// Known reports whether anything about the customer was known.
	Known bool
	// Rebuy holds, for each item of the purchase history (owned, whether or
	// not KeepOwned lets it compete as new), its count and last purchase
	// time; Recommender.ForPlan adds the item's purchase statistics before
	// it passes them on in Request.Rebuy. At most K_hist items.
	Rebuy map[string]OwnedItem
}

// OwnedItem is what the repeat model (docs/DESIGN.md section 12) knows of
// one of the customer's owned items: how many times the customer bought
// it while it was held and when last (event time), and the item's own
// purchase statistics (store.Rebuy: its purchases and its repeat gaps).
type OwnedItem struct {
	Count int64
	Last  time.Time
	Stats store.Rebuy
}

// NewPlan resolves a Query.
func NewPlan(q Query) Plan {
	exclude := make(map[string]bool, len(q.Exclude)+len(q.ContextBought)+len(q.ContextViewed))
	for _, items := range [][]string{q.Exclude, q.ContextBought, q.ContextViewed} {
		for _, x := range items {
			exclude[x] = true
		}
	}
	owned := make(map[string]bool, len(q.HistoryBought))
	for _, x := range q.HistoryBought {
		owned[x] = true
	}
	var ever *delta.Ever
	var kept map[string]bool
	if q.KeepOwned {
		owned, kept = map[string]bool{}, owned
	} else if q.Ever.Len() > 0 {
		ever = &q.Ever
	}
	rebuy := make(map[string]OwnedItem, len(owned))
	for i, x := range q.HistoryBought {
		if !owned[x] {
			continue // kept: competes as a new item, not as a repeat
		}
		o := OwnedItem{Count: 1}
		if i < len(q.HistoryCounts) {
			o.Count = q.HistoryCounts[i]
		}
		if i < len(q.HistoryTimes) {
			o.Last = time.UnixMilli(q.HistoryTimes[i]).UTC()
		}
		rebuy[x] = o
	}
	bought := append(append([]string{}, q.ContextBought...), reversed(q.HistoryBought)...)
	viewed := append(append([]string{}, q.ContextViewed...), reversed(q.HistoryViewed)...)
	return Plan{
		Bought:  firstDistinct(bought, MaxSources),
		Viewed:  firstDistinct(viewed, MaxSources),
		Exclude: exclude,
		Owned:   owned,
		Ever:    ever,
		Kept:    kept,
		Known:   len(bought) > 0 || len(viewed) > 0,
		Rebuy:   rebuy,
	}
}

// Owns reports whether the customer bought item, as far as the plan
// knows: in the purchase history or (probably: a Bloom filter) in the
// ever-bought set. Never true when owned items are kept.
func (p Plan) Owns(item string) bool { return p.Owned[item] || p.Ever.Contains(item) }

// rebuyItems returns the plan's owned items, sorted: those whose purchase
// statistics ForPlan reads.
func (p Plan) rebuyItems() []string {
	return slices.Sorted(maps.Keys(p.Rebuy))
}

// Lists are the related lists of a plan's sources: AlsoBought[i] is the
// "bought also bought" list of Bought[i]; ViewedBought[i] and AlsoViewed[i]
// the "viewed then bought" and "viewed also viewed" lists of Viewed[i]. A
// missing list is nil.
type Lists struct {
	AlsoBought, ViewedBought, AlsoViewed [][]scoring.Related
}

// Sources pairs the plan's items with their lists, ranked by recency.
func (p Plan) Sources(l Lists) []Source {
	sources := make([]Source, 0, len(p.Bought)+len(p.Viewed))
	at := func(lists [][]scoring.Related, i int) []scoring.Related {
		if i < len(lists) {
			return lists[i]
		}
		return nil
	}
	for i, x := range p.Bought {
		sources = append(sources, Source{Item: x, Bought: true, Rank: i, AlsoBought: at(l.AlsoBought, i)})
	}
	for i, x := range p.Viewed {
		sources = append(sources, Source{Item: x, Rank: i, ViewedBought: at(l.ViewedBought, i), AlsoViewed: at(l.AlsoViewed, i)})
	}
	return sources
}

// Request is the merge request of the plan's answer: k items, without the
// plan's exclusions, its owned items competing as repeats, and the prior.
// The API and the evaluator both build it here, so they cannot drift.
// Rebuy is the plan's (ForPlan fills in the statistics first).
func (p Plan) Request(k int, prior Prior) Request {
	return Request{K: k, Exclude: p.Exclude, Owned: p.Owned, EverBought: p.Ever, Kept: p.Kept, Prior: prior, Rebuy: p.Rebuy}
}

// reversed returns a history (least recent first) most recent first.
func reversed(items []string) []string {
	out := make([]string, len(items))
	for i, x := range items {
		out[len(items)-1-i] = x
	}
	return out
}

// firstDistinct keeps the first n distinct items.
func firstDistinct(items []string, n int) []string {
	seen := make(map[string]bool, min(n, len(items)))
	out := make([]string, 0, min(n, len(items)))
	for _, x := range items {
		if len(out) == n {
			break
		}
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
