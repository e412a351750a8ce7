package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/recommend"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// DefaultRecommendations is k when a request gives none: six, as a
// storefront row shows (docs/DESIGN.md section 7).
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
		visible := s.visibleNow()
		for _, it := range l.Items {
			if len(resp.Items) == k {
				break
			}
			if visible(it.Item) {
				resp.Items = append(resp.Items, it)
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// RecommendationItem is one recommended item in API responses.
type RecommendationItem struct {
	Item   string  `json:"item"`
	Score  float64 `json:"score"`
	Reason string  `json:"reason"`           // bought, viewed, buy_again or popular
	Source string  `json:"source,omitempty"` // the bought or viewed item behind the reason
	// Because is the reason as a storefront can show it: "because you
	// bought X", "because you viewed X", "buy again" or "popular".
	Because string `json:"because"`
	// Owned says the customer bought the item before: a re-buy, not a
	// discovery. Always present, so that a storefront can tell the two
	// apart without knowing the reasons.
	Owned bool `json:"owned"`
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
	k              int
	exclude        []string
	category       string
	viewed, bought []string // context: most recent first
	customer       string   // the customer endpoint's; "" on the context endpoint
	// buyAgain is the request's cap on owned items (buy_again,
	// buy_again_share); the zero value: the server's.
	buyAgain recommend.OwnedLimit
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
	p.buyAgain, err = parseBuyAgain(q.Get("buy_again"), q.Get("buy_again_share"))
	return p, err
}

// BuyAgainShare is serve's -buy-again-share as Options.BuyAgain: at most
// floor(share × k) owned items, no cap at 1.
func BuyAgainShare(share float64) recommend.OwnedLimit {
	if share >= 1 {
		return recommend.OwnedLimit{}
	}
	return recommend.OwnedShare(share)
}

// parseBuyAgain reads the buy_again (true or false) and buy_again_share (a
// number from 0 to 1) parameters: buy_again=false leaves every owned item
// out, whatever the share; a share caps them at floor(share × k); neither
// (or buy_again=true alone) keeps the server's -buy-again-share.
func parseBuyAgain(on, share string) (recommend.OwnedLimit, error) {
	var limit recommend.OwnedLimit
	if share != "" {
		f, err := strconv.ParseFloat(share, 64)
		if err != nil || !(f >= 0 && f <= 1) {
			return limit, errors.New("buy_again_share must be a number from 0 to 1")
		}
		limit = recommend.OwnedShare(f)
	}
	switch on {
	case "", "true":
	case "false":
		limit = recommend.NoOwned
	default:
		return limit, fmt.Errorf("buy_again %q: use true or false", on)
	}
	return limit, nil
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
	p.customer = id
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

// recommendations asks the recommender for p's answer (the answer of both
// recommendation endpoints and of the status page's lookup) and encodes
// it. The error is the store's.
func (s *server) recommendations(ctx context.Context, p recParams) (RecommendationsResponse, error) {
	ans, err := s.rec.Recommend(ctx, recommend.Ask{Customer: p.customer, ContextBought: p.bought, ContextViewed: p.viewed,
		Exclude: p.exclude, Category: p.category, K: p.k, BuyAgain: p.buyAgain})
	if err != nil {
		return RecommendationsResponse{}, err
	}
	resp := RecommendationsResponse{Customer: p.customer, Known: ans.Known, Items: make([]RecommendationItem, 0, len(ans.Items))}
	for _, rec := range ans.Items {
		resp.Items = append(resp.Items, RecommendationItem{Item: rec.Item, Score: rec.Score, Reason: string(rec.Reason),
			Source: rec.Source, Because: because(rec), Owned: rec.Owned})
	}
	return resp, nil
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

// unavailable answers 503 for a failed Redis read, which it counts and
// logs (rate-limited: an outage fails every request).
func (s *server) unavailable(w http.ResponseWriter, err error) {
	s.opts.Errors.Redis()
	s.log.Warn().Err(err).Msg("state store request failed")
	writeError(w, http.StatusServiceUnavailable, "state store unavailable")
}
