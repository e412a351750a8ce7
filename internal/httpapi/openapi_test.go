package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// specServer is the server URL of docs/openapi.yaml. Requests are made to
// it so that the router, which matches servers too, finds their operation.
const specServer = "http://127.0.0.1:8080"

// servedRoutes are the patterns httpapi.New registers (with AllRoutes;
// the other Routes serve parts of them). TestOpenAPI checks that the package registers exactly
// these and that docs/openapi.yaml describes every one of them.
var servedRoutes = []string{
	"GET /healthz",
	"GET /readyz",
	"GET /metrics",
	"GET /v1/items/{id}",
	"GET /v1/items/{id}/related",
	"GET /v1/popular",
	"GET /v1/customers/{id}/recommendations",
	"DELETE /v1/customers/{id}",
	"GET /v1/recommendations",
	"GET /v1/status",
	"GET /status",
}

// loadSpec loads and validates docs/openapi.yaml, then closes its object
// schemas (see closeObjects).
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(testenv.RepoFile("docs/openapi.yaml"))
	if err != nil {
		t.Fatalf("load docs/openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableSchemaFormatValidation()); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	closeObjects(doc)
	return doc
}

// closeObjects forbids properties that a schema does not list, in every
// object schema of doc. The published document leaves objects open, so that
// clients ignore fields added later; the test holds the server to exactly
// the documented fields, so that a field renamed or added in the Go structs
// without the document fails.
func closeObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if s.Type.Is("object") && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			no := false
			s.AdditionalProperties.Has = &no
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		for _, sub := range slices.Concat(s.AllOf, s.OneOf, s.AnyOf) {
			walk(sub)
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
	for _, r := range doc.Components.Responses {
		for _, mt := range r.Value.Content {
			walk(mt.Schema)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, r := range op.Responses.Map() {
				for _, mt := range r.Value.Content {
					walk(mt.Schema)
				}
			}
		}
	}
}

// missingFromSpec returns the routes ("METHOD /path") that doc has no
// operation for.
func missingFromSpec(doc *openapi3.T, routes []string) []string {
	var missing []string
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			missing = append(missing, r)
		}
	}
	return missing
}

// registeredRoutes returns the patterns that the package's non-test files
// pass to Handle and HandleFunc (a catch-all "/" left out: it is no route).
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: a route whose pattern is not a string literal: the test cannot check it", fset.Position(call.Pos()))
				return true
			}
			if p, err := strconv.Unquote(lit.Value); err == nil && p != "/" {
				out = append(out, p)
			}
			return true
		})
	}
	slices.Sort(out)
	return out
}

