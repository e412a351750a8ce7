package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// DefaultShutdownTimeout bounds the drain of in-flight requests, which
// take milliseconds.
const DefaultShutdownTimeout = 5 * time.Second

// The connection limits' defaults (docs/http-api.md, "Limits"). Every
// request takes milliseconds and carries no body, so the limits are far
// above what a client needs and far below what lets idle or slow clients
// hold connections and goroutines for ever.
const (
	// DefaultReadHeaderTimeout bounds the reading of the request line and
	// headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds the reading of a whole request, body
	// included: a body trickled byte by byte is cut off.
	DefaultReadTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to
	// the end of its response: a reader that stops reading is cut off.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection idle this long. It
	// is above the 60 s idle timeout of common load balancers (AWS ALB,
	// nginx), so that they, not the server, close first and never send a
	// request on a connection the server is closing.
	DefaultIdleTimeout = 75 * time.Second
	// DefaultMaxHeaderBytes bounds the request line and headers: room for
	// the longest valid request (three lists of MaxContextItems ids of 128
	// bytes, percent-encoded) and a bearer token.
	DefaultMaxHeaderBytes = 64 << 10
	// MaxBodyBytes bounds a request body. No endpoint reads one; the bound
	// holds any handler that will to a size that cannot exhaust memory.
	MaxBodyBytes = 64 << 10
)

// ServerConfig configures the HTTP server. Zero durations and sizes take
// the defaults above.
type ServerConfig struct {
	Addr string // where to listen, host:port; port 0 picks a free one
	// ShutdownTimeout bounds how long a stopping server waits for the
	// requests in flight; default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// http.Server's.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes is http.Server's: a larger request line and headers
	// are answered 431.
	MaxHeaderBytes int
}

func (c *ServerConfig) setDefaults() {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.ShutdownTimeout, DefaultShutdownTimeout}, {&c.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{&c.ReadTimeout, DefaultReadTimeout}, {&c.WriteTimeout, DefaultWriteTimeout}, {&c.IdleTimeout, DefaultIdleTimeout}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	// The headers are part of the request: their timeout cannot exceed the
	// whole request's.
	c.ReadHeaderTimeout = min(c.ReadHeaderTimeout, c.ReadTimeout)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
}

// Server serves a handler until its Run's context ends.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	timeout time.Duration
}

// NewServer listens on cfg.Addr, so that an address in use stops the
// process before any other component starts, and returns the server of h.
// Every request body h reads is bounded by MaxBodyBytes.
func NewServer(cfg ServerConfig, h http.Handler) (*Server, error) {
	cfg.setDefaults()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	bounded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: bounded, ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes}
	return &Server{srv: srv, ln: ln, timeout: cfg.ShutdownTimeout}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then stops accepting connections and waits
// for the requests in flight, at most ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve HTTP on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain HTTP requests: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", s.Addr(), err)
	}
	return nil
}

// Close stops listening, for a server whose Run was never called (serve
// could not start another component).
func (s *Server) Close() error { return s.ln.Close() }
