package main

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/internal/tlsfiles"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// envPrefix starts the name of every environment variable.
const envPrefix = "ALSOBOUGHT"

// settings are the settings shared by the commands: the deployment's
// (where Kafka and Redis are, the shape of the state, ...). Each command
// reads some of them (its settings method) and has options of its own.
type settings struct {
	brokers      string
	kafkaSec     kafkaSecurity
	createTopics bool
	redisAddrs   string
	redisMode    string
	redisWait    int
	redisMaster  string
	redisSec     redisSecurity
	prefix       string
	httpAddr     string
	opsHTTPAddr  string
	runbookURL   string
	httpLimits   httpapi.ServerConfig // timeouts and header size; Addr unused
	apiToken     string
	apiTokenFile string
	topic        string
	dlqTopic     string
	feedTopic    string
	catTopic     string
	group        string
	partitions   int
	historySize  int
	viewHistory  int
	bins         string
	historyAge   time.Duration
	lateness     time.Duration
	ageingEvery  time.Duration
	tombstoneTTL time.Duration
	listSize     int
	minSupport   int
	rowIndexes   bool
	method       string
	sweep        time.Duration
	minInterval  time.Duration
	minEventTime string
	maxSkew      time.Duration
	dedupWindow  time.Duration
	dedupMax     int
	partitioner  string
	keepOwned    bool
	lagInterval  time.Duration
	lagSamples   int
	logFormat    string
	logLevel     string
}

// newSettings is every shared setting at its default: a command reads only
// some, and the code it shares with others may look at the rest.
func newSettings() *settings {
	s := &settings{}
	config.Defaults(s.all()...)
	return s
}

// all is every shared setting, declared once each with its flag, its
// environment variable (ALSOBOUGHT_ and the flag, except the four names
// older than that rule), default, help and valid values, grouped by
// concern. docs/configuration.md is generated from these declarations.
func (s *settings) all() []config.Group {
	return []config.Group{s.kafka(), s.consumer(), s.redis(), s.http(), s.histories(), s.lists(),
		s.events(), s.dedupGroup(), s.rescore(), s.recommend(), s.lag(), s.logging()}
}

func (s *settings) kafka() config.Group {
	return config.Group{Name: "Kafka", Settings: append([]config.Setting{
		{Flag: "brokers", Env: "ALSOBOUGHT_KAFKA_BROKERS", Help: "Kafka bootstrap brokers, comma-separated",
			Value: config.Text(&s.brokers, "127.0.0.1:19092", "host:port addresses, comma-separated", notEmptyList)},
		{Flag: "topic", Help: "events topic (purchases and views)",
			Value: config.Text(&s.topic, event.DefaultTopic, "a topic name", notEmpty), Recorded: recordedState},
		{Flag: "dlq-topic", Help: "dead-letter topic (default: <topic>.dlq)", Value: config.String(&s.dlqTopic, "", "a topic name (empty: <topic>.dlq)"),
			Check: func() error {
				if s.dlqTopicName() == s.topic {
					return errors.New("the dead-letter topic must differ from the events topic")
				}
				return nil
			}},
		{Flag: "feed-topic", Help: "compacted topic of list changes (default: <topic>.lists; off: no feed)", Value: config.String(&s.feedTopic, "", "a topic name, or off (empty: <topic>.lists)"),
			Check: func() error {
				switch f := s.feedTopicName(); f {
				case s.topic:
					return errors.New("the feed topic must differ from the events topic")
				case s.dlqTopicName():
					return fmt.Errorf("the feed topic %s must differ from the dead-letter topic", f)
				}
				return nil
			}},
		{Flag: "catalogue-topic", Help: "compacted topic of item records, keyed by item: what may be recommended and the items' categories (default: <topic>.catalogue; off: no catalogue, every item may be recommended)",
			Value: config.String(&s.catTopic, "", "a topic name, or off (empty: <topic>.catalogue)"), Recorded: recordedState,
			Check: func() error {
				switch c := s.catalogueTopicName(); c {
				case s.topic, s.dlqTopicName():
					return fmt.Errorf("the catalogue topic %s must differ from the events and dead-letter topics", c)
				case s.feedTopicName():
					return fmt.Errorf("the catalogue topic %s must differ from the feed topic", c)
				}
				return nil
			}},
		{Flag: "partitions", Help: "partitions of the topics when alsobought creates them",
			Value: config.Int(&s.partitions, 4, 1, math.MaxInt)},
		{Flag: "create-topics", Help: "create the events, dead-letter, catalogue and feed topics when missing; false (production clusters that forbid it) never asks, and a missing topic is a start-up error saying how to create it",
			Value: config.Bool(&s.createTopics, true)},
	}, s.kafkaSec.settings(s)...)}
}

