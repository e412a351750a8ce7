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

// ServerConfig configures the HTTP server.
type ServerConfig struct {
	Addr string // where to listen, host:port; port 0 picks a free one
	// ShutdownTimeout bounds how long a stopping server waits for the
	// requests in flight; default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Server serves a handler until its Run's context ends.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	timeout time.Duration
}

// NewServer listens on cfg.Addr, so that an address in use stops the
// process before any other component starts, and returns the server of h.
func NewServer(cfg ServerConfig, h http.Handler) (*Server, error) {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, ln: ln, timeout: cfg.ShutdownTimeout}, nil
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
