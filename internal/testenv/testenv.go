// Package testenv gives integration tests the real Kafka broker and Redis
// started by deploy/local (make up), with a unique topic, group and key
// prefix per test so tests never see each other's state.
//
// Every test that needs a service (Kafka, Redis, the Redis Cluster, a
// private broker or redis-server, Chromium, Prometheus) asks for it here,
// so one place decides whether it runs:
//
//   - under -short (make test-unit) it skips, settings or not: a short run
//     needs nothing but the repository and the Go toolchain;
//   - otherwise, when ALSOBOUGHT_KAFKA_BROKERS / ALSOBOUGHT_REDIS_ADDRS are
//     unset, it skips, unless ALSOBOUGHT_REQUIRE_SERVICES=1 (set by
//     `make test`), where a missing service fails the test instead: CI never
//     passes by skipping.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/store"
)

// Env is one test's view of the services.
type Env struct {
	Brokers   []string
	RedisAddr string // comma-separated seeds in cluster mode, the sentinels in sentinel mode
	RedisMode store.Mode
	// SentinelMaster is the master's name at the sentinels (sentinel mode).
	SentinelMaster string
	Topic          string
	DLQTopic       string
	// CatalogueTopic is the events topic's catalogue topic (compacted),
	// made with the others.
	CatalogueTopic string
	Group          string
	Prefix         string
	Store          *store.Store

	kafka *kafkaconn.Conn // nil: Brokers without TLS or SASL
}

// Kafka is the environment's broker connection.
func (e *Env) Kafka() *kafkaconn.Conn {
	if e.kafka == nil {
		return kafkaconn.Plain(e.Brokers...)
	}
	return e.kafka
}

var counter atomic.Int64

// New returns the environment of a test on the services of `make up`,
// creating its topics (with the given partitions) and a store under a
// fresh prefix, all deleted at cleanup.
func New(t testing.TB, partitions int) *Env {
	t.Helper()
	redisAddr := Setting(t, "ALSOBOUGHT_REDIS_ADDRS")
	return NewOn(t, strings.Split(Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ","), redisAddr, partitions)
}

// NewOn returns an environment like New, but on the given brokers and
// Redis (for example private ones).
func NewOn(t testing.TB, brokers []string, redisAddr string, partitions int) *Env {
	t.Helper()
	e := newEnv(t, redisAddr, store.Single)
	createTopics(t, e, brokers, partitions)
	return e
}

// createTopics creates the environment's topics, deleted at cleanup.
func createTopics(t testing.TB, e *Env, brokers []string, partitions int) {
	t.Helper()
	e.Brokers = brokers
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.CatalogueTopic = event.CatalogueTopic(e.Topic)
	for _, topic := range []kafkaadmin.Topic{{Name: e.Topic}, {Name: e.DLQTopic},
		{Name: e.CatalogueTopic, Configs: kafkaadmin.Compacted}} {
		topic.Partitions, topic.Replication = partitions, 1
		if err := kafkaadmin.EnsureTopic(ctx, e.Kafka(), topic); err != nil {
			t.Fatalf("kafka at %s: %v", strings.Join(brokers, ","), err)
		}
	}
	t.Cleanup(func() {
		// A short timeout: a test may leave a private broker dead.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = kafkaadmin.DeleteTopics(ctx, e.Kafka(), e.Topic, e.DLQTopic, e.CatalogueTopic, e.Topic+".lists")
	})
}