func TestOpenAPI(t *testing.T) {
	doc := loadSpec(t)

	t.Run("every served route is in the spec and nothing else", func(t *testing.T) {
		want := slices.Sorted(slices.Values(servedRoutes))
		if got := registeredRoutes(t); !slices.Equal(got, want) {
			t.Fatalf("httpapi registers %q; servedRoutes lists %q: update servedRoutes and docs/openapi.yaml", got, want)
		}
		if missing := missingFromSpec(doc, servedRoutes); len(missing) > 0 {
			t.Fatalf("docs/openapi.yaml does not describe %q", missing)
		}
		for path, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				if !slices.Contains(servedRoutes, method+" "+path) {
					t.Errorf("docs/openapi.yaml describes %s %s, which the server does not register", method, path)
				}
			}
		}
		if missing := missingFromSpec(doc, []string{"GET /v1/wishlist"}); len(missing) != 1 {
			t.Fatalf("a route the spec lacks is not reported: %q", missing)
		}
	})

	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

	env := testenv.NewRedis(t)
	shop(t, env.Store, testShop())
	launch := time.Date(2999, 1, 1, 9, 0, 0, 0, time.UTC)
	if _, err := env.Store.Catalogue.Apply(context.Background(), 0, []store.CatalogueRecord{
		{Offset: 0, Item: "bread", Record: &event.Item{ID: "bread", Status: event.Hidden, Category: "bakery"}},
		{Offset: 1, Item: "hat/red", Record: &event.Item{ID: "hat/red", Status: event.Available, From: launch}},
	}, 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The catalogue of a serve process: bread hidden, milk's window closed
	// since its lists were written.
	hiding := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Catalogue: shelf{"bread": false, "milk": false}}, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop())

	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "alsobought_test_requests_total", Help: "A metric, so that /metrics has content."})
	reg.MustRegister(c)
	c.Add(3)
	ready := func(context.Context) string { return "" }
	h := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{}, ready, reg, zerolog.Nop())
	notReady := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{}, func(context.Context) string { return "redis: connection refused" }, reg, zerolog.Nop())
	// A store whose client is closed fails every command at once: Redis down.
	dead, err := store.New(store.Config{Addrs: []string{env.RedisAddr}, Prefix: env.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	_ = dead.Close()
	down := httpapi.New(httpapi.StoreOf(dead), httpapi.Options{}, ready, reg, zerolog.Nop())
	// The lag status of a group whose partition 1 is stalled, as serve's
	// monitor evaluates it; and the monitor's status before its first sample.
	stalled := lagReport(time.Date(2026, 11, 27, 12, 7, 5, 995e6, time.UTC))
	lagging := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Status: func() lag.Report { return stalled }}, ready, reg, zerolog.Nop())
	unsampled, err := lag.New(lag.Config{}, &lag.Sampler{}, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	starting := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Status: unsampled.Report}, ready, reg, zerolog.Nop())
	// An instance that says who it is, while Redis is away.
	instance := &httpapi.Instance{Version: "v1.2.3", Commit: "0123456789ab", GoVersion: "go1.26.0",
		Started: time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC), Consuming: true, Topic: "shop.events", Group: "alsobought",
		Prefix: "ab", RedisMode: "single", RedisAddrs: "redis://:xxxxx@10.0.0.5:6379", Brokers: []string{"10.0.0.7:9092"},
		Recorded: map[string]string{"history_size": "200", "scorer": "amazon2017_prior"}}
	identified := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Status: unsampled.Report, Instance: instance},
		func(context.Context) string { return "redis: connection refused" }, reg, zerolog.Nop())
	// A token configured: the customer endpoint, and the status page's
	// customer lookup on the API's port, need it; on the operators' own
	// port the lookup does not.
	const token = "t0ken-of-the-test"
	guarded := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Tokens: []string{token}}, ready, reg, zerolog.Nop())
	guardedOps := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Tokens: []string{token}, Routes: httpapi.OpsRoutes}, ready, reg, zerolog.Nop())
	// Two tokens while one is rotated: either is accepted.
	rotating := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{Tokens: []string{"old-token", token}}, ready, reg, zerolog.Nop())
	bearer := func(v string) http.Header { return http.Header{"Authorization": {v}} }

	many := strings.TrimSuffix(strings.Repeat("x,", httpapi.MaxContextItems+1), ",")
	long := strings.Repeat("a", 129)
	tests := []struct {
		name    string
		h       http.Handler
		path    string
		header  http.Header
		status  int
		invalid bool // the spec rejects the request too
		check   func(t *testing.T, body []byte)
	}{
		{name: "healthz", path: "/healthz", status: 200},
		{name: "readyz ready", path: "/readyz", status: 200},
		{name: "readyz not ready", h: notReady, path: "/readyz", status: 503},
		{name: "metrics text", path: "/metrics", status: 200, check: contains("alsobought_test_requests_total 3")},
		{name: "metrics protobuf", path: "/metrics", header: http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}}, status: 200},

		{name: "related default", path: "/v1/items/milk/related", status: 200, check: contains(`"support":3`, `"method":"amazon2017_prior"`)},
		{name: "related viewed", path: "/v1/items/tv/related?list=viewed&k=1", status: 200, check: contains(`"item":"radio"`)},
		{name: "related viewed_bought", path: "/v1/items/tv/related?list=viewed_bought", status: 200, check: contains(`"method":"viewed_then_bought"`)},
		{name: "related of an unknown item", path: "/v1/items/caviar/related?k=100", status: 200, check: contains(`"items":[]`)},
		{name: "related of an id with a slash", path: "/v1/items/hat%2Fred/related", status: 200, check: contains(`"item":"scarf+wool"`)},
		{name: "related k zero", path: "/v1/items/milk/related?k=0", status: 400, invalid: true},
		{name: "related k too large", path: "/v1/items/milk/related?k=101", status: 400, invalid: true},
		{name: "related k not a number", path: "/v1/items/milk/related?k=ten", status: 400, invalid: true},
		{name: "related unknown list", path: "/v1/items/milk/related?list=wished", status: 400, invalid: true},
		{name: "related id with a brace", path: "/v1/items/mi%7Blk/related", status: 400, invalid: true},
		{name: "related id too long", path: "/v1/items/" + long + "/related", status: 400, invalid: true},
		{name: "related redis down", h: down, path: "/v1/items/milk/related", status: 503},
		{name: "related with what the catalogue hides", path: "/v1/items/milk/related", status: 200, check: contains(`"item":"bread"`)},
		{name: "related without what the catalogue hides now", h: hiding, path: "/v1/items/milk/related", status: 200, check: contains(`"items":[]`)},
		{name: "related filled", path: "/v1/items/milk/related?k=4&fill=category,popular", status: 200,
			check: contains(`"item":"bread","score":`, `"category":"dairy"`, `"item":"pen","score":0,"support":0,"fill":"popular"`)},
		{name: "related filled from popular only", path: "/v1/items/caviar/related?k=1&fill=popular", status: 200, check: contains(`"fill":"popular"`)},
		{name: "related unknown fill", path: "/v1/items/milk/related?fill=cheap", status: 400, invalid: true},
		{name: "related fill twice", path: "/v1/items/milk/related?fill=popular,popular", status: 400, invalid: true},

		{name: "item without a record", path: "/v1/items/pen", status: 200, check: contains(`{"item":"pen","record":false,"status":"available","visible":true}`)},
		{name: "item hidden", path: "/v1/items/bread", status: 200, check: contains(`"record":true,"status":"hidden"`, `"category":"bakery"`, `"visible":false`)},
		{name: "item not launched yet", path: "/v1/items/hat%2Fred", status: 200, check: contains(`"available_from":"2999-01-01T09:00:00Z"`, `"visible":false`)},
		{name: "item id with a brace", path: "/v1/items/mi%7Blk", status: 400, invalid: true},
		{name: "item redis down", h: down, path: "/v1/items/milk", status: 503},

		{name: "popular default", path: "/v1/popular", status: 200, check: contains(`"item":"pen","count":5`, `"days":14`, `"anchor":`)},
		{name: "popular viewed", path: "/v1/popular?kind=viewed&k=5", status: 200, check: contains(`"kind":"viewed"`)},
		{name: "popular in a category", path: "/v1/popular?category=winter:wear&k=1", status: 200, check: contains(`"category":"winter:wear"`, `"item":"hat/red"`)},
		{name: "popular in an empty category", path: "/v1/popular?category=garden", status: 200, check: contains(`"items":[]`)},
		{name: "popular unknown kind", path: "/v1/popular?kind=viewed_bought", status: 400, invalid: true},
		{name: "popular k too large", path: "/v1/popular?k=1000", status: 400, invalid: true},
		{name: "popular category with a space", path: "/v1/popular?category=a%20b", status: 400, invalid: true},
		{name: "popular redis down", h: down, path: "/v1/popular", status: 503},
		{name: "popular with what the catalogue hides", path: "/v1/popular?k=100", status: 200, check: contains(`"item":"bread"`, `"item":"milk"`)},
		{name: "popular without what the catalogue hides now", h: hiding, path: "/v1/popular?k=100", status: 200, check: lacks(`"item":"bread"`, `"item":"milk"`)},

		{name: "customer known", path: "/v1/customers/me/recommendations?k=2", status: 200, check: contains(`"customer":"me","known":true`, `"because":"because you bought milk"`, `"reason":"popular"`)},
		{name: "customer unknown", path: "/v1/customers/stranger/recommendations", status: 200, check: contains(`"known":false`)},
		{name: "customer with context", path: "/v1/customers/me/recommendations?viewed=tv&bought=tea&exclude=bread,pen", status: 200, check: contains(`"source":"tv"`)},
		{name: "customer in a category", path: "/v1/customers/me/recommendations?category=office&k=3", status: 200, check: contains(`"item":"pen"`)},
		{name: "customer id with a slash", path: "/v1/customers/w%2F3/recommendations?k=1", status: 200, check: contains(`"customer":"w/3"`, `"item":"scarf+wool"`)},
		{name: "customer id with a brace", path: "/v1/customers/m%7Be/recommendations", status: 400, invalid: true},
		{name: "customer k zero", path: "/v1/customers/me/recommendations?k=0", status: 400, invalid: true},
		{name: "customer too many excluded", path: "/v1/customers/me/recommendations?exclude=" + many, status: 400, invalid: true},
		{name: "customer bad viewed id", path: "/v1/customers/me/recommendations?viewed=a,b%7B", status: 400, invalid: true},
		{name: "customer empty bought id", path: "/v1/customers/me/recommendations?bought=a,,b", status: 400, invalid: true},
		{name: "customer bad category", path: "/v1/customers/me/recommendations?category=a%20b", status: 400, invalid: true},
		{name: "customer redis down", h: down, path: "/v1/customers/me/recommendations", status: 503},
		{name: "customer owned items marked", path: "/v1/customers/me/recommendations?k=3", status: 200, check: contains(`"owned":false`)},
		{name: "customer without buy-again", path: "/v1/customers/me/recommendations?buy_again=false&buy_again_share=0.5", status: 200, check: lacks(`"owned":true`)},
		{name: "customer buy-again share", path: "/v1/customers/me/recommendations?buy_again=true&buy_again_share=0.5", status: 200},
		{name: "customer buy-again not a boolean", path: "/v1/customers/me/recommendations?buy_again=no", status: 400, invalid: true},
		{name: "customer buy-again share too large", path: "/v1/customers/me/recommendations?buy_again_share=1.5", status: 400, invalid: true},
		{name: "customer without the token", h: guarded, path: "/v1/customers/me/recommendations", status: 401, check: contains(`"error":"this endpoint needs the API token`)},
		{name: "customer with a wrong token", h: guarded, path: "/v1/customers/me/recommendations", header: bearer("Bearer " + token + "x"), status: 401, check: contains(`"error":"wrong API token"`)},
		{name: "customer with basic credentials", h: guarded, path: "/v1/customers/me/recommendations", header: bearer("Basic " + token), status: 401},
		{name: "customer with the token", h: guarded, path: "/v1/customers/me/recommendations?k=2", header: bearer("Bearer " + token), status: 200, check: contains(`"customer":"me","known":true`)},
		{name: "customer with the old of two tokens", h: rotating, path: "/v1/customers/me/recommendations", header: bearer("Bearer old-token"), status: 200},
		{name: "customer with the new of two tokens", h: rotating, path: "/v1/customers/me/recommendations", header: bearer("Bearer " + token), status: 200},
		{name: "customer with neither of two tokens", h: rotating, path: "/v1/customers/me/recommendations", header: bearer("Bearer old-tokenx"), status: 401},
		{name: "customer with the token, scheme in lower case", h: guarded, path: "/v1/customers/me/recommendations?k=2", header: bearer("bearer " + token), status: 200},
		{name: "status page customer lookup without the token", h: guarded, path: "/status?customer=me", status: 401, check: contains("needs the API token")},
		{name: "status page customer lookup with the token", h: guarded, path: "/status?customer=me", header: bearer("Bearer " + token), status: 200, check: contains(`data-customer="me" data-known="true"`, `data-reason="bought"`)},
		{name: "status page item lookup without the token", h: guarded, path: "/status?item=milk", status: 200},
		{name: "status page customer lookup on the operators' port", h: guardedOps, path: "/status?customer=me", status: 200, check: contains(`data-customer="me" data-known="true"`, `data-reason="bought"`)},

		{name: "context viewed", path: "/v1/recommendations?viewed=tv&k=1", status: 200, check: contains(`"because":"because you viewed tv"`)},
		{name: "context bought and excluded", path: "/v1/recommendations?bought=tea&exclude=cups", status: 200, check: contains(`"known":true`)},
		{name: "context empty", path: "/v1/recommendations", status: 200, check: contains(`"known":false`)},
		{name: "context in a category", path: "/v1/recommendations?viewed=tv&category=audio", status: 200, check: contains(`"item":"radio"`)},
		{name: "context plus escaped", path: "/v1/recommendations?bought=scarf%2Bwool&k=1", status: 200, check: contains(`"item":"hat/red"`)},
		{name: "context bare plus is a space", path: "/v1/recommendations?bought=scarf+wool", status: 400, invalid: true},
		{name: "context too many bought", path: "/v1/recommendations?bought=" + many, status: 400, invalid: true},
		{name: "context k too large", path: "/v1/recommendations?k=101", status: 400, invalid: true},
		{name: "context redis down", h: down, path: "/v1/recommendations?viewed=tv", status: 503},
		{name: "context needs no token", h: guarded, path: "/v1/recommendations?viewed=tv&k=1", status: 200, check: contains(`"because":"because you viewed tv"`)},

		{name: "status with a stalled partition", h: lagging, path: "/v1/status", status: 200, check: contains(
			`"status":"ERR","reason":"a partition is stalled","members":1,"lag":1342,"applied_lag":1343,"samples":3,"window":"20s"`,
			`"partition":0,"status":"OK","reason":"consuming"`, `"lag_seconds":0.4`,
			`"partition":1,"status":"ERR","reason":"stalled: `, `"committed_offset":46600,"applied_offset":46598}`)},
		{name: "status before the first sample", h: starting, path: "/v1/status", status: 200, check: contains(
			`"status":"UNKNOWN","reason":"not sampled yet"`, `"window":""`, `"evaluated_at":"0001-01-01T00:00:00Z","partitions":[],"readiness":{"status":"ready"},"recent":{"from":"`,
			`"rates_per_second":{}},"since_start":{"totals":{}}}`)},
		{name: "status without a lag monitor", path: "/v1/status", status: 503, check: contains(`{"error":"no lag monitor in this process"}`)},
		{name: "status says it is ready", h: starting, path: "/v1/status", status: 200, check: contains(`"readiness":{"status":"ready"}`)},
		{name: "status says which instance, and why it is not ready", h: identified, path: "/v1/status", status: 200, check: contains(
			`"readiness":{"status":"not ready","reason":"redis: connection refused"}`,
			`"instance":{"version":"v1.2.3","commit":"0123456789ab","go_version":"go1.26.0","started":"2026-12-05T06:00:00Z","uptime_seconds":`,
			`,"consuming":true,`,
			`"topic":"shop.events","group":"alsobought","prefix":"ab","redis_mode":"single","redis_addrs":"redis://:xxxxx@10.0.0.5:6379",`,
			`"brokers":["10.0.0.7:9092"],"recorded_settings":{"history_size":"200","scorer":"amazon2017_prior"}}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			handler := tc.h
			if handler == nil {
				handler = h
			}
			rec := specGet(t, router, handler, tc.path, tc.header, tc.invalid, tc.status)
			if tc.check != nil {
				tc.check(t, rec.Body.Bytes())
			}
		})
	}

	t.Run("unknown endpoints answer the documented 404", func(t *testing.T) {
		resp := doc.Components.Responses["NoSuchEndpoint"]
		if resp == nil {
			t.Fatal("docs/openapi.yaml has no components.responses.NoSuchEndpoint")
		}
		for _, tc := range []struct{ method, path string }{
			{"GET", "/v1/nothing"}, {"POST", "/v1/nothing"}, {"GET", "/v1/items/hat/red/related"},
		} {
			req := httptest.NewRequest(tc.method, specServer+tc.path, nil)
			if _, _, err := router.FindRoute(req); err == nil {
				t.Errorf("%s %s: the spec has an operation for it", tc.method, tc.path)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotFound {
				t.Fatalf("%s %s: status %d, want 404", tc.method, tc.path, rec.Code)
			}
			mt := resp.Value.Content.Get(rec.Header().Get("Content-Type"))
			if mt == nil {
				t.Fatalf("%s %s: content type %q is not documented", tc.method, tc.path, rec.Header().Get("Content-Type"))
			}
			var body any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("%s %s: %v in %s", tc.method, tc.path, err, rec.Body)
			}
			if err := mt.Schema.Value.VisitJSON(body); err != nil {
				t.Fatalf("%s %s: the body does not match the spec: %v", tc.method, tc.path, err)
			}
		}
	})

	t.Run("a wrong method on a served path answers the documented 405 with Allow", func(t *testing.T) {
		resp := doc.Components.Responses["MethodNotAllowed"]
		if resp == nil {
			t.Fatal("docs/openapi.yaml has no components.responses.MethodNotAllowed")
		}
		for _, tc := range []struct {
			h            http.Handler
			method, path string
		}{
			{h, "POST", "/v1/popular"}, {h, "DELETE", "/v1/customers/me/recommendations"}, {h, "PUT", "/metrics"},
			{h, "OPTIONS", "/v1/items/milk/related"}, {guarded, "POST", "/v1/customers/me/recommendations"},
		} {
			req := httptest.NewRequest(tc.method, specServer+tc.path, strings.NewReader(`{"k":1}`))
			if _, _, err := router.FindRoute(req); err == nil {
				t.Errorf("%s %s: the spec has an operation for it", tc.method, tc.path)
			}
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Fatalf("%s %s: status %d, want 405: %s", tc.method, tc.path, rec.Code, rec.Body)
			}
			if allow := rec.Header().Get("Allow"); allow != "GET, HEAD" {
				t.Fatalf("%s %s: Allow %q, want the methods of the path, GET, HEAD", tc.method, tc.path, allow)
			}
			checkComponentBody(t, resp, rec)
		}
	})

	t.Run("a 401 says how to authenticate, and never echoes the token", func(t *testing.T) {
		for _, tc := range []struct{ auth, challenge string }{
			{"", `Bearer realm="alsobought"`},
			{"Bearer nope", `Bearer realm="alsobought", error="invalid_token"`},
			{"Bearer " + token + token, `Bearer realm="alsobought", error="invalid_token"`},
		} {
			req := httptest.NewRequest("GET", specServer+"/v1/customers/me/recommendations", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			guarded.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("Authorization %q: status %d, WWW-Authenticate %q; want 401 and %s", tc.auth, rec.Code, rec.Header().Get("WWW-Authenticate"), tc.challenge)
			}
			if strings.Contains(rec.Body.String(), "nope") || strings.Contains(rec.Body.String(), token) {
				t.Fatalf("the answer echoes the token: %s", rec.Body)
			}
		}
	})

	t.Run("the validator rejects a wrong response", func(t *testing.T) {
		req := httptest.NewRequest("GET", specServer+"/v1/items/milk/related", nil)
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		jsonCT := http.Header{"Content-Type": {"application/json"}}
		good := `{"item":"milk","list":"bought","method":"amazon2017","computed_at":"2026-11-27T12:07:05.9950079Z","items":[{"item":"bread","score":3.5,"support":7}]}`
		if err := validateResponse(req, route, params, 200, jsonCT, []byte(good)); err != nil {
			t.Fatalf("the fabricated good body is rejected: %v", err)
		}
		for _, bad := range []struct {
			name   string
			status int
			header http.Header
			body   string
		}{
			{"a field renamed", 200, jsonCT, strings.Replace(good, `"support"`, `"supp"`, 1)},
			{"a field added", 200, jsonCT, strings.Replace(good, `"list":"bought"`, `"list":"bought","cached":true`, 1)},
			{"a required field left out", 200, jsonCT, strings.Replace(good, `"list":"bought",`, ``, 1)},
			{"a wrong type", 200, jsonCT, strings.Replace(good, `"support":7`, `"support":"7"`, 1)},
			{"a list kind not in the enum", 200, jsonCT, strings.Replace(good, `"list":"bought"`, `"list":"wished"`, 1)},
			{"a malformed date", 200, jsonCT, strings.Replace(good, `2026-11-27T12:07:05.9950079Z`, `yesterday`, 1)},
			{"an id breaking the rule", 200, jsonCT, strings.Replace(good, `"item":"bread"`, `"item":"br ead"`, 1)},
			{"an error body for a 200", 200, jsonCT, `{"error":"oops"}`},
			{"a text body", 200, http.Header{"Content-Type": {"text/plain"}}, good},
			{"an undocumented status", 500, jsonCT, `{"error":"oops"}`},
		} {
			if err := validateResponse(req, route, params, bad.status, bad.header, []byte(bad.body)); err == nil {
				t.Errorf("%s: the validator accepts %d %s", bad.name, bad.status, bad.body)
			}
		}

		req = httptest.NewRequest("GET", specServer+"/v1/status", nil)
		route, params, err = router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		report, err := json.Marshal(lagReport(time.Date(2026, 11, 27, 12, 7, 5, 0, time.UTC)))
		if err != nil {
			t.Fatal(err)
		}
		if err := validateResponse(req, route, params, 200, jsonCT, report); err != nil {
			t.Fatalf("the lag report is rejected: %v\n%s", err, report)
		}
		for _, bad := range []struct{ name, old, new string }{
			{"a status by number", `"status":"ERR"`, `"status":2`},
			{"a status not in the enum", `"status":"ERR"`, `"status":"err"`},
			{"a partition field added", `"partition":1,`, `"partition":1,"topic":"events",`},
			{"a partition field renamed", `"end_offset"`, `"end"`},
			{"partitions left out", `,"partitions":`, `,"parts":`},
			{"a negative lag", `"lag":1342`, `"lag":-1`},
			{"a window in nanoseconds", `"window":"20s"`, `"window":20000000000`},
		} {
			body := strings.Replace(string(report), bad.old, bad.new, 1)
			if body == string(report) {
				t.Fatalf("%s: %s is not in %s", bad.name, bad.old, report)
			}
			if err := validateResponse(req, route, params, 200, jsonCT, []byte(body)); err == nil {
				t.Errorf("%s: the validator accepts %s", bad.name, body)
			}
		}
	})
}

// checkComponentBody checks that rec's content type and body are those of
// a documented response that no operation carries.
func checkComponentBody(t *testing.T, resp *openapi3.ResponseRef, rec *httptest.ResponseRecorder) {
	t.Helper()
	mt := resp.Value.Content.Get(rec.Header().Get("Content-Type"))
	if mt == nil {
		t.Fatalf("content type %q is not documented", rec.Header().Get("Content-Type"))
	}
	var body any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%v in %s", err, rec.Body)
	}
	if err := mt.Schema.Value.VisitJSON(body); err != nil {
		t.Fatalf("the body does not match the spec: %v", err)
	}
	for name, h := range resp.Value.Headers {
		if h.Value.Required && rec.Header().Get(name) == "" {
			t.Fatalf("the documented header %s is missing", name)
		}
	}
}

// lagReport evaluates three samples 10 seconds apart, the last at last:
// partition 0 consumes and ends 12 messages behind; partition 1 has 1330
// messages waiting and its committed offset has not moved, so it is stalled
// (ERR) and so is the group.
func lagReport(last time.Time) lag.Report {
	var window []lag.Sample
	for i, at := range []time.Time{last.Add(-20 * time.Second), last.Add(-10 * time.Second), last} {
		off := int64(i) * 100
		window = append(window, lag.Sample{At: at, Members: 1, Partitions: map[int]lag.PartitionSample{
			0: {End: 48010 + off, Committed: 47998 + off, Applied: 47997 + off, OldestUnconsumed: at.Add(-400 * time.Millisecond)},
			1: {End: 47930, Committed: 46600, Applied: 46598, Start: 12000, OldestUnconsumed: last.Add(-95200 * time.Millisecond)},
		}})
	}
	return lag.Evaluate(window, last)
}

// specGet sends GET path with header (nil: none) to handler and checks
// the exchange against the spec: the spec has the operation, accepts the
// request unless invalid, and the response has status and matches the
// spec.
func specGet(t *testing.T, router routers.Router, handler http.Handler, path string, header http.Header, invalid bool, status int) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", specServer+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("the spec has no operation for GET %s: %v", path, err)
	}
	reqErr := validateRequest(req, route, params)
	switch {
	case invalid && reqErr == nil:
		t.Errorf("the spec accepts GET %s, which the server answers %d", path, status)
	case !invalid && reqErr != nil:
		t.Errorf("the spec rejects GET %s: %v", path, reqErr)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	if rec.Code != status {
		t.Fatalf("GET %s: status %d, want %d:\n%s", path, rec.Code, status, rec.Body)
	}
	if err := validateResponse(req, route, params, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Fatalf("GET %s: the response does not match the spec: %v\n%s", path, err, rec.Body)
	}
	return rec
}

// validateRequest checks req against its operation. It does not set the
// parameters' defaults in req, so the handler gets the request as sent.
func validateRequest(req *http.Request, route *routers.Route, params map[string]string) error {
	// The router gives path parameters as they are in the URL; the server
	// and the spec's rules see them unescaped ("hat%2Fred" is "hat/red").
	unescaped := make(map[string]string, len(params))
	for k, v := range params {
		u, err := url.PathUnescape(v)
		if err != nil {
			return err
		}
		unescaped[k] = u
	}
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: unescaped, Route: route,
		// The handler, not the validator, checks the token: the spec says
		// which operations take one (security), the 401 cases check it.
		Options: &openapi3filter.Options{SkipSettingDefaults: true, MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	})
}

// validateResponse checks a response to req: its status must be
// documented, and its content type and body must match.
func validateResponse(req *http.Request, route *routers.Route, params map[string]string, status int, header http.Header, body []byte) error {
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// contains checks that a body contains each of the strings.
// lacks checks that the body holds none of the strings, but is a list
// answer with at least one item (so that an empty answer cannot pass).
func lacks(unwanted ...string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		if !bytes.Contains(body, []byte(`"item":`)) || bytes.Contains(body, []byte(`"items":[]`)) {
			t.Errorf("want a list with items: %s", body)
		}
		for _, u := range unwanted {
			if bytes.Contains(body, []byte(u)) {
				t.Errorf("the body holds %s: %s", u, body)
			}
		}
	}
}

func contains(want ...string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		for _, w := range want {
			if !bytes.Contains(body, []byte(w)) {
				t.Errorf("the body lacks %s: %s", w, body)
			}
		}
	}
}

// shelf is a serve process's catalogue in memory: the items it names are
// visible or not, whatever the time; the others are.
type shelf map[string]bool

func (s shelf) Visible(item string, _ time.Time) bool { v, ok := s[item]; return !ok || v }
func (s shelf) Category(string) string                { return "" }
