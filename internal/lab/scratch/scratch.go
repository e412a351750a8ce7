// Package scratch gives a lab tool a pipeline state of its own on shared
// services: a fresh events topic with its dead-letter and feed topics, a
// consumer group and a Redis key prefix, all deleted at the end. The bench
// and `eval -via-kafka` run on one, so they never touch the operator's
// topics or state, whatever the environment says.
package scratch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/store"
)

// Names are the fresh names of one scratch state.
type Names struct {
	Topic     string // events
	DLQTopic  string // dead letters
	FeedTopic string // list changes (created by serve when its feed is on)
	// CatalogueTopic holds item records (created by serve).
	CatalogueTopic string
	Group          string // consumer group
	Prefix         string // Redis key prefix
}

// NewNames returns fresh names for a kind of scratch state (letters, digits
// and '-', short: the prefix must stay within store.ValidatePrefix's 32
// characters).
func NewNames(kind string) Names {
	id := strconv.FormatInt(time.Now().Unix()%1_000_000, 36) + strconv.FormatUint(rand.Uint64()%(36*36*36), 36)
	topic := kind + "." + id
	return Names{Topic: topic, DLQTopic: event.DeadLetterTopic(topic), FeedTopic: topic + ".lists",
		CatalogueTopic: event.CatalogueTopic(topic), Group: kind + "-" + id, Prefix: kind + "-" + id}
}

// Topics are every topic of the state.
func (n Names) Topics() []string { return []string{n.Topic, n.DLQTopic, n.FeedTopic, n.CatalogueTopic} }

// Config says where the services are.
type Config struct {
	Kafka *kafkaconn.Conn
	// Store is the command's Redis configuration; the prefix is replaced.
	Store      store.Config
	Partitions int // of the events and dead-letter topics
}

// State is one scratch state: its names, its topics created and a store on
// its prefix.
type State struct {
	Names
	Kafka *kafkaconn.Conn
	Store *store.Store
}

// New creates the events and dead-letter topics of fresh names and
// connects to Redis under the fresh prefix.
func New(ctx context.Context, cfg Config, kind string) (*State, error) {
	n := NewNames(kind)
	sc := cfg.Store
	sc.Prefix = n.Prefix
	st, err := store.New(sc)
	if err != nil {
		return nil, err
	}
	if err := st.Ping(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("redis at %s: %w", store.Redact(strings.Join(sc.Addrs, ",")), err)
	}
	for _, t := range []string{n.Topic, n.DLQTopic} {
		if err := kafkaadmin.EnsureTopic(ctx, cfg.Kafka, kafkaadmin.Topic{Name: t, Partitions: cfg.Partitions, Replication: 1}); err != nil {
			s := &State{Names: n, Kafka: cfg.Kafka, Store: st}
			return nil, fmt.Errorf("create topic %s: %w (cleanup: %v)", t, err, s.Close())
		}
	}
	return &State{Names: n, Kafka: cfg.Kafka, Store: st}, nil
}

// Close deletes the state's keys and topics, whatever happened before (it
// does not use the caller's context, which may be cancelled), and closes
// the store.
func (s *State) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, derr := s.Store.State.Delete(ctx)
	terr := kafkaadmin.DeleteTopics(ctx, s.Kafka, s.Topics()...)
	s.Store.Close()
	if derr != nil || terr != nil {
		return fmt.Errorf("clean up the scratch state %s: keys: %v; topics: %v", s.Prefix, derr, terr)
	}
	return nil
}
