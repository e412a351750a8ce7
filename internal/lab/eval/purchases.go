package eval

import (
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
)

// PurchaseCounts counts each customer's purchases of each item, over the
// events a trainer was given (a duplicate, by the consumer's rule, counts
// once): the buy_again baseline orders a customer's own items by it. The
// stored histories keep no per-entry count yet, so eval counts them itself.
type PurchaseCounts struct {
	dedup  delta.Dedup
	recent map[string]*delta.Recent
	n      map[string]map[string]int64 // customer -> item -> purchases
}

// NewPurchaseCounts returns empty counts that skip duplicates as dedup says.
func NewPurchaseCounts(dedup delta.Dedup) *PurchaseCounts {
	return &PurchaseCounts{dedup: dedup, recent: map[string]*delta.Recent{}, n: map[string]map[string]int64{}}
}

// Add counts events (in arrival order) after those already added.
func (p *PurchaseCounts) Add(events []event.Event) {
	for _, e := range events {
		if p.dedup.Window > 0 {
			r := p.recent[e.CustomerID]
			if r == nil {
				r = &delta.Recent{}
				p.recent[e.CustomerID] = r
			}
			if r.Seen(e.ID) {
				continue
			}
			r.Add(e.ID, e.Time, p.dedup)
		}
		p.count(e)
	}
}

// count counts an event its caller found not to be a duplicate.
func (p *PurchaseCounts) count(e event.Event) {
	if e.Type != event.Purchase {
		return
	}
	c := p.n[e.CustomerID]
	if c == nil {
		c = map[string]int64{}
		p.n[e.CustomerID] = c
	}
	c[e.ItemID]++
}

// Of returns a customer's counts, item -> purchases (nil for none). The
// map is the counter's own: read it, do not change it.
func (p *PurchaseCounts) Of(customer string) map[string]int64 { return p.n[customer] }
