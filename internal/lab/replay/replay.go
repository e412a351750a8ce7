// Package replay publishes events to the events topic the way a well-behaved
// producer would: keyed by customer, murmur2-partitioned like Java clients,
// in the order given, optionally paced to a rate.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaconn"
)

// chunk is how many messages one WriteMessages call carries: large enough to
// fill the writer's per-partition batches, small enough to pace a rate.
const chunk = 2000

// Config of a replay.
type Config struct {
	Kafka    *kafkaconn.Conn
	Topic    string
	Rate     float64   // events per second; 0 means as fast as the broker takes them
	Progress io.Writer // where the progress bar goes; nil for none
}

// Stats of a finished replay.
type Stats struct {
	Events   int
	Duration time.Duration
}

// NewWriter returns the producer the project uses: keyed, murmur2, acks=all.
// It has its own transport, so its partition count is read from the brokers
// when it starts rather than from kafka-go's shared metadata cache: events
// published right after partitions were added go where murmur2 over the
// new count puts them.
func NewWriter(conn *kafkaconn.Conn, topic string) *kafka.Writer {
	w := conn.Writer(topic)
	w.BatchSize = chunk
	w.BatchBytes = 4 << 20
	w.BatchTimeout = 5 * time.Millisecond
	w.MaxAttempts = 10
	return w
}

// Messages encodes events as Kafka messages keyed by customer.
func Messages(evs []event.Event) []kafka.Message {
	out := make([]kafka.Message, len(evs))
	for i, e := range evs {
		out[i] = kafka.Message{Key: []byte(e.CustomerID), Value: event.Encode(e)}
	}
	return out
}

// Run publishes the events in order and returns when the broker has
// acknowledged all of them.
func Run(ctx context.Context, cfg Config, evs []event.Event) (Stats, error) {
	if cfg.Kafka == nil || len(cfg.Kafka.Brokers()) == 0 || cfg.Topic == "" {
		return Stats{}, errors.New("replay needs brokers and a topic")
	}
	if cfg.Rate < 0 {
		return Stats{}, fmt.Errorf("rate %v: must be >= 0", cfg.Rate)
	}
	w := NewWriter(cfg.Kafka, cfg.Topic)
	defer func() {
		w.Close()
		w.Transport.(*kafka.Transport).CloseIdleConnections()
	}()
	var bar *progressbar.ProgressBar
	if cfg.Progress != nil {
		bar = progressbar.NewOptions(len(evs),
			progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetDescription("replay"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(cfg.Progress) }),
		)
	}
	step := chunk
	if cfg.Rate > 0 {
		step = max(1, min(chunk, int(cfg.Rate/20))) // about 20 writes a second
	}
	start := time.Now()
	for sent := 0; sent < len(evs); {
		n := min(step, len(evs)-sent)
		if err := w.WriteMessages(ctx, Messages(evs[sent:sent+n])...); err != nil {
			err = cfg.Kafka.Explain(err, kafkaconn.Op{Name: "Write", Topic: cfg.Topic})
			return Stats{Events: sent, Duration: time.Since(start)}, fmt.Errorf("produce events %d..%d to %s: %w", sent, sent+n-1, cfg.Topic, err)
		}
		sent += n
		if bar != nil {
			_ = bar.Add(n)
		}
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(sent) / cfg.Rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				return Stats{Events: sent, Duration: time.Since(start)}, ctx.Err()
			case <-time.After(time.Until(due)):
			}
		}
	}
	return Stats{Events: len(evs), Duration: time.Since(start)}, nil
}
