package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/internal/buildinfo"
	"github.com/alsobought/alsobought/internal/catalogue"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/feed"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/lifecycle"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/redisguard"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/store"
)

// startupTimeout bounds how long serve waits for Redis and Kafka at start.
const startupTimeout = 15 * time.Second

// DefaultBackgroundPipelines is serve's -background-pipelines: one, since
// with two a personal recommendation's p99 under write saturation was 6.5
// times its idle value, against 3.5 to 4.5 with one (before parts; see
// docs/BENCHMARKS.md, "Fourth pass").
const DefaultBackgroundPipelines = 1

// yieldAfterRead is how long after the API's last read the consumer and
// the re-scorer keep to -background-pipelines: a storefront sends a
// steady stream of reads, and an instance nobody reads from gives its
// writes all of Redis.
const yieldAfterRead = time.Second

// shutdownTimeout bounds a graceful stop.
const shutdownTimeout = 15 * time.Second

// serveCmd is `alsobought serve`: every shared setting, and its own.
type serveCmd struct {
	batchSize     int
	batchWait     time.Duration
	batchMaxWait  time.Duration
	consume       bool
	buyAgainShare float64
	// backgroundPipelines: most Redis pipelines the consumer and the
	// re-scorer have in flight at once (store.Yielding).
	backgroundPipelines int
}

func (c *serveCmd) settings(s *settings) []config.Group {
	return append(s.all(), config.Group{Name: "Serve", Settings: []config.Setting{
		{Flag: "batch-size", Help: "most events applied per Redis round trip (0: the default)", Value: config.Int(&c.batchSize, consumer.DefaultBatchSize, 0, math.MaxInt)},
		{Flag: "batch-wait", Help: "how long a batch waits to fill at least (0: the default)", Value: config.Duration(&c.batchWait, consumer.DefaultBatchWait, 0)},
		{Flag: "batch-max-wait", Help: "freshness budget of coalescing: a batch that is not full goes on filling until its first event's Kafka record is this old, so that thin input still makes large batches, and the thin batches of the partitions an instance owns end together and share one write to Redis, as do its batches of less than a quarter of -batch-size; a changed list waits -rescore-min-interval from the same record time anyway, so a budget below it costs no freshness (0: half of -rescore-min-interval, at most 500ms; at or below -batch-wait: off, and no batches share a write; not recorded with the state: it may change at any restart)",
			Value: config.DurationRange(&c.batchMaxWait, 0, 0, consumer.MaxBatchMaxWait)},
		{Flag: "background-pipelines", Help: "while the API has read within the last second: most Redis pipelines the consumer and the re-scorer of this process have in Redis at once, all partitions and workers together, so that storefront reads wait behind at most this many while writes saturate Redis (0: no limit)",
			Value: config.Int(&c.backgroundPipelines, DefaultBackgroundPipelines, 0, math.MaxInt)},
		{Flag: "consume", Help: "consume the events topic; false serves the API, re-scores and reports the lag status without joining the group (a read or monitoring replica)", Value: config.Bool(&c.consume, true)},
		{Flag: "buy-again-share", Help: "largest share of the k items of a personal recommendation that items the customer bought before may take: at most floor(share × k) (1: no cap; 0: never buy again); a request's buy_again_share or buy_again=false replaces it",
			Value: config.Float(&c.buyAgainShare, 1, "a number from 0 to 1", func(f float64) bool { return f >= 0 && f <= 1 })},
	}})
}