// kafkaSecurity are the TLS and SASL settings of every Kafka connection
// (docs/security.md, "Kafka").
type kafkaSecurity struct {
	tls                                    bool
	ca, cert, key, serverName              string
	mechanism, username, password, pwdFile string
}

func (k *kafkaSecurity) settings(s *settings) []config.Setting {
	return []config.Setting{
		{Flag: "kafka-tls", Help: "connect to Kafka over TLS (the SASL_SSL or SSL listener)", Value: config.Bool(&k.tls, false),
			Check: func() error { return s.kafkaConfig().Validate() }},
		{Flag: "kafka-tls-ca", Help: "PEM bundle of the CAs trusted to sign the brokers' certificates (empty: the system's); read at start-up", Value: config.String(&k.ca, "", "a PEM file (empty: the system's CAs)")},
		{Flag: "kafka-tls-cert", Help: "PEM client certificate, for brokers that ask for one (with -kafka-tls-key); read again at each TLS handshake",
			Value: config.String(&k.cert, "", "a PEM file (empty: none)")},
		{Flag: "kafka-tls-key", Help: "PEM key of -kafka-tls-cert", Value: config.String(&k.key, "", "a PEM file (empty: none)")},
		{Flag: "kafka-tls-server-name", Help: "name the brokers' certificates must carry (empty: the host of each broker's address)", Value: config.String(&k.serverName, "", "a host name (empty: each broker's host)")},
		{Flag: "kafka-sasl-mechanism", Help: "SASL login to Kafka: none, plain, scram-sha-256 or scram-sha-512 (plain sends the password as it is: use it over TLS only)",
			Value: config.OneOf(&k.mechanism, kafkaconn.MechanismNone, kafkaconn.Mechanisms()...)},
		{Flag: "kafka-username", Help: "Kafka SASL user", Value: config.String(&k.username, "", "a SASL user name (empty: none)")},
		{Flag: "kafka-password", Help: "Kafka SASL password; prefer -kafka-password-file, which no process listing or environment dump shows",
			Value: config.String(&k.password, "", "any text (empty: none)")},
		{Flag: "kafka-password-file", Help: "file holding the Kafka SASL password (a mounted Secret), read again at each new connection, so a rotated password needs no restart",
			Value: config.String(&k.pwdFile, "", "a file (empty: none)")},
	}
}

// targets are the settings' values, for config.Group.Only.
func (k *kafkaSecurity) targets() []any {
	return []any{&k.tls, &k.ca, &k.cert, &k.key, &k.serverName, &k.mechanism, &k.username, &k.password, &k.pwdFile}
}

// kafkaOnly is the Kafka group restricted to targets, with the security
// settings, which every command that talks to Kafka reads.
func (s *settings) kafkaOnly(targets ...any) config.Group {
	return s.kafka().Only(append(append([]any{&s.brokers}, targets...), s.kafkaSec.targets()...)...)
}

// kafkaConfig is the Kafka connection these settings describe.
func (s *settings) kafkaConfig() kafkaconn.Config {
	k := s.kafkaSec
	return kafkaconn.Config{Brokers: s.brokerList(),
		TLS:  tlsfiles.Config{Enabled: k.tls, CAFile: k.ca, CertFile: k.cert, KeyFile: k.key, ServerName: k.serverName},
		SASL: kafkaconn.SASL{Mechanism: k.mechanism, Username: k.username, Password: k.password, PasswordFile: k.pwdFile}}
}

