package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/recommend"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// pageShop is a shop whose item pages need filling: the best-seller pen
// has no list, milk's list holds bread alone, and the remote was viewed
// by one visitor only.
func pageShop() [][4]string {
	var evs [][4]string
	for _, c := range []string{"c1", "c2", "c3"} {
		evs = append(evs, [4]string{c, "buy", "milk", "dairy"}, [4]string{c, "buy", "bread", "dairy"})
	}
	for _, c := range []string{"c6", "c7", "c8", "c9", "c10"} {
		evs = append(evs, [4]string{c, "buy", "pen", "office"})
	}
	evs = append(evs, [4]string{"s1", "buy", "stapler", "office"}, [4]string{"s2", "buy", "stapler", "office"},
		[4]string{"i1", "buy", "ink", "office"}, [4]string{"d1", "buy", "cheese", "dairy"},
		[4]string{"d2", "buy", "yogurt", "dairy"}, [4]string{"d3", "buy", "yogurt", "dairy"})
	for _, c := range []string{"v1", "v2"} {
		evs = append(evs, [4]string{c, "view", "tv", ""}, [4]string{c, "view", "radio", ""})
	}
	return append(evs, [4]string{"v3", "view", "remote", ""})
}

// pageReads counts the API's reads of lists and popularity lists: each
// call is one round trip.
type pageReads struct {
	lists      httpapi.ListReader
	popularity httpapi.PopularityReader
	trips      int
}

func (p *pageReads) Read(ctx context.Context, kind store.ListKind, item string) (store.List, error) {
	p.trips++
	return p.lists.Read(ctx, kind, item)
}

func (p *pageReads) ReadWithCategory(ctx context.Context, kind store.ListKind, item string) (store.List, string, error) {
	p.trips++
	return p.lists.ReadWithCategory(ctx, kind, item)
}

func (p *pageReads) ReadList(ctx context.Context, kind store.ListKind, category string) (store.PopularList, error) {
	p.trips++
	return p.popularity.ReadList(ctx, kind, category)
}

func (p *pageReads) ReadLists(ctx context.Context, kind store.ListKind, categories []string) ([]*store.PopularList, error) {
	p.trips++
	return p.popularity.ReadLists(ctx, kind, categories)
}

// catalogueShelf is a catalogue in memory: the items it hides and the categories
// it gives.
type catalogueShelf struct {
	hidden     map[string]bool
	categories map[string]string
}

func (s catalogueShelf) Visible(item string, _ time.Time) bool { return !s.hidden[item] }
func (s catalogueShelf) Category(item string) string           { return s.categories[item] }

// TestRelatedListsAreFilled: an item page asks for k related items and
// gets them: its own list first, then its category's best-sellers, then
// the overall ones, each filled entry marked, without the item itself and
// without duplicates, in one more round trip and only when the list is
// short.
func TestRelatedListsAreFilled(t *testing.T) {
	env := testenv.NewRedis(t)
	shop(t, env.Store, pageShop())
	serve := func(cat httpapi.Options) (*pageReads, func(path string) httpapi.RelatedResponse) {
		st := httpapi.StoreOf(env.Store)
		reads := &pageReads{lists: st.Lists, popularity: st.Popularity}
		st.Lists, st.Popularity = reads, reads
		h := httpapi.New(st, cat, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop())
		return reads, func(path string) httpapi.RelatedResponse {
			t.Helper()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			var resp httpapi.RelatedResponse
			if rec.Code != 200 {
				t.Fatalf("GET %s: status %d: %s", path, rec.Code, rec.Body)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			return resp
		}
	}
	entries := func(r httpapi.RelatedResponse) []string {
		out := []string{}
		for _, it := range r.Items {
			if it.Fill != "" && (it.Score != 0 || it.Support != 0) {
				t.Errorf("filled entry %+v has a score or a support", it)
			}
			out = append(out, strings.TrimSuffix(it.Item+" "+it.Fill, " "))
		}
		return out
	}
	reads, get := serve(httpapi.Options{})
	tests := []struct {
		path     string
		want     []string
		category string
		trips    int
	}{
		{"/v1/items/pen/related?k=3", []string{}, "", 1},
		{"/v1/items/pen/related?k=3&fill=category", []string{"stapler category", "ink category"}, "office", 2},
		{"/v1/items/pen/related?k=4&fill=category,popular", []string{"stapler category", "ink category", "bread popular", "milk popular"}, "office", 2},
		{"/v1/items/pen/related?k=2&fill=popular", []string{"bread popular", "milk popular"}, "", 2},
		// bread is on milk's list and in the dairy list: once, as the list's.
		{"/v1/items/milk/related?k=4&fill=category,popular", []string{"bread", "yogurt category", "cheese category", "pen popular"}, "dairy", 2},
		{"/v1/items/milk/related?k=1&fill=category,popular", []string{"bread"}, "dairy", 1},
		{"/v1/items/remote/related?list=viewed&k=2&fill=popular", []string{"radio popular", "tv popular"}, "", 2},
		// An item of unknown category: nothing to read for "category".
		{"/v1/items/caviar/related?k=2&fill=category", []string{}, "", 1},
		{"/v1/items/caviar/related?k=1&fill=category,popular", []string{"pen popular"}, "", 2},
	}
	for _, tc := range tests {
		reads.trips = 0
		r := get(tc.path)
		if got := entries(r); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.path, got, tc.want)
		}
		if r.Category != tc.category || reads.trips != tc.trips {
			t.Errorf("%s: category %q after %d round trips, want %q after %d", tc.path, r.Category, reads.trips, tc.category, tc.trips)
		}
	}

	// The catalogue hides the stapler and files the pen under dairy: its
	// category wins, without a read, and nothing hidden fills a page.
	reads, get = serve(httpapi.Options{Catalogue: catalogueShelf{hidden: map[string]bool{"stapler": true, "yogurt": true},
		categories: map[string]string{"pen": "dairy"}}})
	r := get("/v1/items/pen/related?k=3&fill=category,popular")
	if got, want := entries(r), []string{"bread category", "milk category", "cheese category"}; !reflect.DeepEqual(got, want) || r.Category != "dairy" || reads.trips != 2 {
		t.Errorf("with the catalogue: %v in %q after %d round trips, want %v in dairy after 2", got, r.Category, reads.trips, want)
	}
	r = get("/v1/items/ink/related?k=2&fill=category")
	if got, want := entries(r), []string{"pen category"}; !reflect.DeepEqual(got, want) {
		t.Errorf("office without the hidden stapler: %v, want %v", got, want)
	}

	for _, bad := range []string{"fill=cheap", "fill=popular,popular", "fill=", "fill=category,"} {
		rec := httptest.NewRecorder()
		httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{}, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop()).
			ServeHTTP(rec, httptest.NewRequest("GET", "/v1/items/pen/related?"+bad, nil))
		if want := 400; bad == "fill=" {
			want = 200 // an empty fill fills nothing
			if rec.Code != want {
				t.Errorf("%s: status %d, want %d", bad, rec.Code, want)
			}
		} else if rec.Code != want {
			t.Errorf("%s: status %d, want %d: %s", bad, rec.Code, want, rec.Body)
		}
	}
}

