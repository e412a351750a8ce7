package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
)

// lockedBuffer is a log that components write from their goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAComponentThatCannotStartStopsServe: when the HTTP server cannot
// listen (its address is taken), serve does not go on without it: it exits
// 1 with one line that names the address and what to do.
func TestAComponentThatCannotStartStopsServe(t *testing.T) {
	env := testenv.New(t, 1)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	err = run(context.Background(), []string{"serve", "-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix,
		"-http", addr, "-log-level", "warn"}, &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	if !strings.Contains(ee.msg, "listen on "+addr) || !strings.Contains(ee.msg, "free address") || strings.Contains(ee.msg, "\n") {
		t.Fatalf("message %q: want one line naming %s and what to do", ee.msg, addr)
	}
}

// TestServeStopsCleanlyWhenAsked: SIGTERM (the end of serve's context)
// stops every component: the consumer leaves its group, and serve returns
// nil, which exits 0.
func TestServeStopsCleanlyWhenAsked(t *testing.T) {
	env := testenv.New(t, 2)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var log lockedBuffer
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix,
			"-http", addr, "-log-level", "info"}, &bytes.Buffer{}, &log)
	}()
	waitReady(t, addr, served, &log)
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve returned %v after a stop asked for; want nil (exit 0)\n%s", err, log.String())
	}
	out := log.String()
	left, stopped := strings.Index(out, "left the consumer group"), strings.LastIndex(out, `"message":"stopped"`)
	if left < 0 || stopped < left {
		t.Fatalf("want the consumer to leave its group, then serve to report it stopped:\n%s", out)
	}
}

// waitReady waits until the serve at addr answers /readyz with 200, and
// fails when serve returns first or is not ready after three minutes.
// serving is `serve` run in the test's process, its log kept.
type serving struct {
	addr   string
	log    lockedBuffer
	cancel context.CancelFunc
	done   chan error
}

// startServe runs `serve args...`, whose -http is addr, and returns once it
// is ready; the test stops it with stop, or it is stopped at cleanup.
func startServe(t *testing.T, addr string, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{addr: addr, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), &bytes.Buffer{}, &s.log) }()
	t.Cleanup(cancel)
	s.waitReady(t)
	return s
}

// waitReady waits until /readyz answers 200.
func (s *serving) waitReady(t *testing.T) {
	t.Helper()
	waitReady(t, s.addr, s.done, &s.log)
}

// stop asks serve to stop and fails the test unless it returns cleanly.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	if err := <-s.done; err != nil {
		t.Fatalf("serve returned %v after a stop asked for\n%s", err, s.log.String())
	}
}

func waitReady(t *testing.T, addr string, served <-chan error, log *lockedBuffer) {
	t.Helper()
	// Generous: a loaded machine running the race detector can take tens
	// of seconds to rejoin a group after a broker said no.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ok, why := readiness(addr)
		if ok {
			return
		}
		select {
		case err := <-served:
			t.Fatalf("serve returned before it was ready: %v\n%s", err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after three minutes (last /readyz: %s):\n%s", why, log.String())
		}
	}
}

func ready(addr string) bool {
	ok, _ := readiness(addr)
	return ok
}

// readiness asks /readyz, and says why not when it is not ready.
func readiness(addr string) (bool, string) {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return resp.StatusCode == http.StatusOK, fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
}

// TestServeSplitsTheOperatorsPort: with -ops-http, /metrics and the status
// endpoints leave the API's port for the operators'; with a token file, the
// customer endpoint answers only requests carrying the token, which serve
// never logs.
func TestServeSplitsTheOperatorsPort(t *testing.T) {
	env := testenv.New(t, 1)
	api := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ops := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	const token = "s3cret-token-of-the-serve-test"
	tokenFile := filepath.Join(t.TempDir(), "token")
	// Two tokens, as while one is rotated: either is accepted.
	if err := os.WriteFile(tokenFile, []byte(token+"\n  other-token-being-rotated \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix, "-consume=false",
			"-http", api, "-ops-http", ops, "-api-token-file", tokenFile, "-log-level", "debug"}, &bytes.Buffer{}, &log)
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v\n%s", err, log.String())
		}
		if strings.Contains(log.String(), token) {
			t.Errorf("the log holds the token:\n%s", log.String())
		}
	}()
	waitReady(t, ops, served, &log)
	get := func(method, addr, path, auth string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		name, method, addr, path, auth string
		status                         int
	}{
		{"metrics are not on the API's port", "GET", api, "/metrics", "", 404},
		{"metrics are on the operators' port", "GET", ops, "/metrics", "", 200},
		{"the status page is on the operators' port", "GET", ops, "/status", "", 200},
		{"the status page is not on the API's port", "GET", api, "/status", "", 404},
		{"the API is not on the operators' port", "GET", ops, "/v1/popular", "", 404},
		{"readiness on the API's port", "GET", api, "/readyz", "", 200},
		{"a wrong method", "POST", api, "/v1/popular", "", 405},
		{"the customer endpoint without the token", "GET", api, "/v1/customers/c1/recommendations", "", 401},
		{"the customer endpoint with another token", "GET", api, "/v1/customers/c1/recommendations", "Bearer guess", 401},
		{"the customer endpoint with the token", "GET", api, "/v1/customers/c1/recommendations", "Bearer " + token, 200},
		{"the customer endpoint with the other token", "GET", api, "/v1/customers/c1/recommendations", "Bearer other-token-being-rotated", 200},
		{"the context endpoint needs none", "GET", api, "/v1/recommendations?viewed=tv", "", 200},
	} {
		if resp := get(tc.method, tc.addr, tc.path, tc.auth); resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s: status %d, want %d", tc.name, tc.method, tc.path, resp.StatusCode, tc.status)
		} else if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: a 401 without WWW-Authenticate", tc.name)
		} else if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", tc.name, resp.Header.Get("Allow"))
		}
	}
	if !strings.Contains(log.String(), `"ops_http":"`+ops+`"`) || !strings.Contains(log.String(), `"api_tokens":2`) {
		t.Errorf("the start-up line names neither the operators' port nor that a token is set:\n%s", log.String())
	}
}
