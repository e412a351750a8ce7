// Package httpapi serves the storefront API (related lists), health and
// readiness probes, the Prometheus metrics, and the operators' status page.
package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/recommend"
	"github.com/alsobought/alsobought/store"
)

// DefaultAddr is where the server listens unless configured.
const DefaultAddr = "127.0.0.1:8080"

// MaxK bounds the k parameter.
const MaxK = 100

// Store is what the API reads, one small interface per concept of package
// store: an item's list and a popularity list itself, the recommendations
// through a recommend.Recommender reading Recommend.
type Store struct {
	Lists      ListReader
	Popularity PopularityReader
	Recommend  recommend.Store
	// Erasures takes erasure requests (DELETE /v1/customers/{id}).
	Erasures interface {
		RequestErasure(ctx context.Context, customer string) ([]int, error)
	}
	Catalogue interface {
		Read(ctx context.Context, item string) (event.Item, bool, error)
	}
}

// ListReader reads an item's related list (store.Lists), with its
// category when the page may be filled from it.
type ListReader interface {
	Read(ctx context.Context, kind store.ListKind, item string) (store.List, error)
	ReadWithCategory(ctx context.Context, kind store.ListKind, item string) (store.List, string, error)
}

// PopularityReader reads popularity lists (store.Popularity): one, or
// several in one round trip.
type PopularityReader interface {
	ReadList(ctx context.Context, kind store.ListKind, category string) (store.PopularList, error)
	ReadLists(ctx context.Context, kind store.ListKind, categories []string) ([]*store.PopularList, error)
}

// StoreOf returns the parts of a store the API reads.
func StoreOf(st *store.Store) Store {
	return Store{Lists: st.Lists, Popularity: st.Popularity, Recommend: recommend.StoreOf(st), Catalogue: st.Catalogue,
		Erasures: st.Sweeps}
}

// Options shape the answers.
type Options struct {
	// KeepOwned lets items the customer bought compete like any other item.
	// Without it they come back by the repeat model (docs/DESIGN.md
	// section 12: the customer's and the item's repeat shares), never where
	// nobody buys again.
	KeepOwned bool
	// Status returns the latest lag status (GET /v1/status); nil: 503.
	Status func() lag.Report
	// Instance is which instance this is (GET /v1/status, the status
	// page); nil: not shown.
	Instance *Instance
	// RunbookURL is the runbook the status page links the sections of
	// what is not OK in; empty: no links.
	RunbookURL string
	// Recent samples the status page's figures for its recent window
	// (run it); nil: the handler keeps the figures at its creation, and
	// the window reaches back to then.
	Recent *Recent
	// Consumer and Rescorer are read by the status page; nil: this process
	// runs none (a serve that does not consume). The page then reads their
	// counters from the registry /metrics serves, where they are
	// registered (0 for a consumer that never runs), and says "–" where
	// they are not.
	Consumer ConsumerStats
	Rescorer RescoreStats
	// Tokens, when not empty, are the bearer tokens that the endpoints
	// naming a customer accept, any one of them (several while one is
	// rotated; docs/http-api.md, "Authentication"): GET
	// /v1/customers/{id}/recommendations, and the status page's customer
	// lookup when the status page shares the API's port.
	Tokens []string
	// Routes chooses the endpoints served; the zero value serves them all.
	Routes Routes
	// Errors counts the failed Redis reads, every one: the log shows a few
	// per outage. Nil counts nothing.
	Errors *obs.Errors
	// Catalogue has the last word on what recommendations may hold
	// (recommend.Config.Catalogue); nil: the stored lists as they are.
	Catalogue recommend.Catalogue
	// BuyAgain caps the owned items of personal recommendations unless a
	// request sets its own cap (buy_again, buy_again_share); the zero value
	// caps nothing.
	BuyAgain recommend.OwnedLimit
}

// Routes chooses which endpoints a handler serves: all on one port, or the
// API on one and the operators' endpoints on another (docs/http-api.md,
// "Ports").
type Routes int

const (
	// AllRoutes serves every endpoint: one port, as before the operators'
	// port existed.
	AllRoutes Routes = iota
	// APIRoutes serves the storefront API and the probes: the public port
	// when the operators' endpoints have their own.
	APIRoutes
	// OpsRoutes serves the probes, /metrics, /v1/status and the status
	// page: the operators' port, reached by the kubelet and Prometheus only.
	OpsRoutes
)

// ReadinessCheck returns why the service is not ready, or "" when it is.
type ReadinessCheck func(ctx context.Context) string

