package recommend

import (
	"context"
	"time"

	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// Store is what a Recommender reads, one small interface per concept of
// package store: a customer's histories; the lists of the sources with the
// popularity list, the repeat counters and the owned items' purchase
// statistics (one round trip); the candidates' categories.
type Store struct {
	Customers interface {
		Load(ctx context.Context, ids []string) (map[string]store.Customer, error)
	}
	Lists interface {
		ReadMany(ctx context.Context, want []store.ListRef, popular *store.PopularRef, rebuy []string) (store.Gathered, error)
	}
	Categories interface {
		ItemCategories(ctx context.Context, items []string) ([]string, error)
	}
}

// StoreOf returns the parts of a store a Recommender reads.
func StoreOf(st *store.Store) Store {
	return Store{Customers: st.Customers, Lists: st.Lists, Categories: st.Popularity}
}

// Config of a Recommender.
type Config struct {
	// KeepOwned lets items the customer bought compete like any other item.
	// Without it they come back by the repeat model (docs/DESIGN.md
	// section 12: the customer's and the item's repeat shares), never where
	// nobody buys again.
	KeepOwned bool
	// Catalogue, when set, has the last word on what may be recommended
	// and on categories (docs/DESIGN.md §11): the stored lists are written
	// without hidden items already, but an availability window is judged
	// again when the answer is served, and so is an owned item that comes
	// back to be bought again.
	Catalogue Catalogue
	// Now is the clock availability windows are judged by; default
	// time.Now.
	Now func() time.Time
	// BuyAgain caps the owned items of every answer unless the Ask sets
	// its own cap; the zero value caps nothing.
	BuyAgain OwnedLimit
}

// Catalogue is what the shop says about items (catalogue.View).
type Catalogue interface {
	Visible(item string, now time.Time) bool
	Category(item string) string
}

// Recommender answers recommendation requests: it reads what a request
// needs through its Store and merges it. The HTTP API, the status page
// and the evaluator all ask it, so what eval measures is what is served.
type Recommender struct {
	cfg Config
	st  Store
}

// New returns a Recommender reading st.
func New(cfg Config, st Store) *Recommender {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Recommender{cfg: cfg, st: st}
}

// Ask is one recommendation request.
type Ask struct {
	// Customer's stored histories are the sources besides the context; ""
	// asks with the context alone.
	Customer string
	// ContextBought and ContextViewed are what the page says, most recent
	// first; Exclude what the caller does not want to see.
	ContextBought, ContextViewed, Exclude []string
	// Category, when set, keeps only its items, back-filled from its own
	// popularity list.
	Category string
	K        int
	// BuyAgain, when Capped, replaces Config.BuyAgain for this answer
	// (NoOwned: a "discover something new" row).
	BuyAgain OwnedLimit
}

// Answer is the answer to an Ask.
type Answer struct {
	// Known is false when nothing was known to personalise with (no
	// history, no context): the items are popular.
	Known bool
	Items []Recommendation // best first
}

// Recommend answers a with at most three round trips: the customer's
// histories (when a names one); the lists of at most MaxSources purchases
// and views with one popularity list, the repeat counters and the owned
// items' purchase statistics; the categories of the candidates (only with a
// category). The error is the store's.
func (r *Recommender) Recommend(ctx context.Context, a Ask) (Answer, error) {
	plan, err := r.plan(ctx, a)
	if err != nil {
		return Answer{}, err
	}
	limit := r.cfg.BuyAgain
	if a.BuyAgain.Capped {
		limit = a.BuyAgain
	}
	items, err := r.forPlan(ctx, plan, a.K, a.Category, limit)
	return Answer{Known: plan.Known, Items: items}, err
}

// plan reads the customer's histories (when a names one) and resolves a.
func (r *Recommender) plan(ctx context.Context, a Ask) (Plan, error) {
	q := Query{ContextBought: a.ContextBought, ContextViewed: a.ContextViewed, Exclude: a.Exclude, KeepOwned: r.cfg.KeepOwned}
	if a.Customer != "" {
		cs, err := r.st.Customers.Load(ctx, []string{a.Customer})
		if err != nil {
			return Plan{}, err
		}
		c := cs[a.Customer]
		q.HistoryBought, q.HistoryViewed, q.Ever = c.Purchases.Items, c.Views.Items, c.Purchases.Ever
		q.HistoryCounts, q.HistoryTimes = c.Purchases.Counts, c.Purchases.Times
	}
	return NewPlan(q), nil
}

// ForPlan returns the k best recommendations of a resolved plan (see
// Recommend, without the histories' read), with Config.BuyAgain. The
// evaluator, which resolves each customer's plan once for all its methods,
// asks here.
func (r *Recommender) ForPlan(ctx context.Context, plan Plan, k int, category string) ([]Recommendation, error) {
	return r.forPlan(ctx, plan, k, category, r.cfg.BuyAgain)
}

func (r *Recommender) forPlan(ctx context.Context, plan Plan, k int, category string, limit OwnedLimit) ([]Recommendation, error) {
	sources, req, err := r.merging(ctx, plan, k, category, limit)
	if err != nil {
		return nil, err
	}
	return Merge(sources, req), nil
}

// merging reads what the plan's answer needs in one round trip (two with a
// category) and returns what Merge takes.
func (r *Recommender) merging(ctx context.Context, plan Plan, k int, category string, limit OwnedLimit) ([]Source, Request, error) {
	owned := plan.rebuyItems()
	read, err := r.st.Lists.ReadMany(ctx, plan.listRefs(), &store.PopularRef{Kind: store.Bought, Category: category}, owned)
	if err != nil {
		return nil, Request{}, err
	}
	prior := Prior{RepeatShare: read.Repeats.Share(), Gaps: read.Repeats.Gaps}
	var now time.Time
	if pop := read.Popular; pop != nil {
		prior.Popular, prior.Total, prior.Distinct = pop.Items, pop.Total, pop.Distinct
		now = pop.Anchor
	}
	req := plan.Request(k, prior)
	req.BuyAgain = limit
	req.Now = now
	if len(owned) > 0 {
		// A copy: the plan is resolved once and asked for several methods.
		req.Rebuy = make(map[string]OwnedItem, len(owned))
		for i, x := range owned {
			o := plan.Rebuy[x]
			if i < len(read.Rebuy) {
				o.Stats = read.Rebuy[i]
			}
			req.Rebuy[x] = o
			// Without a popularity list (a category nobody bought in the
			// window) there is no anchor: the customer's latest purchase is
			// then the latest time the request knows of.
			if o.Last.After(req.Now) {
				req.Now = o.Last
			}
		}
	}
	if category != "" {
		if req.Allow, err = r.categoryFilter(ctx, category, read.Related, owned); err != nil {
			return nil, Request{}, err
		}
	}
	if cat := r.cfg.Catalogue; cat != nil {
		now, inCategory := r.cfg.Now(), req.Allow
		req.Allow = func(item string) bool {
			return cat.Visible(item, now) && (inCategory == nil || inCategory(item))
		}
	}
	return plan.Sources(plan.lists(read.Related)), req, nil
}

// listRefs names the lists of the plan's sources in three blocks: the
// purchases' "bought also bought" lists, then the views' "viewed then
// bought" lists, then their "viewed also viewed" lists (see lists).
func (p Plan) listRefs() []store.ListRef {
	refs := make([]store.ListRef, 0, len(p.Bought)+2*len(p.Viewed))
	for _, x := range p.Bought {
		refs = append(refs, store.ListRef{Kind: store.Bought, Item: x})
	}
	for _, x := range p.Viewed {
		refs = append(refs, store.ListRef{Kind: store.ViewedBought, Item: x})
	}
	for _, x := range p.Viewed {
		refs = append(refs, store.ListRef{Kind: store.Viewed, Item: x})
	}
	return refs
}

// lists splits what listRefs named back into its three blocks.
func (p Plan) lists(read [][]scoring.Related) Lists {
	nb, nv := len(p.Bought), len(p.Viewed)
	return Lists{AlsoBought: read[:nb], ViewedBought: read[nb : nb+nv], AlsoViewed: read[nb+nv : nb+2*nv]}
}

// categoryFilter reads the categories of every candidate in one round trip:
// the lists' entries and the owned items the repeat model may bring back.
func (r *Recommender) categoryFilter(ctx context.Context, category string, lists [][]scoring.Related, owned []string) (func(string) bool, error) {
	var items []string
	seen := map[string]bool{}
	for _, it := range owned {
		if !seen[it] {
			seen[it] = true
			items = append(items, it)
		}
	}
	for _, l := range lists {
		for _, it := range l {
			if !seen[it.Item] {
				seen[it.Item] = true
				items = append(items, it.Item)
			}
		}
	}
	cats, err := r.st.Categories.ItemCategories(ctx, items)
	if err != nil {
		return nil, err
	}
	in := make(map[string]bool, len(items))
	for i, it := range items {
		c := cats[i]
		if r.cfg.Catalogue != nil {
			if own := r.cfg.Catalogue.Category(it); own != "" { // the catalogue's category wins
				c = own
			}
		}
		in[it] = c == category
	}
	// Popular back-fill comes from the category's own list: allow it.
	return func(item string) bool { ok, seen := in[item]; return ok || !seen }, nil
}
