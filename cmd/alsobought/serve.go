package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/consumer"
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

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("serve", stderr)
	batchSize := fs.Int("batch-size", consumer.DefaultBatchSize, "most events applied per Redis round trip")
	batchWait := fs.Duration("batch-wait", consumer.DefaultBatchWait, "how long a batch waits to fill")
	consume := fs.Bool("consume", true, "consume the events topic; false serves the API, re-scores and reports the lag status without joining the group (a read or monitoring replica)")
	if err := parse(fs, s, args); err != nil {
		return err
	}
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
	cons, err := consumer.New(s.consumerConfig(*batchSize, *batchWait, errs), st.Batches, log, consumer.NewMetrics(reg))
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	rcfg := s.rescoreConfig(errs)
	if s.feedOn() {
		pub := feed.New(s.brokerList(), s.feedTopic)
		defer pub.Close()
		rcfg.Publisher = pub
	}
	rs, err := rescore.New(rcfg, rescore.StateOf(st), log, reg)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	ready := func(ctx context.Context) string {
		if err := st.Client().Ping(ctx).Err(); err != nil {
			return "redis: " + err.Error()
		}
		if !*consume {
			return ""
		}
		return cons.NotReady()
	}
	monitor := lag.NewMonitor(&lag.Sampler{Brokers: s.brokerList(), Topic: s.topic, Group: s.group, State: st.Batches},
		s.lagInterval, s.lagSamples, log, reg)
	srv := &http.Server{Handler: httpapi.New(httpapi.StoreOf(st), httpapi.Options{KeepOwned: s.keepOwned, Status: monitor.Report}, ready, reg, log),
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
		if *consume {
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
	if err := st.Meta.Ensure(ctx, s.stateSettings()); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	return ensureTopics(ctx, s)
}

func ensureTopics(ctx context.Context, s *settings) error {
	type topic struct {
		name    string
		configs []kafka.ConfigEntry
	}
	topics := []topic{{s.topic, nil}, {s.dlqTopic, nil}}
	if s.feedOn() {
		topics = append(topics, topic{s.feedTopic, feed.TopicConfig})
	}
	for _, t := range topics {
		if err := kafkaadmin.EnsureTopic(ctx, s.brokerList(), t.name, s.partitions, 1, t.configs...); err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("cannot reach Kafka at %s: %v (is it running? `make up` starts a local one)", s.brokers, err)}
		}
	}
	return nil
}