// kafkaConn builds the Kafka connection: a mistake in the settings or an
// unreadable CA bundle, key pair or password file is a usage error (exit
// code 2, as for any setting).
func (s *settings) kafkaConn() (*kafkaconn.Conn, error) {
	conn, err := kafkaconn.New(s.kafkaConfig())
	if err != nil {
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	return conn, nil
}

func (s *settings) consumer() config.Group {
	return config.Group{Name: "Consumer", Settings: []config.Setting{
		{Flag: "group", Help: "Kafka consumer group", Value: config.Text(&s.group, "alsobought", "a group name", notEmpty)},
		{Flag: "key-partitioner", Help: "murmur2: dead-letter events not on the partition murmur2 of their key gives; none: no check",
			Value: config.OneOf(&s.partitioner, consumer.PartitionerMurmur2, consumer.PartitionerMurmur2, consumer.PartitionerNone)},
		{Flag: "ageing-interval", Help: "how often each partition's owner looks for customers to age out (with -history-max-age) or erase",
			Value: config.Duration(&s.ageingEvery, consumer.DefaultSweepInterval, time.Second)},
		{Flag: "tombstone-ttl", Help: "how long a customer the sweeps deleted (aged out or erased) keeps its fences, so that a replay of its old events cannot bring it back: longer than any progress loss Redis can suffer (the batch guards notice one within a batch)",
			Value: config.Duration(&s.tombstoneTTL, store.DefaultTombstoneTTL, time.Second)},
	}}
}

func (s *settings) redis() config.Group {
	return config.Group{Name: "Redis", Settings: append([]config.Setting{
		{Flag: "redis", Env: "ALSOBOUGHT_REDIS_ADDRS", Help: "Redis address (single mode), or seed nodes, comma-separated (cluster mode), or the sentinels, comma-separated (sentinel mode); or, in single and cluster mode, one redis:// or rediss:// URL (cluster mode: more seeds as ?addr=host:port), which may carry user:password (then not also -redis-username, -redis-password or -redis-password-file)",
			Value: config.Text(&s.redisAddrs, "127.0.0.1:16379", "host:port addresses, comma-separated, or a redis:// or rediss:// URL", notEmptyList),
			Check: func() error { return s.storeConfig().Validate() }, Shown: store.Redact},
		{Flag: "redis-mode", Help: "single (one Redis), cluster (Redis Cluster) or sentinel (a master and its replicas watched by Redis Sentinel; -redis names the sentinels)",
			Value: config.Text(&s.redisMode, string(store.Single), "single, cluster or sentinel", func(v string) error { _, err := store.ParseMode(v); return err })},
		{Flag: "redis-wait-replicas", Help: "cluster and sentinel mode: replicas that must acknowledge each write step (WAIT) before the next; 0 = none (cluster mode: an unplanned failover may then lose acknowledged writes; sentinel mode: the batch guards then re-read what a failover lost)",
			Value: config.Int(&s.redisWait, 1, 0, math.MaxInt)},
		{Flag: "redis-sentinel-master", Help: "sentinel mode: the master's name as the sentinels know it (sentinel monitor <name> in sentinel.conf)",
			Value: config.String(&s.redisMaster, "", "a master name known to the sentinels")},
		{Flag: "prefix", Env: "ALSOBOUGHT_REDIS_PREFIX", Help: "prefix of every Redis key",
			Value: config.Text(&s.prefix, store.DefaultPrefix, "1-32 characters of A-Z a-z 0-9 _ . -", store.ValidatePrefix)},
	}, s.redisSec.settings()...)}
}

// redisSecurity are the credentials and TLS settings of the Redis
// connections (docs/operations.md, "Redis security").
type redisSecurity struct {
	username, password, passwordFile                     string
	tls                                                  bool
	ca, cert, key, serverName                            string
	sentinelUser, sentinelPassword, sentinelPasswordFile string
}

func (r *redisSecurity) settings() []config.Setting {
	return []config.Setting{
		{Flag: "redis-username", Help: "Redis ACL user (empty: the default user)", Value: config.String(&r.username, "", "an ACL user name (empty: the default user)")},
		{Flag: "redis-password", Help: "Redis password; prefer -redis-password-file, which no process listing or environment dump shows",
			Value: config.String(&r.password, "", "any text (empty: none)")},
		{Flag: "redis-password-file", Help: "file holding the Redis password (a mounted Secret), read again at each new connection, so a rotated password needs no restart",
			Value: config.String(&r.passwordFile, "", "a file (empty: none)")},
		{Flag: "redis-tls", Help: "connect to Redis over TLS (a rediss:// URL turns it on too)", Value: config.Bool(&r.tls, false)},
		{Flag: "redis-tls-ca", Help: "PEM bundle of the CAs trusted to sign Redis's certificate (empty: the system's)", Value: config.String(&r.ca, "", "a PEM file (empty: the system's CAs)")},
		{Flag: "redis-tls-cert", Help: "PEM client certificate, for a Redis that asks for one (with -redis-tls-key); read again at each new connection",
			Value: config.String(&r.cert, "", "a PEM file (empty: none)")},
		{Flag: "redis-tls-key", Help: "PEM key of -redis-tls-cert", Value: config.String(&r.key, "", "a PEM file (empty: none)")},
		{Flag: "redis-tls-server-name", Help: "name Redis's certificate must carry (empty: the host of the address)", Value: config.String(&r.serverName, "", "a host name (empty: the address's host)")},
		{Flag: "redis-sentinel-username", Help: "sentinel mode: user the sentinels require (empty: none, or the default user with a password)",
			Value: config.String(&r.sentinelUser, "", "an ACL user name (empty: none)")},
		{Flag: "redis-sentinel-password", Help: "sentinel mode: password the sentinels require (empty: none); prefer -redis-sentinel-password-file",
			Value: config.String(&r.sentinelPassword, "", "any text (empty: none)")},
		{Flag: "redis-sentinel-password-file", Help: "sentinel mode: file holding the sentinels' password, read at start-up (a rotated sentinel password needs a restart)",
			Value: config.String(&r.sentinelPasswordFile, "", "a file (empty: none)")},
	}
}

// targets are the settings' values, for config.Group.Only.
func (r *redisSecurity) targets() []any {
	return []any{&r.username, &r.password, &r.passwordFile, &r.tls, &r.ca, &r.cert, &r.key, &r.serverName,
		&r.sentinelUser, &r.sentinelPassword, &r.sentinelPasswordFile}
}

// redisUnreachable is the start-up error of a Redis that did not answer
// Ping or CheckAccess: refused credentials and certificates, and commands
// or keys the ACL rules deny, are named as such, not as an unreachable
// Redis.
func (s *settings) redisUnreachable(err error) *exitError {
	if errors.Is(err, store.ErrAuthentication) || errors.Is(err, store.ErrCertificate) {
		return &exitError{code: 1, msg: fmt.Sprintf("Redis at %s refused the connection: %v", s.redisAddrsShown(), err)}
	}
	if errors.Is(err, store.ErrPermission) {
		return &exitError{code: 1, msg: fmt.Sprintf("Redis at %s denied a command or key the service needs (%v); "+
			"the user's ACL rules must allow what docs/operations.md, \"Redis security\", lists", s.redisAddrsShown(), err)}
	}
	return &exitError{code: 1, msg: fmt.Sprintf("cannot reach Redis at %s: %v (is it running? `make up` starts a local one)", s.redisAddrsShown(), err)}
}

// redisAddrsShown is the Redis address as messages and logs show it: with
// any password redacted.
func (s *settings) redisAddrsShown() string { return store.Redact(s.redisAddrs) }

func (s *settings) http() config.Group {
	return config.Group{Name: "HTTP", Settings: []config.Setting{
		{Flag: "http", Env: "ALSOBOUGHT_HTTP_ADDR", Help: "HTTP listen address: the API, /healthz and /readyz, and without -ops-http also /metrics, /v1/status and /status",
			Value: config.String(&s.httpAddr, httpapi.DefaultAddr, "a listen address host:port")},
		{Flag: "ops-http", Help: "listen address of the operators' port: /metrics, /v1/status, /status, /healthz and /readyz, which then leave the -http port (empty: everything on -http)",
			Value: config.String(&s.opsHTTPAddr, "", "a listen address host:port (empty: everything on -http)"),
			Check: func() error {
				if s.opsHTTPAddr != "" && s.opsHTTPAddr == s.httpAddr {
					return errors.New("the operators' port must differ from -http")
				}
				return nil
			}},
		{Flag: "runbook-url", Help: "the runbook (docs/runbook.md) as your on-call reads it: the status page links its section of whatever is not OK; point the alert rules at the same with deploy/prometheus/runbook-base.sh",
			Value: config.Text(&s.runbookURL, httpapi.DefaultRunbookURL, "an http(s) URL without #anchor", func(v string) error {
				if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
					return errors.New("not an absolute http(s) URL without #anchor")
				}
				return nil
			})},
		{Flag: "http-read-timeout", Help: "longest time to read a request, body included",
			Value: config.Duration(&s.httpLimits.ReadTimeout, httpapi.DefaultReadTimeout, time.Millisecond)},
		{Flag: "http-write-timeout", Help: "longest time from the end of a request's headers to the end of its response",
			Value: config.Duration(&s.httpLimits.WriteTimeout, httpapi.DefaultWriteTimeout, time.Millisecond)},
		{Flag: "http-idle-timeout", Help: "an idle keep-alive connection is closed after this long (keep it above your load balancer's idle timeout)",
			Value: config.Duration(&s.httpLimits.IdleTimeout, httpapi.DefaultIdleTimeout, time.Millisecond)},
		{Flag: "http-max-header-bytes", Help: "largest request line and headers; larger requests are answered 431",
			Value: config.Int(&s.httpLimits.MaxHeaderBytes, httpapi.DefaultMaxHeaderBytes, 4096, 16<<20)},
		{Flag: "api-token", Help: "bearer token that GET /v1/customers/{id}/recommendations requires (empty: none); prefer -api-token-file, which no process listing shows",
			Value: config.String(&s.apiToken, "", "any text without white space (empty: none)")},
		{Flag: "api-token-file", Help: "file of the bearer tokens (a mounted Secret), one a line, any one accepted (two while one is rotated); white space around each is ignored",
			Value: config.String(&s.apiTokenFile, "", "a file (empty: none)"),
			Check: func() error {
				if s.apiTokenFile != "" && s.apiToken != "" {
					return errors.New("give the token once: -api-token or -api-token-file")
				}
				_, err := s.tokens()
				return err
			}},
	}}
}

