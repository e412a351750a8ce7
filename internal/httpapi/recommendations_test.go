package httpapi_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// shop writes a small state through the real write path: customer,
// purchased or viewed item, category, in arrival order on partition 0;
// then re-scores every list.
func shop(t *testing.T, st *store.Store, evs [][4]string) {
	t.Helper()
	ctx := context.Background()
	b := delta.NewBatch(0)
	cs := map[string]*store.CustomerUpdate{}
	t0 := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	for i, e := range evs {
		c := cs[e[0]]
		if c == nil {
			c = &store.CustomerUpdate{ID: e[0]}
			cs[e[0]] = c
		}
		c.Offset = int64(i)
		if e[1] == "buy" {
			b.Purchase(&c.Purchases, &c.Views, e[2], time.UnixMilli(int64(i)), int64(i), delta.Retention{Purchases: 200, Views: 30})
		} else {
			b.View(&c.Purchases, &c.Views, e[2], time.UnixMilli(int64(i)), int64(i), delta.Retention{Purchases: 200, Views: 30})
		}
		b.Count(e[1] == "buy", e[2], e[3], t0.Add(time.Duration(i)*time.Minute), int64(i))
	}
	var updates []store.CustomerUpdate
	for _, c := range cs {
		updates = append(updates, *c)
	}
	if err := st.Batches.Apply(ctx, b, updates, int64(len(evs)-1), -1); err != nil {
		t.Fatal(err)
	}
	rs, err := rescore.New(rescore.Config{}, rescore.StateOf(st), zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.RescoreAll(ctx); err != nil {
		t.Fatal(err)
	}
}

// testShop is the small shop of the API tests: milk and bread go together,
// tea with cups; a pen is the best-seller on its own; viewers of a tv buy a
// radio; "me" bought milk; and ids that need escaping in URLs (a '/' and a
// '+'), winter wear bought together.
func testShop() [][4]string {
	var evs [][4]string
	for _, c := range []string{"c1", "c2", "c3"} {
		evs = append(evs, [4]string{c, "buy", "milk", "dairy"}, [4]string{c, "buy", "bread", "bakery"})
	}
	for _, c := range []string{"c4", "c5"} {
		evs = append(evs, [4]string{c, "buy", "tea", "drinks"}, [4]string{c, "buy", "cups", "home"})
	}
	for _, c := range []string{"c6", "c7", "c8", "c9", "c10"} {
		evs = append(evs, [4]string{c, "buy", "pen", "office"})
	}
	for _, c := range []string{"v1", "v2"} {
		evs = append(evs, [4]string{c, "view", "tv", ""}, [4]string{c, "view", "radio", ""}, [4]string{c, "buy", "radio", "audio"})
	}
	for _, c := range []string{"w1", "w2"} {
		evs = append(evs, [4]string{c, "buy", "hat/red", "winter:wear"}, [4]string{c, "buy", "scarf+wool", "winter:wear"})
	}
	return append(evs, [4]string{"me", "buy", "milk", "dairy"}, [4]string{"w/3", "buy", "hat/red", "winter:wear"})
}

func TestRecommendationEndpoints(t *testing.T) {
	env := testenv.NewRedis(t)
	shop(t, env.Store, testShop())
	h := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{}, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop())

	get := func(path string, status int, into any) {
		t.Helper()
		switch v := into.(type) { // decode into a fresh value
		case *httpapi.RecommendationsResponse:
			*v = httpapi.RecommendationsResponse{}
		case *httpapi.PopularResponse:
			*v = httpapi.PopularResponse{}
		case *httpapi.ErrorResponse:
			*v = httpapi.ErrorResponse{}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != status {
			t.Fatalf("GET %s: status %d, want %d: %s", path, rec.Code, status, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, rec.Body)
		}
	}
	items := func(r httpapi.RecommendationsResponse) []string {
		var out []string
		for _, it := range r.Items {
			out = append(out, it.Item+"/"+it.Because)
		}
		return out
	}

	var r httpapi.RecommendationsResponse
	get("/v1/customers/me/recommendations?k=2", 200, &r)
	if !r.Known || len(r.Items) != 2 || r.Items[0].Item != "bread" || r.Items[0].Because != "because you bought milk" {
		t.Fatalf("a milk buyer: %+v", r)
	}
	for _, it := range r.Items {
		if it.Item == "milk" {
			t.Fatalf("the owned item is recommended: %v", items(r))
		}
	}
	if r.Items[1].Reason != "popular" || r.Items[1].Item != "pen" {
		t.Fatalf("back-fill should be the best-seller pen: %v", items(r))
	}

	// Catalogues bought again and again keep owned items (-keep-owned).
	keep := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{KeepOwned: true}, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop())
	rec := httptest.NewRecorder()
	keep.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/customers/me/recommendations?k=3", nil))
	var kept httpapi.RecommendationsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &kept); err != nil || !slices.ContainsFunc(kept.Items, func(it httpapi.RecommendationItem) bool { return it.Item == "milk" }) {
		t.Fatalf("with KeepOwned the owned best-seller milk should be back-filled: %s (%v)", rec.Body, err)
	}

	get("/v1/customers/stranger/recommendations?k=3", 200, &r)
	if r.Known || len(r.Items) != 3 || r.Items[0].Item != "pen" || r.Items[0].Because != "popular" {
		t.Fatalf("an unknown customer gets popular items: %+v", r)
	}

	get("/v1/recommendations?viewed=tv&k=1", 200, &r)
	if len(r.Items) != 1 || r.Items[0].Item != "radio" || r.Items[0].Because != "because you viewed tv" {
		t.Fatalf("context of a view: %v", items(r))
	}
	get("/v1/recommendations?viewed=pen&k=3", 200, &r)
	if slices.ContainsFunc(r.Items, func(it httpapi.RecommendationItem) bool { return it.Item == "pen" }) {
		t.Fatalf("the viewed context item is echoed back: %v", items(r))
	}
	get("/v1/recommendations?bought=tea&exclude=cups&k=1", 200, &r)
	if len(r.Items) != 1 || r.Items[0].Item == "cups" || r.Items[0].Item == "tea" {
		t.Fatalf("exclude and owned context: %v", items(r))
	}
	get("/v1/customers/me/recommendations?category=office&k=3", 200, &r)
	if len(r.Items) != 1 || r.Items[0].Item != "pen" {
		t.Fatalf("category filter: %v", items(r))
	}

	var p httpapi.PopularResponse
	get("/v1/popular?k=2", 200, &p)
	if len(p.Items) != 2 || p.Items[0].Item != "pen" || p.Items[0].Count != 5 || p.Days != 14 || p.Anchor == nil {
		t.Fatalf("popular bought: %+v", p)
	}
	get("/v1/popular?kind=viewed&k=5", 200, &p)
	if len(p.Items) != 2 || p.Items[0].Item != "radio" || p.Items[0].Count != 2 {
		t.Fatalf("popular viewed: %+v", p)
	}
	get("/v1/popular?category=dairy", 200, &p)
	if len(p.Items) != 1 || p.Items[0].Item != "milk" || p.Items[0].Count != 4 {
		t.Fatalf("popular in a category: %+v", p)
	}

	var e httpapi.ErrorResponse
	for _, bad := range []string{
		"/v1/customers/m%7Be/recommendations", "/v1/customers/me/recommendations?k=0",
		"/v1/recommendations?viewed=a,b%7B", "/v1/popular?kind=wished", "/v1/popular?k=1000",
		"/v1/recommendations?category=a%20b",
	} {
		get(bad, 400, &e)
		if e.Error == "" {
			t.Fatalf("%s: no error message", bad)
		}
	}
}

