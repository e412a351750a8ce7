package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// settings are the options shared by the subcommands. Each flag's default
// comes from its environment variable when that is set, so flags override
// the environment, which overrides the built-in default.
type settings struct {
	brokers      string
	redisAddrs   string
	redisMode    string
	redisWait    int
	prefix       string
	httpAddr     string
	topic        string
	dlqTopic     string
	feedTopic    string
	group        string
	partitions   int
	historySize  int
	viewHistory  int
	listSize     int
	minSupport   int
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

	envErrs []string // environment values that did not parse
}

// envVar documents one setting: its flag, variable and default.
type envVar struct{ flag, env, def, usage string }

var settingVars = []envVar{
	{"brokers", "ALSOBOUGHT_KAFKA_BROKERS", "127.0.0.1:19092", "Kafka bootstrap brokers, comma-separated"},
	{"redis", "ALSOBOUGHT_REDIS_ADDRS", "127.0.0.1:16379", "Redis address (single mode), or seed nodes, comma-separated (cluster mode)"},
	{"redis-mode", "ALSOBOUGHT_REDIS_MODE", string(store.Single), "single (one Redis) or cluster (Redis Cluster)"},
	{"redis-wait-replicas", "ALSOBOUGHT_REDIS_WAIT_REPLICAS", "1", "cluster mode: replicas that must acknowledge each write step (WAIT) before the next; 0 = none (an unplanned failover may then lose acknowledged writes)"},
	{"prefix", "ALSOBOUGHT_REDIS_PREFIX", store.DefaultPrefix, "prefix of every Redis key"},
	{"http", "ALSOBOUGHT_HTTP_ADDR", httpapi.DefaultAddr, "HTTP listen address (API, /healthz, /readyz, /metrics)"},
	{"topic", "ALSOBOUGHT_TOPIC", event.DefaultTopic, "events topic (purchases and views)"},
	{"dlq-topic", "ALSOBOUGHT_DLQ_TOPIC", "", "dead-letter topic (default: <topic>.dlq)"},
	{"feed-topic", "ALSOBOUGHT_FEED_TOPIC", "", "compacted topic of list changes (default: <topic>.lists; off: no feed)"},
	{"group", "ALSOBOUGHT_GROUP", "alsobought", "Kafka consumer group"},
	{"partitions", "ALSOBOUGHT_PARTITIONS", "4", "partitions of the topics when alsobought creates them"},
	{"history-size", "ALSOBOUGHT_HISTORY_SIZE", "200", "K_hist: distinct purchased items retained per customer"},
	{"view-history-size", "ALSOBOUGHT_VIEW_HISTORY_SIZE", "30", "K_view: distinct viewed items retained per customer"},
	{"list-size", "ALSOBOUGHT_LIST_SIZE", "20", "K_list: items per related list"},
	{"min-support", "ALSOBOUGHT_MIN_SUPPORT", "2", "least support (co-buyers, co-viewers, viewers who then bought) for an item to enter a list"},
	{"scorer", "ALSOBOUGHT_SCORER", string(scoring.DefaultMethod), "served scorer: amazon2017_prior (amazon2017 with a prior on E), amazon2017, cosine, jaccard, llr or count"},
	{"sweep-interval", "ALSOBOUGHT_SWEEP_INTERVAL", "1h", "how often every list is re-scored (0 = never)"},
	{"rescore-min-interval", "ALSOBOUGHT_RESCORE_MIN_INTERVAL", "1s", "per-row rate limit: a dirty item is re-scored once its first mark is this old"},
	{"min-event-time", "ALSOBOUGHT_MIN_EVENT_TIME", event.DefaultMinTime().Format(time.RFC3339), "events before this time are rejected (RFC 3339)"},
	{"max-event-skew", "ALSOBOUGHT_MAX_EVENT_SKEW", event.DefaultMaxSkew.String(), "events later than now plus this are rejected"},
	{"dedup-window", "ALSOBOUGHT_DEDUP_WINDOW", delta.DefaultDedup.Window.String(), "an event id used again within this much event time of the customer's newest event is a duplicate (0 = no de-duplication)"},
	{"dedup-max", "ALSOBOUGHT_DEDUP_MAX", strconv.Itoa(delta.DefaultDedup.Max), "most event ids remembered per customer for de-duplication"},
	{"key-partitioner", "ALSOBOUGHT_KEY_PARTITIONER", consumer.PartitionerMurmur2, "murmur2: dead-letter events not on the partition murmur2 of their key gives; none: no check"},
	{"keep-owned", "ALSOBOUGHT_KEEP_OWNED", "false", "let items a customer bought compete in their recommendations like any other item (default: they come back in proportion to the measured repeat share, never where nobody buys again)"},
	{"lag-interval", "ALSOBOUGHT_LAG_INTERVAL", "10s", "how often the lag status samples the topic, the group and Redis"},
	{"lag-samples", "ALSOBOUGHT_LAG_SAMPLES", "10", "samples in the lag status's evaluation window (at least 2)"},
	{"log-format", "ALSOBOUGHT_LOG_FORMAT", "json", "log format: json or console"},
	{"log-level", "ALSOBOUGHT_LOG_LEVEL", "info", "log level: debug, info, warn or error"},
}

