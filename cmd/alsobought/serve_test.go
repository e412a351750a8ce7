package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
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
	deadline := time.Now().Add(time.Minute)
	for !ready(addr) {
		select {
		case err := <-served:
			t.Fatalf("serve returned before it was ready: %v\n%s", err, log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after a minute:\n%s", log.String())
		}
	}
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

func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
