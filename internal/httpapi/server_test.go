package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/httpapi"
)

// bound is how long a test waits for what a limit of a fraction of a
// second must cause: generous, so that a slow machine never fails it, and
// far below the minutes that the limits' absence would take.
const bound = 30 * time.Second

// serve runs a server of h with cfg on a free local port until the test
// ends, and returns its address.
func serve(t *testing.T, cfg httpapi.ServerConfig, h http.Handler) string {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	srv, err := httpapi.NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with %v", err)
		}
	})
	return srv.Addr()
}

// closedByPeer waits, at most bound, for the server to close conn: a read
// returns EOF or a reset. It fails the test if conn is still open then.
func closedByPeer(t *testing.T, conn net.Conn, r io.Reader) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(bound))
	buf := make([]byte, 512)
	for {
		_, err := r.Read(buf)
		switch {
		case err == nil:
			continue // the rest of a response
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Fatalf("the server left the connection open for %s", bound)
		}
		return // EOF, or reset: closed
	}
}

func TestIdleKeepAliveConnectionsAreClosed(t *testing.T) {
	addr := serve(t, httpapi.ServerConfig{IdleTimeout: 200 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	// Many clients each make a request and keep the connection, idle.
	const clients = 20
	conns := make([]net.Conn, clients)
	readers := make([]*bufio.Reader, clients)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("the server closed after the response: the test needs a keep-alive connection")
		}
		conns[i], readers[i] = c, br
	}
	for i, c := range conns {
		closedByPeer(t, c, readers[i])
	}
}

func TestATrickledBodyIsCutOffByTheReadTimeout(t *testing.T) {
	read := make(chan error, 1)
	addr := serve(t, httpapi.ServerConfig{ReadTimeout: 500 * time.Millisecond},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			read <- err
		}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 10000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// One byte every 50 ms: 10,000 bytes would take over 8 minutes.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case err := <-read:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("reading the body: %v, want the read deadline", err)
		}
	case <-time.After(bound):
		t.Fatalf("the handler was still reading the trickled body after %s", bound)
	}
	closedByPeer(t, c, c)
}

func TestRequestBodiesAreBounded(t *testing.T) {
	read := make(chan error, 1)
	addr := serve(t, httpapi.ServerConfig{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		read <- err
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	resp, err := http.Post("http://"+addr+"/upload", "application/octet-stream", strings.NewReader(strings.Repeat("x", httpapi.MaxBodyBytes+1)))
	if err == nil {
		resp.Body.Close()
	}
	var tooLarge *http.MaxBytesError
	if err := <-read; !errors.As(err, &tooLarge) || tooLarge.Limit != httpapi.MaxBodyBytes {
		t.Fatalf("reading a body of %d bytes: %v, want the limit of %d", httpapi.MaxBodyBytes+1, err, httpapi.MaxBodyBytes)
	}
}

func TestHeaderSize(t *testing.T) {
	addr := serve(t, httpapi.ServerConfig{}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	get := func(t *testing.T, path string, header http.Header) int {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("headers over the limit are answered 431", func(t *testing.T) {
		big := http.Header{"X-Padding": {strings.Repeat("p", 2*httpapi.DefaultMaxHeaderBytes)}}
		if code := get(t, "/x", big); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", code)
		}
	})
	t.Run("the longest valid request fits", func(t *testing.T) {
		// Three lists of the most ids, each of the longest, of the
		// character that percent-encoding triples, and a bearer token.
		id := url.QueryEscape(strings.Repeat("+", event.DefaultMaxIDLen))
		ids := strings.TrimSuffix(strings.Repeat(id+",", httpapi.MaxContextItems), ",")
		path := fmt.Sprintf("/v1/customers/%s/recommendations?k=100&category=%s&exclude=%s&viewed=%s&bought=%s",
			id, id, ids, ids, ids)
		header := http.Header{"Authorization": {"Bearer " + strings.Repeat("t", 512)}}
		if code := get(t, path, header); code != http.StatusOK {
			t.Fatalf("a request line of %d bytes: status %d, want 200", len(path), code)
		}
	})
}

// TestRoutesSplitThePorts: with the operators' endpoints on their own
// port, the API's port serves the storefront API and the probes only, and
// the operators' port the probes, /metrics and the status endpoints only.
func TestRoutesSplitThePorts(t *testing.T) {
	reg := prometheus.NewRegistry()
	ready := func(context.Context) string { return "" }
	handler := func(r httpapi.Routes) http.Handler {
		return httpapi.New(httpapi.Store{}, httpapi.Options{Routes: r}, ready, reg, zerolog.Nop())
	}
	api := serve(t, httpapi.ServerConfig{}, handler(httpapi.APIRoutes))
	ops := serve(t, httpapi.ServerConfig{}, handler(httpapi.OpsRoutes))
	for _, tc := range []struct {
		addr, method, path string
		status             int
	}{
		{api, "GET", "/healthz", 200},
		{api, "GET", "/readyz", 200},
		{api, "GET", "/metrics", 404},
		{api, "GET", "/status", 404},
		{api, "GET", "/v1/status", 404},
		{api, "POST", "/v1/popular", 405}, // served here, for GET
		{ops, "GET", "/healthz", 200},
		{ops, "GET", "/readyz", 200},
		{ops, "GET", "/metrics", 200},
		{ops, "GET", "/status", 200},
		{ops, "GET", "/v1/status", 503}, // served, without a lag monitor
		{ops, "GET", "/v1/popular", 404},
		{ops, "GET", "/v1/items/milk/related", 404},
		{ops, "GET", "/v1/customers/me/recommendations", 404},
		{ops, "GET", "/v1/recommendations", 404},
	} {
		req, err := http.NewRequest(tc.method, "http://"+tc.addr+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		port := "API"
		if tc.addr == ops {
			port = "operators'"
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s on the %s port: status %d, want %d", tc.method, tc.path, port, resp.StatusCode, tc.status)
		}
	}
}