// tokens are the API's bearer tokens: -api-token, or the lines of
// -api-token-file; none without either.
func (s *settings) tokens() ([]string, error) {
	if s.apiTokenFile == "" {
		if s.apiToken == "" {
			return nil, nil
		}
		return []string{s.apiToken}, nil
	}
	b, err := os.ReadFile(s.apiTokenFile)
	if err != nil {
		return nil, fmt.Errorf("read the tokens: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if t := strings.TrimSpace(line); t != "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the file holds no token")
	}
	return out, nil
}

// httpServers are the HTTP servers' settings: the API's, and the
// operators' (Addr "" when they share the API's port).
func (s *settings) httpServers() (api, ops httpapi.ServerConfig) {
	api, ops = s.httpLimits, s.httpLimits
	api.Addr, ops.Addr = s.httpAddr, s.opsHTTPAddr
	return api, ops
}

// What another value of a recorded setting takes (config.Setting.Recorded;
// store.Meta.Ensure refuses a state recorded under other values).
const (
	recordedState = "another value needs a new state (a new -prefix, rebuilt by bootstrap or replay)"
	recordedLists = "another value needs every list rewritten: stop serve, then rescore -all -adopt-list-settings"
)

// histories and lists shape the state: state built under other values
// cannot be continued (stateSettings).
func (s *settings) histories() config.Group {
	return config.Group{Name: "Histories", Settings: []config.Setting{
		{Flag: "history-size", Help: "K_hist: distinct purchased items retained per customer", Value: config.Int(&s.historySize, 200, 1, 10000), Recorded: recordedState},
		{Flag: "view-history-size", Help: "K_view: distinct viewed items retained per customer", Value: config.Int(&s.viewHistory, 30, 1, 10000), Recorded: recordedState},
		{Flag: "histogram-bins", Help: "how each item's histogram groups its customers by their other items, for E_XY (docs/DESIGN.md §3): log (a bin per count below 8, then four per doubling, each count within 12.5%; a purchase moves its customer in few histograms) or exact (a bin per count, a move per held item at every purchase); a state recorded before the setting existed has exact",
			Value: config.OneOf(&s.bins, string(scoring.DefaultBins), string(scoring.LogBins), string(scoring.ExactBins)), Recorded: recordedState},
		{Flag: "row-indexes", Help: "a new state keeps an index beside each counter row, so that a re-score reads what a list can use, not the whole row: a third less re-scoring CPU and fresher lists under load, for 8-17% more Redis CPU per written event and 4-19% more memory per item (docs/BENCHMARKS.md, \"Fifth pass\"), and no re-score of a list without a candidate when its histogram moves (docs/DESIGN.md §4); with log histogram bins only; a state keeps what it started with, whatever the value later",
			Value: config.Bool(&s.rowIndexes, true)},
		{Flag: "history-max-age", Help: "an event drops from its customer's purchase and view histories the entries older than its own time minus this (event time), retracting their counters; the sweep ages customers with no new event by the stream's watermark, and deletes those left with nothing (0 = never)",
			Value: config.Duration(&s.historyAge, 0, 0), Recorded: recordedState},
		{Flag: "allowed-lateness", Help: "with -history-max-age, the sweep keeps entries this much longer than the age, so that an event up to this much older than the watermark sees what it would have seen without sweeps (not recorded with the state: it may change; verify needs the serve's value)",
			Value: config.Duration(&s.lateness, time.Hour, 0)},
	}}
}

func (s *settings) lists() config.Group {
	return config.Group{Name: "Lists", Settings: []config.Setting{
		{Flag: "list-size", Help: "K_list: items per related list", Value: config.Int(&s.listSize, 20, 1, math.MaxInt), Recorded: recordedLists},
		{Flag: "min-support", Help: "least support (co-buyers, co-viewers, viewers who then bought) for an item to enter a list",
			Value: config.Int(&s.minSupport, 2, 1, math.MaxInt), Recorded: recordedLists},
		{Flag: "scorer", Help: "served scorer: amazon2017_prior (amazon2017 with a prior on E), amazon2017, cosine, jaccard, llr or count",
			Value: config.Text(&s.method, string(scoring.DefaultMethod), config.Words(scoring.Methods()...),
				func(v string) error { _, err := scoring.ParseMethod(v); return err }), Recorded: recordedLists},
	}}
}

func (s *settings) events() config.Group {
	return config.Group{Name: "Event time", Settings: []config.Setting{
		{Flag: "min-event-time", Help: "events before this time are rejected",
			Value: config.Text(&s.minEventTime, event.DefaultMinTime().Format(time.RFC3339), "an RFC 3339 time such as 1990-01-01T00:00:00Z",
				func(v string) error { _, err := time.Parse(time.RFC3339, v); return err })},
		{Flag: "max-event-skew", Help: "events later than now plus this are rejected", Value: config.Duration(&s.maxSkew, event.DefaultMaxSkew, 0)},
	}}
}

func (s *settings) dedupGroup() config.Group {
	return config.Group{Name: "De-duplication", Settings: []config.Setting{
		{Flag: "dedup-window", Help: "an event id used again within this much event time of the customer's newest event is a duplicate (0 = no de-duplication)",
			Value: config.Duration(&s.dedupWindow, delta.DefaultDedup.Window, 0)},
		{Flag: "dedup-max", Help: "most event ids remembered per customer for de-duplication",
			Value: config.Int(&s.dedupMax, delta.DefaultDedup.Max, 0, 10000), Check: func() error { return s.dedup().Validate() }},
	}}
}

func (s *settings) rescore() config.Group {
	return config.Group{Name: "Re-scoring", Settings: []config.Setting{
		{Flag: "sweep-interval", Help: "how often every list is re-scored (0 = never)", Value: config.Duration(&s.sweep, time.Hour, 0)},
		{Flag: "rescore-min-interval", Help: "longest a dirty list gathers changes before its re-score: while re-scoring takes less than half of the re-scorer's time a list goes at the next poll, above that its first mark must be older, up to this once re-scoring takes all of it",
			Value: config.Duration(&s.minInterval, time.Second, 0)},
	}}
}

func (s *settings) recommend() config.Group {
	return config.Group{Name: "Recommendations", Settings: []config.Setting{
		{Flag: "keep-owned", Help: "let items a customer bought compete in their recommendations like any other item (default: they come back by the repeat model, the customer's and the item's measured repeat shares, never where nobody buys again)",
			Value: config.Bool(&s.keepOwned, false)},
	}}
}

func (s *settings) lag() config.Group {
	return config.Group{Name: "Lag status", Settings: []config.Setting{
		{Flag: "lag-interval", Help: "how often the lag status samples the topic, the group and Redis, and serve checks Redis's maxmemory-policy, persistence and evicted keys", Value: config.Duration(&s.lagInterval, 10*time.Second, time.Nanosecond)},
		{Flag: "lag-samples", Help: "samples in the lag status's evaluation window", Value: config.Int(&s.lagSamples, 10, 2, math.MaxInt)},
	}}
}

func (s *settings) logging() config.Group {
	return config.Group{Name: "Logging", Settings: []config.Setting{
		{Flag: "log-format", Help: "log format", Value: config.OneOf(&s.logFormat, "json", "json", "console")},
		{Flag: "log-level", Help: "log level", Value: config.Text(&s.logLevel, "info", "debug, info, warn or error", func(v string) error {
			if l, err := zerolog.ParseLevel(v); err != nil || l == zerolog.NoLevel {
				return errors.New("unknown level")
			}
			return nil
		})},
	}}
}

func notEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty")
	}
	return nil
}