// register adds the shared flags to fs, with defaults from the environment.
func (s *settings) register(fs *flag.FlagSet) {
	def := func(name string) string {
		v := settingVar(name)
		if e, ok := os.LookupEnv(v.env); ok {
			return e
		}
		return v.def
	}
	usage := func(name string) string { v := settingVar(name); return v.usage + " [$" + v.env + "]" }
	str := func(p *string, name string) { fs.StringVar(p, name, def(name), usage(name)) }
	num := func(p *int, name string) {
		n, err := strconv.Atoi(def(name))
		if err != nil {
			s.envErrs = append(s.envErrs, fmt.Sprintf("%s=%q is not an integer", settingVar(name).env, def(name)))
		}
		fs.IntVar(p, name, n, usage(name))
	}
	boolean := func(p *bool, name string) {
		b, err := strconv.ParseBool(def(name))
		if err != nil {
			s.envErrs = append(s.envErrs, fmt.Sprintf("%s=%q is not true or false", settingVar(name).env, def(name)))
		}
		fs.BoolVar(p, name, b, usage(name))
	}
	dur := func(p *time.Duration, name string) {
		d, err := time.ParseDuration(def(name))
		if err != nil {
			s.envErrs = append(s.envErrs, fmt.Sprintf("%s=%q is not a duration like 30s or 1h", settingVar(name).env, def(name)))
		}
		fs.DurationVar(p, name, d, usage(name))
	}
	str(&s.brokers, "brokers")
	str(&s.redisAddrs, "redis")
	str(&s.redisMode, "redis-mode")
	num(&s.redisWait, "redis-wait-replicas")
	str(&s.prefix, "prefix")
	str(&s.httpAddr, "http")
	str(&s.topic, "topic")
	str(&s.dlqTopic, "dlq-topic")
	str(&s.feedTopic, "feed-topic")
	str(&s.group, "group")
	num(&s.partitions, "partitions")
	num(&s.historySize, "history-size")
	num(&s.viewHistory, "view-history-size")
	num(&s.listSize, "list-size")
	num(&s.minSupport, "min-support")
	str(&s.method, "scorer")
	dur(&s.sweep, "sweep-interval")
	dur(&s.minInterval, "rescore-min-interval")
	str(&s.minEventTime, "min-event-time")
	dur(&s.maxSkew, "max-event-skew")
	dur(&s.dedupWindow, "dedup-window")
	num(&s.dedupMax, "dedup-max")
	str(&s.partitioner, "key-partitioner")
	boolean(&s.keepOwned, "keep-owned")
	dur(&s.lagInterval, "lag-interval")
	num(&s.lagSamples, "lag-samples")
	str(&s.logFormat, "log-format")
	str(&s.logLevel, "log-level")
}

func settingVar(flagName string) envVar {
	for _, v := range settingVars {
		if v.flag == flagName {
			return v
		}
	}
	panic("unknown setting " + flagName)
}