func (c *serveCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	started := time.Now().UTC()
	log := newLogger(s, stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := buildinfo.Read()
	buildinfo.Register(reg, build)

	errs := obs.NewErrors(reg)
	conn, err := s.kafkaConn()
	if err != nil {
		return err
	}
	st, err := store.New(s.storeConfig())
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	defer st.Close()
	guard, err := redisguard.New(redisguard.Config{Interval: s.lagInterval}, st.Client(), log, reg)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	if err := connect(ctx, s, conn, st, guard, c.consume); err != nil {
		return err
	}
	// The consumer and the re-scorer take turns in Redis; the API's reads
	// go straight through st.
	background := st.Yielding(c.backgroundPipelines, yieldAfterRead)
	obs.RegisterTurnsWaited(reg, background.TurnsWaited)
	cons, err := consumer.New(s.consumerConfig(conn, c.batchSize, c.batchWait, c.batchMaxWait, errs), consumer.StoresOf(background), log, consumer.NewMetrics(reg))
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	rcfg := s.rescoreConfig(errs)
	// One view of the catalogue, kept current by the re-scorer, filters the
	// lists it writes and the answers the API serves.
	rcfg.View = catalogue.NewView(background.Catalogue)
	var pub *feed.Kafka
	if s.feedOn() {
		if pub, err = feed.New(feed.Config{Kafka: conn, Topic: s.feedTopicName()}); err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		rcfg.Publisher = pub
	}
	rs, err := rescore.New(rcfg, rescore.StateOf(background), log, reg)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	catalogueTopic := ""
	if s.catalogueOn() {
		catalogueTopic = s.catalogueTopicName()
	}
	monitor, err := lag.New(lag.Config{Interval: s.lagInterval, Samples: s.lagSamples},
		&lag.Sampler{Kafka: conn, Topic: s.topic, Group: s.group, State: background.Batches, Catalogue: catalogueTopic, CatalogueState: background.Catalogue}, log, reg)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	// stopping is set when the stop begins, asked for or after a failure:
	// the instance is out of rotation while it drains.
	var stopping atomic.Bool
	ready := func(rctx context.Context) string {
		if stopping.Load() {
			return "shutting down"
		}
		if err := st.Client().Ping(rctx).Err(); err != nil {
			return "redis: " + err.Error()
		}
		if r := guard.NotReady(); r != "" {
			return r // keys evicted: the state is wrong until rebuilt
		}
		if !c.consume {
			return ""
		}
		return cons.NotReady()
	}
	tokens, err := s.tokens() // checked as the settings were read; the file may have gone since
	if err != nil {
		return &exitError{code: 2, msg: fmt.Sprintf("-api-token-file %s: %v", s.apiTokenFile, err)}
	}
	opts := httpapi.Options{KeepOwned: s.keepOwned, Status: monitor.Report, Rescorer: rs, Tokens: tokens, Errors: errs,
		Catalogue: rcfg.View, BuyAgain: httpapi.BuyAgainShare(c.buyAgainShare), RunbookURL: s.runbookURL,
		Instance: &httpapi.Instance{Version: build.Version, Commit: build.ShortCommit(), GoVersion: build.GoVersion, Started: started,
			Consuming: c.consume, Topic: s.topic, Group: s.group, Prefix: s.prefix, RedisMode: s.redisMode,
			RedisAddrs: s.redisAddrsShown(), Brokers: s.brokerList(), Recorded: s.stateSettings()}}
	opts.Instance.RegisterInfo(reg)
	if c.consume {
		opts.Consumer = cons
	}
	// reg as well: without a consumer (-consume=false) its counters are
	// still registered, at 0, and the status page reads them there.
	opts.Recent = httpapi.NewRecent(opts, reg)
	apiCfg, opsCfg := s.httpServers()
	servers, err := httpServers(apiCfg, opsCfg, opts, func(o httpapi.Options) http.Handler {
		return httpapi.New(httpapi.StoreOf(st), o, ready, reg, log)
	})
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	ev := log.Info().Str("http", servers[0].Addr()).Int("api_tokens", len(tokens))
	if len(servers) > 1 {
		ev = ev.Str("ops_http", servers[1].Addr())
	}
	if s.kafkaSec.mechanism == kafkaconn.MechanismPlain && !s.kafkaSec.tls {
		log.Warn().Msg("Kafka SASL PLAIN without TLS: the password crosses the network as it is (docs/security.md)")
	}
	ev.Str("kafka_sasl", conn.Mechanism()).Bool("kafka_tls", s.kafkaSec.tls)
	ev.Str("topic", s.topic).Str("group", s.group).Str("redis", s.redisAddrsShown()).Str("prefix", s.prefix).Msg("alsobought serving")

	// The components start together and stop in reverse order of these
	// stages, each stage once the later ones have returned:
	//  1. the consumer stops consuming, finishes the batch in flight (at
	//     most its FinishGrace; an abandoned batch is safe, its writes are
	//     fenced) and leaves the group, so its partitions move at once;
	//  2. the re-scorer finishes its round, which may still publish;
	//  3. then the feed publisher, which that round publishes through, and
	//     the lag monitor and the Redis guard;
	//  4. the HTTP servers last (the API's and the operators' port, when
	//     -ops-http splits them), so /readyz (which says "shutting down") and
	//     /metrics answer during the whole drain; it then waits for the
	//     requests in flight.
	// A component that fails stops the others the same way, and serve
	// exits 1 with its error.
	stages := [][]lifecycle.Part{
		{{Name: "http", Component: servers[0]}},
		{{Name: "lag monitor", Component: monitor}, {Name: "redis guard", Component: guard}, {Name: "status window", Component: opts.Recent}},
		{{Name: "rescore", Component: rs}},
		nil,
	}
	if len(servers) > 1 {
		stages[0] = append(stages[0], lifecycle.Part{Name: "ops http", Component: servers[1]})
	}
	if pub != nil {
		stages[1] = append(stages[1], lifecycle.Part{Name: "feed", Component: pub})
	}
	if c.consume {
		stages[3] = []lifecycle.Part{{Name: "consumer", Component: cons}}
	}
	runner := lifecycle.Runner{StopTimeout: shutdownTimeout, Stopping: func() {
		stopping.Store(true)
		log.Info().Msg("shutting down")
	}}
	err = runner.Run(ctx, stages...)
	if err != nil {
		log.Error().Err(err).Msg("a component failed or did not stop in time; stopped")
		return &exitError{code: 1, msg: err.Error()}
	}
	log.Info().Msg("stopped")
	return nil
}

// httpServers listens on the API's address and, when opsCfg has one, on
// the operators' (docs/http-api.md, "Ports"): one server of every endpoint,
// or the API's server first and the operators' second. handler builds a
// port's handler from opts with the port's Routes.
func httpServers(apiCfg, opsCfg httpapi.ServerConfig, opts httpapi.Options, handler func(httpapi.Options) http.Handler) ([]*httpapi.Server, error) {
	if opsCfg.Addr == "" {
		srv, err := httpapi.NewServer(apiCfg, handler(opts))
		if err != nil {
			return nil, fmt.Errorf("%w (set ALSOBOUGHT_HTTP_ADDR or -http to a free address)", err)
		}
		return []*httpapi.Server{srv}, nil
	}
	apiOpts, opsOpts := opts, opts
	apiOpts.Routes, opsOpts.Routes = httpapi.APIRoutes, httpapi.OpsRoutes
	api, err := httpapi.NewServer(apiCfg, handler(apiOpts))
	if err != nil {
		return nil, fmt.Errorf("%w (set ALSOBOUGHT_HTTP_ADDR or -http to a free address)", err)
	}
	ops, err := httpapi.NewServer(opsCfg, handler(opsOpts))
	if err != nil {
		_ = api.Close()
		return nil, fmt.Errorf("%w (set ALSOBOUGHT_OPS_HTTP or -ops-http to a free address)", err)
	}
	return []*httpapi.Server{api, ops}, nil
}

// connect checks Redis and Kafka at start-up, refuses a Redis that may
// evict keys, creates the topics when they are missing (or, with
// -create-topics=false, checks that they exist), checks that the state in
// Redis was built with the same settings and, for a consuming serve, that
// the brokers let it read the topic and describe the group. Its errors say
// what to do: a refused login, certificate or ACL is named as such
// (kafkaconn.Conn.Explain), not as an unreachable Kafka.
func connect(ctx context.Context, s *settings, conn *kafkaconn.Conn, st *store.Store, guard *redisguard.Guard, consume bool) error {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		return s.redisUnreachable(err)
	}
	// ACL rules that lack a permission stop the start here, named, and not
	// the consumer's first batch, which would retry it for ever.
	if err := st.CheckAccess(ctx); err != nil {
		return s.redisUnreachable(err)
	}
	// An evicted counter or watermark is silent corruption (docs/DESIGN.md
	// section 5, docs/guarantees.md): no setting lets serve run on a Redis
	// that may evict.
	if err := guard.Start(ctx); err != nil {
		var unsafe *redisguard.UnsafeError
		if errors.As(err, &unsafe) {
			return &exitError{code: 1, msg: err.Error()}
		}
		return &exitError{code: 1, msg: fmt.Sprintf("cannot read the settings of Redis at %s: %v", s.redisAddrsShown(), err)}
	}
	if err := st.Meta.EnsureWithRowIndexes(ctx, s.stateSettings(), s.rowIndexSupport()); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	if err := ensureTopics(ctx, s, conn); err != nil {
		return err
	}
	if consume {
		if err := kafkaadmin.CheckRead(ctx, conn, s.topic, s.group); err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
		if s.catalogueOn() {
			if err := kafkaadmin.CheckRead(ctx, conn, s.catalogueTopicName(), s.group); err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
		}
	}
	return nil
}

// ensureTopics creates the events, dead-letter, catalogue and feed topics
// where they are missing, or with -create-topics=false only checks that
// they exist: nothing then asks the brokers to create a topic.
func ensureTopics(ctx context.Context, s *settings, conn *kafkaconn.Conn) error {
	topics := []kafkaadmin.Topic{{Name: s.topic}, {Name: s.dlqTopicName()}}
	if s.catalogueOn() {
		topics = append(topics, kafkaadmin.Topic{Name: s.catalogueTopicName(), Configs: kafkaadmin.Compacted})
	}
	if s.feedOn() {
		topics = append(topics, kafkaadmin.Topic{Name: s.feedTopicName(), Configs: feed.TopicConfig})
	}
	for _, t := range topics {
		t.Partitions, t.Replication = s.partitions, 1
		ensure := kafkaadmin.EnsureTopic
		if !s.createTopics {
			ensure = kafkaadmin.CheckTopic
		}
		if err := ensure(ctx, conn, t); err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
	}
	return nil
}