func notEmptyList(v string) error {
	if len(splitList(v)) == 0 {
		return errors.New("empty")
	}
	return nil
}

// dlqTopicName is the dead-letter topic: -dlq-topic, or <topic>.dlq.
func (s *settings) dlqTopicName() string {
	if s.dlqTopic == "" {
		return event.DeadLetterTopic(s.topic)
	}
	return s.dlqTopic
}

// feedTopicName is the topic of list changes: -feed-topic, or
// <topic>.lists.
func (s *settings) feedTopicName() string {
	if s.feedTopic == "" {
		return s.topic + ".lists"
	}
	return s.feedTopic
}

// catalogueTopicName is the topic of item records: -catalogue-topic, or
// <topic>.catalogue.
func (s *settings) catalogueTopicName() string {
	if s.catTopic == "" {
		return event.CatalogueTopic(s.topic)
	}
	return s.catTopic
}

// catalogueOn reports whether the catalogue topic is followed
// (-catalogue-topic off turns it off).
func (s *settings) catalogueOn() bool { return s.catalogueTopicName() != "off" }

func (s *settings) brokerList() []string { return splitList(s.brokers) }

// feedOn reports whether list changes are published (-feed-topic off turns
// the feed off).
func (s *settings) feedOn() bool { return s.feedTopicName() != "off" }