// New returns the handler of the endpoints opts.Routes chooses. A path it
// does not serve answers 404, and a path it serves for other methods 405
// with an Allow header, both as a JSON ErrorResponse.
func New(st Store, opts Options, ready ReadinessCheck, gatherer prometheus.Gatherer, log zerolog.Logger) http.Handler {
	log = log.With().Str("component", "http").Logger()
	s := &server{st: st, rec: recommend.New(recommend.Config{KeepOwned: opts.KeepOwned, Catalogue: opts.Catalogue,
		BuyAgain: opts.BuyAgain}, st.Recommend), opts: opts, ready: ready,
		// A Redis outage fails every request: rate-limited as the
		// consumer's retries are (docs/DESIGN.md section 6, "Logs").
		log: obs.Repeats(log), errLog: log, recent: opts.Recent, metrics: gatherer}
	if s.recent == nil {
		s.recent = NewRecent(opts, gatherer)
	}
	for _, t := range opts.Tokens {
		s.tokenSums = append(s.tokenSums, sha256.Sum256([]byte(t)))
	}
	api, ops := opts.Routes != OpsRoutes, opts.Routes != APIRoutes
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if api {
		mux.HandleFunc("GET /v1/items/{id}", s.item)
		mux.HandleFunc("GET /v1/items/{id}/related", s.related)
		mux.HandleFunc("GET /v1/popular", s.popular)
		mux.HandleFunc("GET /v1/customers/{id}/recommendations", s.personal(s.customerRecommendations))
		mux.HandleFunc("GET /v1/recommendations", s.contextRecommendations)
		mux.HandleFunc("DELETE /v1/customers/{id}", s.personal(s.erase))
	}
	if ops {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /v1/status", s.status)
		mux.HandleFunc("GET /status", s.statusPage)
	}
	return jsonErrors(mux)
}

// jsonErrors answers the requests that no pattern of mux matches with the
// documented JSON error: 405 with mux's Allow header when the path is
// served for other methods, else 404. (A catch-all "/" pattern would match
// a wrong method too, and answer 404 where the mux knows it is 405.)
func jsonErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// The mux's own answer, text, is a 404 or a 405 with Allow: keep
		// its status and header, not its body.
		var probe headerProbe
		h.ServeHTTP(&probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			allow := probe.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+": use "+allow)
			return
		}
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// headerProbe records a handler's status and headers, and drops its body.
type headerProbe struct {
	header http.Header
	code   int
}

func (p *headerProbe) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}

func (p *headerProbe) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}

func (p *headerProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

type server struct {
	st    Store
	rec   *recommend.Recommender
	opts  Options
	ready ReadinessCheck
	// log is rate-limited (obs.Repeats): for what a Redis outage repeats
	// on every request. errLog is not: for what should never happen.
	log, errLog zerolog.Logger
	tokenSums   [][sha256.Size]byte // of opts.Tokens; none: no authentication
	recent      *Recent             // the status page's recent window
	// metrics is what /metrics serves: the status page reads from it the
	// counters of a component this process registers but does not run.
	metrics prometheus.Gatherer
}

// readyTimeout bounds the readiness check of /readyz and of the status.
const readyTimeout = 2 * time.Second

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	rd := s.readiness(r.Context())
	code := http.StatusOK
	if rd.Status != "ready" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rd)
}

// RelatedItem is one entry of a related list in API responses. Support is
// the count the score rests on: co-buyers (bought), co-viewers (viewed), or
// customers who viewed the item and then bought this one (viewed_bought).
// An entry that fills a short list (the fill parameter) says where it
// comes from, and has score and support 0: nothing relates it to the item.
type RelatedItem struct {
	Item    string  `json:"item"`
	Score   float64 `json:"score"`
	Support int64   `json:"support"`
	Fill    string  `json:"fill,omitempty"` // FillCategory or FillPopular; absent for the list's own entries
}

// RelatedResponse is the body of GET /v1/items/{id}/related.
type RelatedResponse struct {
	Item       string     `json:"item"`
	List       string     `json:"list"`
	Method     string     `json:"method,omitempty"`
	ComputedAt *time.Time `json:"computed_at,omitempty"`
	// Category is the item's category, when the request asked to fill from
	// it and it is known.
	Category string        `json:"category,omitempty"`
	Items    []RelatedItem `json:"items"`
}