// TestBuyAgainWhereCustomersRepurchase: where customers buy items again,
// owned items come back by the repeat model (docs/DESIGN.md section 12),
// from what the consumer counted. Three of the 13 purchases below re-buy
// coffee (r = 3/13), all within a day. "me" bought coffee and tea once
// each: q_c = (0 + 10r) / (2 + 10). Coffee's 7 purchases hold 3 repeats:
// rho = (3 + 10r) / (7 + 10); tea's one none: rho = 10r / (1 + 10); both
// are timed like the catalogue (tau = 1). They share q_c by rho x sqrt(their
// purchases in the window + 1). The window holds 3 items, so the prior
// spreads 100 purchases over them (Smoothing: 100/3 each): the pen, never
// bought by "me", gets (1 - q_c) x (5 + 100/3) / (5 other purchases + 100).
func TestBuyAgainWhereCustomersRepurchase(t *testing.T) {
	env := testenv.NewRedis(t)
	shop(t, env.Store, coffeeShop())
	h := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{}, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/customers/me/recommendations?k=3", nil))
	var r httpapi.RecommendationsResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("%v in %s", err, rec.Body)
	}
	const share = 3.0 / 13
	q := 10 * share / 12
	coffee, tea := (3+10*share)/17*math.Sqrt(8), 10*share/11*math.Sqrt(2)
	want := []httpapi.RecommendationItem{
		{Item: "pen", Score: (1 - q) * (5 + 100.0/3) / 105, Reason: "popular", Because: "popular"},
		{Item: "coffee", Score: q * coffee / (coffee + tea), Reason: "buy_again", Because: "buy again"},
		{Item: "tea", Score: q * tea / (coffee + tea), Reason: "buy_again", Because: "buy again"},
	}
	if len(r.Items) != len(want) {
		t.Fatalf("got %+v, want %+v", r.Items, want)
	}
	for i, w := range want {
		g := r.Items[i]
		if g.Item != w.Item || g.Reason != w.Reason || g.Because != w.Because || math.Abs(g.Score-w.Score) > 1e-12 {
			t.Fatalf("item %d: got %+v, want %+v (all %+v)", i, g, w, r.Items)
		}
	}
}