func (s *settings) storeConfig() store.Config {
	mode, _ := store.ParseMode(s.redisMode) // checked as it was read
	r := s.redisSec
	cfg := store.Config{Mode: mode, Addrs: splitList(s.redisAddrs), Prefix: s.prefix,
		Username: r.username, Password: r.password, PasswordFile: r.passwordFile,
		TLS: store.TLS{Enabled: r.tls, CAFile: r.ca, CertFile: r.cert, KeyFile: r.key, ServerName: r.serverName}}
	if mode == store.Cluster || mode == store.Sentinel {
		cfg.WaitReplicas = s.redisWait
	}
	if mode == store.Sentinel {
		cfg.Sentinel = store.SentinelConfig{Master: s.redisMaster, Username: r.sentinelUser,
			Password: r.sentinelPassword, PasswordFile: r.sentinelPasswordFile}
	}
	return cfg
}

// autoBatchMaxWait is -batch-max-wait when none is given: half of the
// re-scorer's minimum interval, which a changed list waits from its first
// record anyway, so that the batch and its write fit in it; at most
// consumer.DefaultBatchMaxWait. Without a minimum interval, lists are
// re-scored as soon as they change and any wait would cost freshness:
// coalescing is off (time.Nanosecond, not 0, which is the consumer's
// default).
func autoBatchMaxWait(minInterval time.Duration) time.Duration {
	return max(time.Nanosecond, min(consumer.DefaultBatchMaxWait, minInterval/2))
}