func (s *server) related(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := event.ValidID(id, event.DefaultMaxIDLen); err != nil {
		writeError(w, http.StatusBadRequest, "item id: "+err.Error())
		return
	}
	k, err := parseK(r, 10)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	kind := store.Bought
	if v := r.URL.Query().Get("list"); v != "" {
		if kind, err = store.ParseListKind(v); err != nil {
			writeError(w, http.StatusBadRequest, "list: "+err.Error())
			return
		}
	}
	fill, err := parseFill(r.URL.Query().Get("fill"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, err := s.relatedList(r.Context(), kind, id, k, fill...)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// relatedList reads the item's list of a kind, cut to k, and fills it
// from the popularity lists fill names when it is shorter (see fillList):
// the answer of GET /v1/items/{id}/related and of the status page's
// lookup. An item without a list is not an error: its list is empty. The
// error is the store's.
func (s *server) relatedList(ctx context.Context, kind store.ListKind, id string, k int, fill ...string) (RelatedResponse, error) {
	resp := RelatedResponse{Item: id, List: string(kind), Items: []RelatedItem{}}
	var l store.List
	var err error
	if slices.Contains(fill, FillCategory) {
		// The category rides on the list's round trip, unless the
		// catalogue, which has the last word, gives it.
		if s.opts.Catalogue != nil {
			resp.Category = s.opts.Catalogue.Category(id)
		}
		if resp.Category == "" {
			l, resp.Category, err = s.st.Lists.ReadWithCategory(ctx, kind, id)
		} else {
			l, err = s.st.Lists.Read(ctx, kind, id)
		}
	} else {
		l, err = s.st.Lists.Read(ctx, kind, id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		// An item without related items is not an error: the list is empty.
	case err != nil:
		return resp, err
	default:
		resp.Method = string(l.Method)
		at := l.ComputedAt
		resp.ComputedAt = &at
		visible := s.visibleNow()
		for _, it := range l.Items {
			if len(resp.Items) == k {
				break
			}
			if visible(it.Item) {
				resp.Items = append(resp.Items, RelatedItem{Item: it.Item, Score: it.Score, Support: it.Support})
			}
		}
	}
	if len(resp.Items) < k && len(fill) > 0 {
		return s.fillList(ctx, kind, resp, k, fill)
	}
	return resp, nil
}

// visibleNow says which items may be shown now. The stored lists hold only
// items that were visible when they were written; an availability window
// that closed since is judged again here, in memory, until the re-scorer
// rewrites the list (docs/DESIGN.md §11).
func (s *server) visibleNow() func(item string) bool {
	if s.opts.Catalogue == nil {
		return func(string) bool { return true }
	}
	now := time.Now()
	return func(item string) bool { return s.opts.Catalogue.Visible(item, now) }
}

// ItemResponse is the body of GET /v1/items/{id}: what the catalogue says
// about an item.
type ItemResponse struct {
	Item string `json:"item"`
	// Record is false when the catalogue has no record of the item: it is
	// available, with the category of its events.
	Record bool   `json:"record"`
	Status string `json:"status"`
	// AvailableFrom and AvailableUntil bound when it may be recommended.
	AvailableFrom  *time.Time `json:"available_from,omitempty"`
	AvailableUntil *time.Time `json:"available_until,omitempty"`
	Category       string     `json:"category,omitempty"`
	// Visible says whether it may be recommended now.
	Visible bool `json:"visible"`
}

func (s *server) item(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := event.ValidID(id, event.DefaultMaxIDLen); err != nil {
		writeError(w, http.StatusBadRequest, "item id: "+err.Error())
		return
	}
	rec, ok, err := s.st.Catalogue.Read(r.Context(), id)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ItemOf(id, rec, ok, time.Now()))
}

// ItemOf describes an item's record (ok false: none) as GET /v1/items/{id}
// answers, with its visibility at now.
func ItemOf(id string, rec event.Item, ok bool, now time.Time) ItemResponse {
	resp := ItemResponse{Item: id, Record: ok, Status: string(event.Available), Visible: true}
	if !ok {
		return resp
	}
	resp.Status, resp.Category, resp.Visible = string(rec.Status), rec.Category, rec.VisibleAt(now)
	if !rec.From.IsZero() {
		resp.AvailableFrom = &rec.From
	}
	if !rec.Until.IsZero() {
		resp.AvailableUntil = &rec.Until
	}
	return resp
}

func parseK(r *http.Request, def int) (int, error) {
	v := r.URL.Query().Get("k")
	if v == "" {
		return def, nil
	}
	k, err := strconv.Atoi(v)
	if err != nil || k < 1 || k > MaxK {
		return 0, errors.New("k must be an integer from 1 to " + strconv.Itoa(MaxK))
	}
	return k, nil
}

// ErrorResponse is the body of every error.
type ErrorResponse struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