// validate checks every setting and returns all problems at once, each
// saying what to fix.
func (s *settings) validate() error {
	problems := append([]string(nil), s.envErrs...)
	if s.dlqTopic == "" {
		s.dlqTopic = event.DeadLetterTopic(s.topic)
	}
	if s.feedTopic == "" {
		s.feedTopic = s.topic + ".lists"
	}
	if s.feedTopic == s.topic || s.feedTopic == s.dlqTopic {
		problems = append(problems, fmt.Sprintf("-feed-topic %q must differ from the events and dead-letter topics", s.feedTopic))
	}
	if s.partitions < 1 {
		problems = append(problems, fmt.Sprintf("-partitions %d: must be at least 1", s.partitions))
	}
	if s.historySize < 1 || s.historySize > 10000 {
		problems = append(problems, fmt.Sprintf("-history-size %d: K_hist must be from 1 to 10000", s.historySize))
	}
	if s.viewHistory < 1 || s.viewHistory > 10000 {
		problems = append(problems, fmt.Sprintf("-view-history-size %d: K_view must be from 1 to 10000", s.viewHistory))
	}
	if err := s.listRules().Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := scoring.ParseMethod(s.method); err != nil {
		problems = append(problems, "-scorer: "+err.Error())
	}
	if err := store.ValidatePrefix(s.prefix); err != nil {
		problems = append(problems, "-prefix: "+err.Error())
	} else if _, err := store.ParseMode(s.redisMode); err != nil {
		problems = append(problems, "-redis-mode: "+err.Error())
	} else if err := s.storeConfig().Validate(); err != nil {
		problems = append(problems, "-redis: "+err.Error())
	}
	if _, err := time.Parse(time.RFC3339, s.minEventTime); err != nil {
		problems = append(problems, fmt.Sprintf("-min-event-time %q: use RFC 3339, e.g. 1990-01-01T00:00:00Z", s.minEventTime))
	}
	if s.sweep < 0 || s.maxSkew < 0 || s.minInterval < 0 {
		problems = append(problems, "-sweep-interval, -rescore-min-interval and -max-event-skew must not be negative")
	}
	if err := s.dedup().Validate(); err != nil {
		problems = append(problems, "-dedup-window/-dedup-max: "+err.Error())
	}
	if s.partitioner != consumer.PartitionerMurmur2 && s.partitioner != consumer.PartitionerNone {
		problems = append(problems, fmt.Sprintf("-key-partitioner %q: use %s or %s", s.partitioner, consumer.PartitionerMurmur2, consumer.PartitionerNone))
	}
	if s.lagInterval <= 0 || s.lagSamples < 2 {
		problems = append(problems, fmt.Sprintf("-lag-interval %s and -lag-samples %d: the interval must be positive and the window at least 2 samples", s.lagInterval, s.lagSamples))
	}
	if s.logFormat != "json" && s.logFormat != "console" {
		problems = append(problems, fmt.Sprintf("-log-format %q: use json or console", s.logFormat))
	}
	if l, err := zerolog.ParseLevel(s.logLevel); err != nil || l == zerolog.NoLevel {
		problems = append(problems, fmt.Sprintf("-log-level %q: use debug, info, warn or error", s.logLevel))
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

func (s *settings) brokerList() []string { return splitList(s.brokers) }

// feedOn reports whether list changes are published (-feed-topic off turns
// the feed off).
func (s *settings) feedOn() bool { return s.feedTopic != "off" }

func (s *settings) storeConfig() store.Config {
	mode, _ := store.ParseMode(s.redisMode) // validated by settings.validate
	cfg := store.Config{Mode: mode, Addrs: splitList(s.redisAddrs), Prefix: s.prefix}
	if mode == store.Cluster {
		cfg.WaitReplicas = s.redisWait
	}
	return cfg
}

// consumerConfig is the consumer these settings describe; batchSize and
// batchWait 0 take the consumer's defaults.
func (s *settings) consumerConfig(batchSize int, batchWait time.Duration, errs *obs.Errors) consumer.Config {
	return consumer.Config{
		Brokers: s.brokerList(), Topic: s.topic, GroupID: s.group, DLQTopic: s.dlqTopic,
		HistorySize: s.historySize, ViewHistory: s.viewHistory, BatchSize: batchSize, BatchWait: batchWait,
		Limits: s.limits(), MaxEventSkew: s.maxSkew, Dedup: s.dedup(), KeyPartitioner: s.partitioner, Errors: errs,
	}
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
	return oracle.Settings{HistorySize: s.historySize, ViewHistorySize: s.viewHistory, Dedup: s.dedup()}
}

// stateSettings are the settings that shape the state in Redis: state built
// under other values cannot be continued (store.Meta.Ensure).
func (s *settings) stateSettings() map[string]string {
	m := map[string]string{
		schema.MetaTopic:           s.topic,
		schema.MetaHistorySize:     strconv.Itoa(s.historySize),
		schema.MetaViewHistorySize: strconv.Itoa(s.viewHistory),
	}
	for k, v := range s.listSettings() {
		m[k] = v
	}
	return m
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
