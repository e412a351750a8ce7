package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

func TestRelatedEndpoint(t *testing.T) {
	env := testenv.NewRedis(t)
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	_, err := env.Store.Lists.Write(context.Background(), []store.List{{List: store.Bought, Item: "milk", Method: scoring.Amazon2017, ComputedAt: at,
		Items: []scoring.Related{{Item: "bread", Score: 3.5, Support: 7}, {Item: "eggs", Score: 2.25, Support: 4}, {Item: "jam", Score: 1, Support: 2}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	notReady := ""
	h := httpapi.New(httpapi.StoreOf(env.Store), httpapi.Options{}, func(context.Context) string { return notReady }, prometheus.NewRegistry(), zerolog.Nop())

	tests := []struct {
		name, path string
		status     int
		wantItems  []string
		wantError  bool
	}{
		{"list in stored order", "/v1/items/milk/related", 200, []string{"bread", "eggs", "jam"}, false},
		{"k truncates", "/v1/items/milk/related?k=2", 200, []string{"bread", "eggs"}, false},
		{"explicit bought list", "/v1/items/milk/related?list=bought&k=1", 200, []string{"bread"}, false},
		{"unknown item has an empty list", "/v1/items/caviar/related", 200, []string{}, false},
		{"k zero", "/v1/items/milk/related?k=0", 400, nil, true},
		{"k too large", "/v1/items/milk/related?k=101", 400, nil, true},
		{"k not a number", "/v1/items/milk/related?k=ten", 400, nil, true},
		{"id with a forbidden character", "/v1/items/mi%7Blk/related", 400, nil, true},
		{"unknown list", "/v1/items/milk/related?list=wished", 400, nil, true},
		{"unknown endpoint", "/v1/nothing", 404, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
			if tc.wantError {
				var e httpapi.ErrorResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("want a JSON error message, got %s", rec.Body)
				}
				return
			}
			var resp httpapi.RelatedResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, it := range resp.Items {
				got = append(got, it.Item)
			}
			if len(got) != len(tc.wantItems) {
				t.Fatalf("items %v, want %v", got, tc.wantItems)
			}
			for i := range got {
				if got[i] != tc.wantItems[i] {
					t.Fatalf("items %v, want %v", got, tc.wantItems)
				}
			}
			if len(got) > 0 && (resp.ComputedAt == nil || !resp.ComputedAt.Equal(at) || resp.Items[0].Support != 7) {
				t.Fatalf("computed_at %v and support %d not carried through", resp.ComputedAt, resp.Items[0].Support)
			}
		})
	}

	t.Run("readyz says why it is not ready", func(t *testing.T) {
		notReady = "redis: connection refused"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", rec.Code)
		}
		var body map[string]string
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if body["reason"] != notReady {
			t.Fatalf("reason %q", body["reason"])
		}
		notReady = ""
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("ready: status %d", rec.Code)
		}
	})
}

// TestRedisDownWarningsAreRateLimited: with Redis down every request fails;
// the log says so a few times per outage (as the consumer's retries do),
// and the error counter counts every failure.
func TestRedisDownWarningsAreRateLimited(t *testing.T) {
	dead, err := store.New(store.Config{Addrs: []string{"127.0.0.1:1"}, Prefix: "down"})
	if err != nil {
		t.Fatal(err)
	}
	_ = dead.Close() // a closed client fails every command at once
	reg := prometheus.NewRegistry()
	var log bytes.Buffer
	h := httpapi.New(httpapi.StoreOf(dead), httpapi.Options{Errors: obs.NewErrors(reg)}, func(context.Context) string { return "" }, reg, zerolog.New(&log))
	const requests = 200
	for i := range requests {
		path := []string{"/v1/items/milk/related", "/v1/popular", "/v1/customers/me/recommendations", "/v1/recommendations?viewed=tv"}[i%4]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("GET %s with Redis down: status %d, want 503", path, rec.Code)
		}
	}
	lines := strings.Count(log.String(), "\n")
	if lines == 0 || lines > 10 {
		t.Fatalf("%d failed requests logged %d lines, want a few:\n%s", requests, lines, log.String())
	}
	if got := counterValue(t, reg, "alsobought_redis_errors_total"); got != requests {
		t.Fatalf("alsobought_redis_errors_total %v, want every failure, %d", got, requests)
	}
}

// counterValue is the value of the registered counter name.
func counterValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