// consumerConfig is the consumer these settings describe; batchSize and
// batchWait 0 take the consumer's defaults, batchMaxWait 0 takes
// autoBatchMaxWait.
func (s *settings) consumerConfig(conn *kafkaconn.Conn, batchSize int, batchWait, batchMaxWait time.Duration, errs *obs.Errors) consumer.Config {
	cfg := consumer.Config{
		Kafka: conn, Topic: s.topic, GroupID: s.group, DLQTopic: s.dlqTopicName(),
		HistorySize: s.historySize, ViewHistory: s.viewHistory, Bins: scoring.Bins(s.bins), ListMinSupport: s.minSupport, HistoryMaxAge: s.historyAge, AllowedLateness: s.lateness, SweepInterval: s.ageingEvery, TombstoneTTL: s.tombstoneTTL, BatchSize: batchSize, BatchWait: batchWait, BatchMaxWait: cmp.Or(batchMaxWait, autoBatchMaxWait(s.minInterval)),
		Limits: s.limits(), MaxEventSkew: s.maxSkew, Dedup: s.dedup(), KeyPartitioner: s.partitioner, Errors: errs,
	}
	if s.catalogueOn() {
		cfg.CatalogueTopic = s.catalogueTopicName()
	}
	return cfg
}

// rescoreConfig is the re-scorer these settings describe (without a feed
// publisher: serve adds one).
func (s *settings) rescoreConfig(errs *obs.Errors) rescore.Config {
	return rescore.Config{Method: scoring.Method(s.method), Rules: s.listRules(),
		SweepInterval: s.sweep, MinInterval: s.minInterval, Feed: s.feedOn(), Errors: errs}
}

