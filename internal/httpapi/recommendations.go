package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/recommend"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// DefaultRecommendations is k when a request gives none: six, as a
// storefront row shows (DESIGN.md section 7).
const DefaultRecommendations = 6

// MaxContextItems bounds each of the exclude, viewed and bought parameters.
const MaxContextItems = 50

// PopularResponse is the body of GET /v1/popular.
type PopularResponse struct {
	Kind       string            `json:"kind"`
	Category   string            `json:"category,omitempty"`
	Anchor     *time.Time        `json:"anchor,omitempty"`
	Days       int               `json:"days"`
	ComputedAt *time.Time        `json:"computed_at,omitempty"`
	Items      []scoring.Popular `json:"items"`
}

func (s *server) popular(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	k, err := parseK(r, 10)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	kind := store.Bought
	switch v := q.Get("kind"); v {
	case "", "bought":
	case "viewed":
		kind = store.Viewed
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("kind %q: use bought or viewed", v))
		return
	}
	category := q.Get("category")
	if category != "" {
		if err := event.ValidID(category, event.DefaultMaxCategoryLen); err != nil {
			writeError(w, http.StatusBadRequest, "category: "+err.Error())
			return
		}
	}
	resp := PopularResponse{Kind: string(kind), Category: category, Days: scoring.PopularityDays, Items: []scoring.Popular{}}
	l, err := s.st.Popularity.ReadList(r.Context(), kind, category)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		s.unavailable(w, err)
		return
	default:
		resp.Anchor, resp.ComputedAt = &l.Anchor, &l.ComputedAt
		resp.Items = l.Items[:min(k, len(l.Items))]
	}
	writeJSON(w, http.StatusOK, resp)
}

// RecommendationItem is one recommended item in API responses.
type RecommendationItem struct {
	Item   string  `json:"item"`
	Score  float64 `json:"score"`
	Reason string  `json:"reason"`           // bought, viewed or popular
	Source string  `json:"source,omitempty"` // the bought or viewed item behind the reason
	// Because is the reason as a storefront can show it: "because you
	// bought X", "because you viewed X" or "popular".
	Because string `json:"because"`
}

// RecommendationsResponse is the body of both recommendation endpoints.
type RecommendationsResponse struct {
	Customer string `json:"customer,omitempty"`
	// Known is false when nothing is known to personalise with (a customer
	// with no history and no context items): the items are popular.
	Known bool                 `json:"known"`
	Items []RecommendationItem `json:"items"`
}

// recParams are the parameters both recommendation endpoints share.
type recParams struct {
	k                int
	exclude          []string
	category         string
	viewed, bought   []string // context: most recent first
	customer         string
	customerEndpoint bool
}

func parseRecParams(r *http.Request) (recParams, error) {
	q := r.URL.Query()
	p := recParams{}
	var err error
	if p.k, err = parseK(r, DefaultRecommendations); err != nil {
		return p, err
	}
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"exclude", &p.exclude}, {"viewed", &p.viewed}, {"bought", &p.bought}} {
		if *f.dst, err = parseIDs(f.name, q.Get(f.name)); err != nil {
			return p, err
		}
	}
	if p.category = q.Get("category"); p.category != "" {
		if err := event.ValidID(p.category, event.DefaultMaxCategoryLen); err != nil {
			return p, errors.New("category: " + err.Error())
		}
	}
	return p, nil
}

// parseIDs splits a comma-separated list of ids and checks each.
func parseIDs(name, v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	ids := strings.Split(v, ",")
	if len(ids) > MaxContextItems {
		return nil, fmt.Errorf("%s: at most %d item ids", name, MaxContextItems)
	}
	for _, id := range ids {
		if err := event.ValidID(id, event.DefaultMaxIDLen); err != nil {
			return nil, fmt.Errorf("%s: item id %q: %w", name, id, err)
		}
	}
	return ids, nil
}

func (s *server) customerRecommendations(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := event.ValidID(id, event.DefaultMaxIDLen); err != nil {
		writeError(w, http.StatusBadRequest, "customer id: "+err.Error())
		return
	}
	p, err := parseRecParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p.customer, p.customerEndpoint = id, true
	s.recommend(w, r, p)
}

func (s *server) contextRecommendations(w http.ResponseWriter, r *http.Request) {
	p, err := parseRecParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.recommend(w, r, p)
}

