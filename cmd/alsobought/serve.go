package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/feed"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/store"
)

// startupTimeout bounds how long serve waits for Redis and Kafka at start.
const startupTimeout = 15 * time.Second

// shutdownTimeout bounds a graceful stop.
const shutdownTimeout = 15 * time.Second

// serveCmd is `alsobought serve`: every shared setting, and its own.
type serveCmd struct {
	batchSize int
	batchWait time.Duration
	consume   bool
}

func (c *serveCmd) settings(s *settings) []config.Group {
	return append(s.all(), config.Group{Name: "Serve", Settings: []config.Setting{
		{Flag: "batch-size", Help: "most events applied per Redis round trip (0: the default)", Value: config.Int(&c.batchSize, consumer.DefaultBatchSize, 0, math.MaxInt)},
		{Flag: "batch-wait", Help: "how long a batch waits to fill (0: the default)", Value: config.Duration(&c.batchWait, consumer.DefaultBatchWait, 0)},
		{Flag: "consume", Help: "consume the events topic; false serves the API, re-scores and reports the lag status without joining the group (a read or monitoring replica)", Value: config.Bool(&c.consume, true)},
	}})
}

func (c *serveCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	log := newLogger(s, stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	errs := obs.NewErrors(reg)
	st, err := store.New(s.storeConfig())
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	defer st.Close()
	if err := connect(ctx, s, st); err != nil {
		return err
	}
	cons, err := consumer.New(s.consumerConfig(c.batchSize, c.batchWait, errs), st, log, consumer.NewMetrics(reg))
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	rcfg := s.rescoreConfig(errs)
	if s.feedOn() {
		pub := feed.New(s.brokerList(), s.feedTopicName())
		defer pub.Close()
		rcfg.Publisher = pub
	}
	rs, err := rescore.New(rcfg, st, log, reg)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	ready := func(ctx context.Context) string {
		if err := st.Client().Ping(ctx).Err(); err != nil {
			return "redis: " + err.Error()
		}
		if !c.consume {
			return ""
		}
		return cons.NotReady()
	}
	monitor := lag.NewMonitor(&lag.Sampler{Brokers: s.brokerList(), Topic: s.topic, Group: s.group, State: st},
		s.lagInterval, s.lagSamples, log, reg)
	srv := &http.Server{Handler: httpapi.New(st, httpapi.Options{KeepOwned: s.keepOwned, Status: monitor.Report}, ready, reg, log),
		ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", s.httpAddr)
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("listen on %s: %v (set ALSOBOUGHT_HTTP_ADDR or -http to a free address)", s.httpAddr, err)}
	}
	log.Info().Str("http", ln.Addr().String()).Str("topic", s.topic).Str("group", s.group).
		Str("redis", s.redisAddrs).Str("prefix", s.prefix).Msg("alsobought serving")

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		if c.consume {
			_ = cons.Run(workCtx)
		}
	}()
	go func() { defer wg.Done(); monitor.Run(workCtx) }()
	go func() { defer wg.Done(); _ = rs.Run(workCtx) }()
	httpErr := make(chan error, 1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			httpErr <- err
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case runErr = <-httpErr:
		log.Error().Err(runErr).Msg("http server failed")
	}
	// Stop in reverse order of start: no new requests, then the workers,
	// which finish (or abandon) their in-flight batch; fenced writes make an
	// abandoned batch safe to apply again.
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	stopWork()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		log.Info().Msg("stopped")
	case <-shutCtx.Done():
		return fmt.Errorf("graceful shutdown took longer than %s", shutdownTimeout)
	}
	return runErr
}

// connect checks Redis and Kafka at start-up, creates the topics when they
// are missing and checks that the state in Redis was built with the same
// settings. Its errors say what to do.
func connect(ctx context.Context, s *settings, st *store.Store) error {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("cannot reach Redis at %s: %v (is it running? `make up` starts a local one)", s.redisAddrs, err)}
	}
	if err := st.EnsureMeta(ctx, s.stateSettings()); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	return ensureTopics(ctx, s)
}

func ensureTopics(ctx context.Context, s *settings) error {
	type topic struct {
		name    string
		configs []kafka.ConfigEntry
	}
	topics := []topic{{s.topic, nil}, {s.dlqTopicName(), nil}}
	if s.feedOn() {
		topics = append(topics, topic{s.feedTopicName(), feed.TopicConfig})
	}
	for _, t := range topics {
		if err := kafkaadmin.EnsureTopic(ctx, s.brokerList(), t.name, s.partitions, 1, t.configs...); err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("cannot reach Kafka at %s: %v (is it running? `make up` starts a local one)", s.brokers, err)}
		}
	}
	return nil
}