func (s *settings) listRules() scoring.ListRules {
	return scoring.ListRules{Size: s.listSize, MinSupport: int64(s.minSupport)}
}

func (s *settings) limits() event.Limits {
	lim := event.DefaultLimits(time.Now())
	if t, err := time.Parse(time.RFC3339, s.minEventTime); err == nil {
		lim.MinTime = t
	}
	lim.MaxTime = time.Now().Add(s.maxSkew)
	return lim
}

func (s *settings) dedup() delta.Dedup {
	return delta.Dedup{Window: s.dedupWindow, Max: s.dedupMax}
}

func (s *settings) oracleSettings() oracle.Settings {
	return oracle.Settings{HistorySize: s.historySize, ViewHistorySize: s.viewHistory, Dedup: s.dedup(), HistoryMaxAge: s.historyAge, AllowedLateness: s.lateness, Bins: scoring.Bins(s.bins)}
}

// stateSettings are the settings that shape the state in Redis: state built
// under other values cannot be continued (store.Meta.Ensure).
func (s *settings) stateSettings() map[string]string {
	m := map[string]string{
		schema.MetaTopic:           s.topic,
		schema.MetaCatalogueTopic:  s.catalogueTopicName(),
		schema.MetaHistorySize:     strconv.Itoa(s.historySize),
		schema.MetaViewHistorySize: strconv.Itoa(s.viewHistory),
		schema.MetaHistoryMaxAge:   strconv.FormatInt(s.historyAge.Milliseconds(), 10),
		schema.MetaHistogramBins:   s.bins,
	}
	for k, v := range s.listSettings() {
		m[k] = v
	}
	return m
}

// rowIndexSupport is the support a new state's row indexes are kept for
// (store.Meta.EnsureWithRowIndexes): the min support with -row-indexes,
// else 0, none.
func (s *settings) rowIndexSupport() int64 {
	if !s.rowIndexes {
		return 0
	}
	return int64(s.minSupport)
}

// listSettings shape the stored lists; `rescore --all -adopt-list-settings`
// rewrites every list under new ones.
func (s *settings) listSettings() map[string]string {
	return map[string]string{
		schema.MetaListSize:   strconv.Itoa(s.listSize),
		schema.MetaMinSupport: strconv.Itoa(s.minSupport),
		schema.MetaScorer:     s.method,
	}
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// defaultAddressNotes name the broker or Redis a command falls back to
// when neither a flag nor the environment gave one, yet it reads a topic or
// a key prefix of its own: such a run was set up for another deployment
// (a test's topic, the demo's prefix), and the default address may be
// somebody else's broker or Redis on a shared machine (issue 15).
func (s *settings) defaultAddressNotes(set *config.Set) []string {
	var notes []string
	if set.Reads(&s.brokers) && !set.Given(&s.brokers) && set.Reads(&s.topic) && s.topic != event.DefaultTopic {
		notes = append(notes, fmt.Sprintf("no -brokers or ALSOBOUGHT_KAFKA_BROKERS: topic %s on the default broker %s", s.topic, s.brokers))
	}
	if set.Reads(&s.redisAddrs) && !set.Given(&s.redisAddrs) && set.Reads(&s.prefix) && s.prefix != store.DefaultPrefix {
		notes = append(notes, fmt.Sprintf("no -redis or ALSOBOUGHT_REDIS_ADDRS: prefix %s on the default Redis %s", s.prefix, s.redisAddrs))
	}
	return notes
}