// recommend answers both recommendation endpoints.
func (s *server) recommend(w http.ResponseWriter, r *http.Request, p recParams) {
	resp, err := s.recommendations(r.Context(), p)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// recommendations merges the recommendations of p (the answer of both
// recommendation endpoints and of the status page's lookup) with at most
// three round trips to Redis: the customer's histories (customer endpoint
// only); the lists of at most recommend.MaxSources purchases and views plus
// one popularity list; the categories of the candidates (only with a
// category filter). The error is the store's.
func (s *server) recommendations(ctx context.Context, p recParams) (RecommendationsResponse, error) {
	q := recommend.Query{ContextBought: p.bought, ContextViewed: p.viewed, Exclude: p.exclude, KeepOwned: s.opts.KeepOwned}
	if p.customerEndpoint {
		cs, err := s.st.Customers.Load(ctx, []string{p.customer})
		if err != nil {
			return RecommendationsResponse{}, err
		}
		c := cs[p.customer]
		q.HistoryBought, q.HistoryViewed = c.Purchases.Items, c.Views.Items
	}
	plan := recommend.NewPlan(q)
	var refs []store.ListRef
	for _, x := range plan.Bought {
		refs = append(refs, store.ListRef{Kind: store.Bought, Item: x})
	}
	for _, x := range plan.Viewed {
		refs = append(refs, store.ListRef{Kind: store.ViewedBought, Item: x}, store.ListRef{Kind: store.Viewed, Item: x})
	}
	got, err := s.st.Lists.ReadMany(ctx, refs, &store.PopularRef{Kind: store.Bought, Category: p.category})
	lists, pop, repeats := got.Related, got.Popular, got.Repeats
	if err != nil {
		return RecommendationsResponse{}, err
	}
	var l recommend.Lists
	l.AlsoBought = lists[:len(plan.Bought)]
	for i := len(plan.Bought); i < len(lists); i += 2 {
		l.ViewedBought, l.AlsoViewed = append(l.ViewedBought, lists[i]), append(l.AlsoViewed, lists[i+1])
	}
	sources := plan.Sources(l)
	req := recommend.Request{K: p.k, Exclude: plan.Exclude, Owned: plan.Owned, Prior: recommend.Prior{RepeatShare: repeats.Share()}}
	if pop != nil {
		req.Prior.Popular, req.Prior.Total, req.Prior.Distinct = pop.Items, pop.Total, pop.Distinct
	}
	if p.category != "" {
		allow, err := s.categoryFilter(ctx, p.category, lists)
		if err != nil {
			return RecommendationsResponse{}, err
		}
		req.Allow = allow
	}
	resp := RecommendationsResponse{Customer: p.customer, Known: plan.Known, Items: []RecommendationItem{}}
	for _, rec := range recommend.Merge(sources, req) {
		resp.Items = append(resp.Items, RecommendationItem{Item: rec.Item, Score: rec.Score, Reason: string(rec.Reason),
			Source: rec.Source, Because: because(rec)})
	}
	return resp, nil
}

// categoryFilter reads the categories of every candidate in one round trip.
func (s *server) categoryFilter(ctx context.Context, category string, lists [][]scoring.Related) (func(string) bool, error) {
	var items []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, it := range l {
			if !seen[it.Item] {
				seen[it.Item] = true
				items = append(items, it.Item)
			}
		}
	}
	cats, err := s.st.Popularity.ItemCategories(ctx, items)
	if err != nil {
		return nil, err
	}
	in := make(map[string]bool, len(items))
	for i, it := range items {
		in[it] = cats[i] == category
	}
	// Popular back-fill comes from the category's own list: allow it.
	return func(item string) bool { ok, seen := in[item]; return ok || !seen }, nil
}

func because(r recommend.Recommendation) string {
	switch r.Reason {
	case recommend.BecauseBought:
		return "because you bought " + r.Source
	case recommend.BecauseViewed:
		return "because you viewed " + r.Source
	case recommend.BuyAgain:
		return "buy again"
	}
	return "popular"
}

func (s *server) unavailable(w http.ResponseWriter, err error) {
	s.log.Warn().Err(err).Msg("state store request failed")
	writeError(w, http.StatusServiceUnavailable, "state store unavailable")
}
