// Package feed publishes list changes to a compacted Kafka topic keyed by
// list, so downstream caches and search indexes follow the lists without
// polling Redis (docs/events.md, "List change feed").
package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/store"
)

// TopicConfig makes the feed topic compacted: the broker keeps the latest
// value of each list and, after a while, drops deleted lists' tombstones.
var TopicConfig = kafkaadmin.Compacted

// Config of the feed publisher.
type Config struct {
	Kafka *kafkaconn.Conn
	Topic string
}

// Kafka publishes to the feed topic.
type Kafka struct {
	w     *kafka.Writer
	topic string
	conn  *kafkaconn.Conn
}

// New returns a publisher; it connects on first use.
func New(cfg Config) (*Kafka, error) {
	if cfg.Kafka == nil || len(cfg.Kafka.Brokers()) == 0 || cfg.Topic == "" {
		return nil, errors.New("feed: brokers and topic must be set")
	}
	w := cfg.Kafka.Writer(cfg.Topic)
	w.BatchTimeout = 5 * time.Millisecond
	w.BatchSize = 1000
	return &Kafka{topic: cfg.Topic, w: w, conn: cfg.Kafka}, nil
}

// Run keeps the publisher open until ctx ends, then closes it. A process
// stops its feed after the re-scorer that publishes through it.
func (k *Kafka) Run(ctx context.Context) error {
	<-ctx.Done()
	if err := k.Close(); err != nil {
		return fmt.Errorf("close the writer of %s: %w", k.topic, err)
	}
	return nil
}

// Publish writes the changes, a list's key as the message key and its JSON
// (or nothing, for a deleted list) as the value, and returns once the
// broker acknowledged them all.
func (k *Kafka) Publish(ctx context.Context, changes []store.ListChange) error {
	msgs := make([]kafka.Message, len(changes))
	for i, c := range changes {
		msgs[i] = kafka.Message{Key: []byte(c.Key), Value: c.Value}
	}
	if err := k.w.WriteMessages(ctx, msgs...); err != nil {
		err = k.conn.Explain(err, kafkaconn.Op{Name: "Write", Topic: k.topic})
		return fmt.Errorf("write %d list changes to %s: %w", len(msgs), k.topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (k *Kafka) Close() error { return k.w.Close() }