// Need stops a test that lacks something it needs (a service, a binary, a
// data folder): under -short it skips; under ALSOBOUGHT_REQUIRE_SERVICES=1
// (make test, CI) it fails, so CI never passes by skipping; elsewhere it
// skips.
func Need(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if !testing.Short() && os.Getenv("ALSOBOUGHT_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Integration skips the test under -short: it needs something outside the
// repository (a service, a browser) even where that thing is at hand. Every
// service getter of this package calls it; a test that looks for an external
// tool before it asks for a service (e2e's Prometheus test) calls it first.
func Integration(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: an integration test, needs %s", what)
	}
}

// Setting returns a service setting of `make up` (e.g.
// ALSOBOUGHT_REDIS_ADDRS). It skips under -short (Integration), and stops
// the test (Need) when the setting is unset.
func Setting(t testing.TB, name string) string {
	t.Helper()
	Integration(t, name)
	v := os.Getenv(name)
	if v == "" {
		Need(t, "needs %s: run `make test`, or `make up` and export the settings it prints", name)
	}
	return v
}

// SharedData returns the folder of the shared public data sets:
// $ALSOBOUGHT_SHARED_DATA (the Makefile sets it), or ../shared/data next
// to the repository; a missing folder stops the test (Need).
func SharedData(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ALSOBOUGHT_SHARED_DATA")
	if dir == "" {
		dir = RepoFile(filepath.Join("..", "shared", "data"))
	}
	if _, err := os.Stat(dir); err != nil {
		Need(t, "needs the shared data sets (set ALSOBOUGHT_SHARED_DATA): %v", err)
	}
	return dir
}

// NewRedis returns an environment with only Redis: a store under a fresh
// prefix, whose keys are deleted at cleanup.
func NewRedis(t testing.TB) *Env {
	t.Helper()
	return newEnv(t, Setting(t, "ALSOBOUGHT_REDIS_ADDRS"), store.Single)
}

// NewRedisOn is NewRedis on the Redis at redisAddr (a PrivateRedis).
func NewRedisOn(t testing.TB, redisAddr string) *Env {
	t.Helper()
	return newEnv(t, redisAddr, store.Single)
}

// NewCluster returns an environment like New on the local Redis Cluster
// (make cluster-up, and make test, export ALSOBOUGHT_REDIS_CLUSTER_ADDRS)
// in cluster mode.
func NewCluster(t testing.TB, partitions int) *Env {
	t.Helper()
	seeds := Setting(t, "ALSOBOUGHT_REDIS_CLUSTER_ADDRS")
	brokers := strings.Split(Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")
	e := newEnv(t, seeds, store.Cluster)
	createTopics(t, e, brokers, partitions)
	return e
}

// NewSentinel returns an environment like New on the local Redis with
// Sentinel (make sentinel-up, and make test, export
// ALSOBOUGHT_REDIS_SENTINEL_ADDRS and ALSOBOUGHT_REDIS_SENTINEL_MASTER) in
// sentinel mode, one replica acknowledging each write step as serve's
// default.
func NewSentinel(t testing.TB, partitions int) *Env {
	t.Helper()
	brokers := strings.Split(Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")
	e := newSentinelEnv(t)
	createTopics(t, e, brokers, partitions)
	return e
}

// newSentinelEnv is an environment with only Redis, in sentinel mode.
func newSentinelEnv(t testing.TB) *Env {
	t.Helper()
	sentinels := Setting(t, "ALSOBOUGHT_REDIS_SENTINEL_ADDRS")
	master := Setting(t, "ALSOBOUGHT_REDIS_SENTINEL_MASTER")
	return newEnvMaster(t, sentinels, store.Sentinel, master)
}

// newEnv names a test's topics, group and prefix, and opens a store on
// redisAddr whose keys are deleted at cleanup.
func newEnv(t testing.TB, redisAddr string, mode store.Mode) *Env {
	t.Helper()
	return newEnvMaster(t, redisAddr, mode, "")
}

// newEnvMaster is newEnv with the master's name at the sentinels
// (sentinel mode).
func newEnvMaster(t testing.TB, redisAddr string, mode store.Mode, master string) *Env {
	t.Helper()
	id := fmt.Sprintf("t%d%d", time.Now().UnixNano()%1_000_000_000, counter.Add(1))
	e := &Env{
		RedisAddr: redisAddr,
		RedisMode: mode,
		Topic:     "test." + id,
		DLQTopic:  "test." + id + ".dlq",
		Group:     "test-" + id,
		Prefix:    id,

		SentinelMaster: master,
	}
	st, err := store.New(e.StoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.Store = st
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = st.State.Delete(ctx)
		st.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("redis at %s: %v", redisAddr, err)
	}
	return e
}

// StoreConfig is the configuration of the environment's store: its Redis
// in its mode, under its prefix, with one replica acknowledging each write
// step in cluster and sentinel mode, as serve's default.
func (e *Env) StoreConfig() store.Config {
	cfg := store.Config{Mode: e.RedisMode, Addrs: strings.Split(e.RedisAddr, ","), Prefix: e.Prefix,
		Sentinel: store.SentinelConfig{Master: e.SentinelMaster}}
	if e.RedisMode == store.Cluster || e.RedisMode == store.Sentinel {
		cfg.WaitReplicas = 1
	}
	return cfg
}

// RepoFile returns the path of a file in the repository.
func RepoFile(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", rel)
}