// coffeeShop is a shop where customers buy again: three of its 13
// purchases re-buy coffee; "me" owns coffee (7 of the window's purchases)
// and tea (1); five customers bought a pen.
func coffeeShop() [][4]string {
	var evs [][4]string
	for _, c := range []string{"g1", "g2", "g3"} {
		evs = append(evs, [4]string{c, "buy", "coffee", ""}, [4]string{c, "buy", "coffee", ""})
	}
	for _, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		evs = append(evs, [4]string{c, "buy", "pen", ""})
	}
	return append(evs, [4]string{"me", "buy", "coffee", ""}, [4]string{"me", "buy", "tea", ""})
}

// TestBuyAgainControls: every recommendation says whether the customer
// owns it; a request can leave owned items out or cap their share, and
// the server's setting is the default a request replaces.
func TestBuyAgainControls(t *testing.T) {
	env := testenv.NewRedis(t)
	// "me" owns coffee and tea, which come back (r = 3/13), after the pen.
	shop(t, env.Store, coffeeShop())
	get := func(opts httpapi.Options, query string, status int) (string, []string) {
		t.Helper()
		h := httpapi.New(httpapi.StoreOf(env.Store), opts, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/customers/me/recommendations?k=3"+query, nil))
		if rec.Code != status {
			t.Fatalf("%s: status %d, want %d: %s", query, rec.Code, status, rec.Body)
		}
		var r httpapi.RecommendationsResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range r.Items {
			s := it.Item + " " + it.Reason
			if it.Owned {
				s += " owned"
			}
			out = append(out, s)
		}
		return rec.Body.String(), out
	}
	all := []string{"pen popular", "coffee buy_again owned", "tea buy_again owned"}
	body, got := get(httpapi.Options{}, "", 200)
	if !reflect.DeepEqual(got, all) || !strings.Contains(body, `"owned":false`) {
		t.Errorf("no cap: %v, want %v, with owned always present: %s", got, all, body)
	}
	tests := []struct {
		opts  httpapi.Options
		query string
		want  []string
	}{
		{httpapi.Options{}, "&buy_again=false", []string{"pen popular"}},
		{httpapi.Options{}, "&buy_again=true", all},
		{httpapi.Options{}, "&buy_again_share=0.34", []string{"pen popular", "coffee buy_again owned"}},
		{httpapi.Options{}, "&buy_again_share=0.66&buy_again=false", []string{"pen popular"}},
		{httpapi.Options{BuyAgain: recommend.OwnedShare(0)}, "", []string{"pen popular"}},
		{httpapi.Options{BuyAgain: recommend.OwnedShare(0)}, "&buy_again_share=1", all},
		{httpapi.Options{BuyAgain: recommend.OwnedShare(0.5)}, "&buy_again=true", []string{"pen popular", "coffee buy_again owned"}},
		// serve's -buy-again-share: 1 is no cap, less is a cap.
		{httpapi.Options{BuyAgain: httpapi.BuyAgainShare(1)}, "", all},
		{httpapi.Options{BuyAgain: httpapi.BuyAgainShare(0.4)}, "", []string{"pen popular", "coffee buy_again owned"}},
	}
	for _, tc := range tests {
		if _, got := get(tc.opts, tc.query, 200); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v %s: %v, want %v", tc.opts.BuyAgain, tc.query, got, tc.want)
		}
	}
	// The status page's lookup marks them too.
	rec := httptest.NewRecorder()
	httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{}, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop()).
		ServeHTTP(rec, httptest.NewRequest("GET", "/status?customer=me&k=3", nil))
	for _, want := range []string{`<tr data-item="coffee" data-reason="buy_again" data-owned="true">`, `buy again (owned)`, `<tr data-item="pen" data-reason="popular" data-owned="false">`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("the status page lacks %s:\n%s", want, rec.Body)
		}
	}
	for _, bad := range []string{"&buy_again=no", "&buy_again_share=1.5", "&buy_again_share=-0.1", "&buy_again_share=half", "&buy_again_share=NaN"} {
		get(httpapi.Options{}, bad, 400)
	}
}
