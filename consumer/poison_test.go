package consumer

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/testenv"
)

// TestPoisonMessagesNeverStopAPartition: messages as large as the broker
// takes (a 600 KB key, a 250 KB key of 0xFF bytes, whose quoted form is
// four times larger, a value at the topic's size limit) are dead-lettered
// as bounded records with the sizes and sha256 of their originals, and the
// valid events behind them on the same partition are applied; nothing the
// consumer logs meanwhile is longer than a few KiB.
func TestPoisonMessagesNeverStopAPartition(t *testing.T) {
	env := testenv.New(t, 2)
	ctx := context.Background()
	const customer = "c1"
	partition := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(customer)}, 0, 1)
	limit := maxMessageBytes(t, env.Kafka(), env.Topic)

	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	valid := func(i int) []byte {
		return event.Encode(event.Event{ID: "e" + strconv.Itoa(i), Type: event.Purchase, CustomerID: customer,
			ItemID: "item" + strconv.Itoa(i), Time: t0.Add(time.Duration(i) * time.Minute)})
	}
	poison := []struct {
		name       string
		key, value []byte
		reason     event.Reason
	}{
		{"600 KB key", bytes.Repeat([]byte("k"), 600_000), valid(100), event.ReasonKeyMismatch},
		{"250 KB key of 0xFF", bytes.Repeat([]byte{0xff}, 250_000), valid(101), event.ReasonKeyMismatch},
		// The record batch of one record adds about 80 bytes to its key and
		// value; the broker refuses a batch over max.message.bytes.
		{"value at the size limit", []byte(customer), bytes.Repeat([]byte("v"), limit-100), event.ReasonTooLarge},
	}
	msgs := []kafka.Message{{Key: []byte(customer), Value: valid(0)}}
	for _, p := range poison {
		msgs = append(msgs, kafka.Message{Key: p.key, Value: p.value})
	}
	const behind = 4 // valid events after the poison
	for i := 1; i <= behind; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(customer), Value: valid(i)})
	}
	w := env.Kafka().Writer(env.Topic)
	w.Balancer = kafka.BalancerFunc(func(kafka.Message, ...int) int { return partition })
	w.BatchBytes, w.BatchTimeout = 2<<20, time.Millisecond
	defer w.Close()
	for _, m := range msgs {
		// One message per produce request: a batch of two large ones would
		// be over the broker's limit together.
		produceAll(t, w, m)
	}

	logs := &longestLine{}
	startConsumer(t, env, env.DLQTopic, zerolog.New(logs), NewMetrics(prometheus.NewRegistry()))
	waitNoLag(t, env.Kafka(), env.Topic, env.Store.Batches)

	got, err := env.Store.Customers.Load(ctx, []string{customer})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"item0", "item1", "item2", "item3", "item4"}
	if h := got[customer].Purchases.Items; strings.Join(h, ",") != strings.Join(want, ",") {
		t.Errorf("purchase history of %s = %v, want %v: the events behind the poison were not all applied", customer, h, want)
	}
	if wm, last := got[customer].Watermark(partition), int64(len(msgs)-1); wm != last {
		t.Errorf("watermark of %s on partition %d = %d, want the last offset %d", customer, partition, wm, last)
	}

	dead := testenv.ReadTopic(t, env.Kafka(), env.DLQTopic)
	if len(dead) != len(poison) {
		t.Fatalf("dead-letter topic holds %d records, want %d", len(dead), len(poison))
	}
	for _, p := range poison {
		t.Run(p.name, func(t *testing.T) {
			var d *kafka.Message
			for i := range dead {
				if headerMap(t, dead[i])["key_sha256"] == hexSum(p.key) && headerMap(t, dead[i])["value_sha256"] == hexSum(p.value) {
					d = &dead[i]
				}
			}
			if d == nil {
				t.Fatalf("no dead letter with the sha256 of the key and value")
			}
			h := headerMap(t, *d)
			if h["reason"] != string(p.reason) || h["key_size"] != strconv.Itoa(len(p.key)) || h["value_size"] != strconv.Itoa(len(p.value)) ||
				h["source_partition"] != strconv.Itoa(partition) {
				t.Errorf("headers reason %s, key_size %s, value_size %s, source_partition %s; want %s, %d, %d, %d",
					h["reason"], h["key_size"], h["value_size"], h["source_partition"], p.reason, len(p.key), len(p.value), partition)
			}
			wantKey, wantValue := p.key[:min(len(p.key), maxDeadLetterKey)], p.value[:min(len(p.value), maxDeadLetterValue)]
			if !bytes.Equal(d.Key, wantKey) || !bytes.Equal(d.Value, wantValue) {
				t.Errorf("record holds a %d-byte key and a %d-byte value, want the first %d and %d bytes of the originals",
					len(d.Key), len(d.Value), len(wantKey), len(wantValue))
			}
			if len(h["error"]) > maxErrorText || headerBytes(*d) > maxDeadLetterHeaders {
				t.Errorf("error header of %d bytes, headers of %d: over the bounds", len(h["error"]), headerBytes(*d))
			}
		})
	}
	if n := logs.max(); n > 4<<10 {
		t.Errorf("the consumer logged a line of %d bytes: logs on the dead-letter path must be bounded", n)
	}
}

// startConsumer runs a consumer of env's topic that dead-letters to dlq,
// stopped at cleanup.
func startConsumer(t *testing.T, env *testenv.Env, dlq string, log zerolog.Logger, m *Metrics) {
	t.Helper()
	runConsumer(t, env, Config{Kafka: env.Kafka(), Topic: env.Topic, GroupID: env.Group, DLQTopic: dlq,
		HistorySize: 10, ViewHistory: 10, Dedup: delta.DefaultDedup,
		Limits: event.DefaultLimits(time.Now()), MaxEventSkew: 24 * time.Hour}, log, m)
}

// runConsumer runs a consumer with cfg on env's store until the test ends.
func runConsumer(t *testing.T, env *testenv.Env, cfg Config, log zerolog.Logger, m *Metrics) *Consumer {
	t.Helper()
	c, err := New(cfg, StoresOf(env.Store), log, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A consumer that stops on its own leaves a test waiting on a lag
		// that never moves: say why it stopped.
		if err := c.Run(ctx); ctx.Err() == nil {
			t.Errorf("the consumer stopped while the test ran: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	return c
}

// TestRefusedDeadLettersNeverStopAPartition: on a dead-letter topic whose
// max.message.bytes is below a bounded record, the broker's refusal
// (MESSAGE_TOO_LARGE, not retriable) gives a minimal record without key and
// value; below even a minimal record, the dead letter is counted as lost.
// Either way the valid events behind the bad one are applied.
func TestRefusedDeadLettersNeverStopAPartition(t *testing.T) {
	for _, tc := range []struct {
		name           string
		maxBytes       int
		minimal, lost  float64
		wantDeadLetter bool
	}{
		{"a bounded record refused, a minimal one taken", 4096, 1, 0, true},
		{"a minimal record refused too", 200, 1, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.New(t, 1)
			ctx := context.Background()
			dlq := env.DLQTopic + ".small"
			if err := kafkaadmin.EnsureTopic(ctx, env.Kafka(), kafkaadmin.Topic{Name: dlq, Partitions: 1, Replication: 1,
				Configs: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(tc.maxBytes)}}}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = kafkaadmin.DeleteTopics(context.Background(), env.Kafka(), dlq) })
			const customer = "c1"
			ev := func(i int) []byte {
				return event.Encode(event.Event{ID: "e" + strconv.Itoa(i), Type: event.Purchase, CustomerID: customer,
					ItemID: "item" + strconv.Itoa(i), Time: time.Date(2024, 5, 1, 12, i, 0, 0, time.UTC)})
			}
			bad := bytes.Repeat([]byte("v"), 100_000) // too_large: its bounded record holds 64 KiB
			w := env.Kafka().Writer(env.Topic)
			defer w.Close()
			produceAll(t, w, kafka.Message{Key: []byte(customer), Value: ev(0)},
				kafka.Message{Key: []byte(customer), Value: bad}, kafka.Message{Key: []byte(customer), Value: ev(1)})
			m := NewMetrics(prometheus.NewRegistry())
			startConsumer(t, env, dlq, zerolog.Nop(), m)
			waitNoLag(t, env.Kafka(), env.Topic, env.Store.Batches)

			got, err := env.Store.Customers.Load(ctx, []string{customer})
			if err != nil {
				t.Fatal(err)
			}
			if h := strings.Join(got[customer].Purchases.Items, ","); h != "item0,item1" {
				t.Errorf("purchase history %s, want item0,item1", h)
			}
			const label = "message_size_too_large"
			if n := counterValue(t, m.dlqMinimal.WithLabelValues(label)); n != tc.minimal {
				t.Errorf("alsobought_dead_letters_minimal_total{error=%q} = %v, want %v", label, n, tc.minimal)
			}
			if n := counterValue(t, m.dlqLost.WithLabelValues(label)); n != tc.lost {
				t.Errorf("alsobought_dead_letters_lost_total{error=%q} = %v, want %v", label, n, tc.lost)
			}
			dead := testenv.ReadTopic(t, env.Kafka(), dlq)
			if !tc.wantDeadLetter {
				if len(dead) != 0 {
					t.Errorf("dead-letter topic holds %d records, want none", len(dead))
				}
				return
			}
			if len(dead) != 1 {
				t.Fatalf("dead-letter topic holds %d records, want 1", len(dead))
			}
			d := dead[0]
			h := headerMap(t, d)
			if d.Key != nil || d.Value != nil || !strings.Contains(h["minimal"], "Message Size Too Large") ||
				h["reason"] != string(event.ReasonTooLarge) || h["value_size"] != "100000" || h["value_sha256"] != hexSum(bad) ||
				h["source_offset"] != "1" {
				t.Errorf("want a minimal record of offset 1 (no key or value, reason too_large, value_size 100000 and its sha256); got a %d-byte key, a %d-byte value, headers %v",
					len(d.Key), len(d.Value), h)
			}
		})
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// produceAll writes msgs in order, waiting up to 30 s for a topic just
// created to be known to the broker.
func produceAll(t *testing.T, w *kafka.Writer, msgs ...kafka.Message) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := w.WriteMessages(context.Background(), msgs...)
		if err == nil {
			return
		}
		if !errors.Is(err, kafka.UnknownTopicOrPartition) || time.Now().After(deadline) {
			t.Fatalf("produce %d messages (the first with a %d-byte key and a %d-byte value): %v", len(msgs), len(msgs[0].Key), len(msgs[0].Value), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// maxMessageBytes is the largest record batch the broker accepts on topic
// (max.message.bytes).
func maxMessageBytes(t *testing.T, conn *kafkaconn.Conn, topic string) int {
	t.Helper()
	client, done := conn.Client()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"max.message.bytes"}}}})
	if err != nil {
		t.Fatalf("describe topic %s: %v", topic, err)
	}
	for _, r := range res.Resources {
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "max.message.bytes" {
				n, err := strconv.Atoi(e.ConfigValue)
				if err != nil {
					t.Fatalf("max.message.bytes %q: %v", e.ConfigValue, err)
				}
				return n
			}
		}
	}
	t.Fatalf("topic %s: no max.message.bytes in %+v", topic, res.Resources)
	return 0
}

// waitNoLag waits until the state has applied every message of topic. It
// fails when the lag has not moved for two minutes: a stalled partition.
func waitNoLag(t *testing.T, conn *kafkaconn.Conn, topic string, st StateStore) {
	t.Helper()
	last, moved := int64(-1), time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		lag, err := testenv.AppliedLag(ctx, conn, topic, st)
		cancel()
		if err == nil && lag == 0 {
			return
		}
		if err == nil && lag != last {
			last, moved = lag, time.Now()
		}
		if time.Since(moved) > 2*time.Minute {
			t.Fatalf("the applied lag stayed at %d for 2 minutes, since %s UTC (last error %v): a partition stalled", last, moved.UTC().Format(time.TimeOnly), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// longestLine is a log writer that remembers the longest line written
// (zerolog writes one line per call).
type longestLine struct {
	mu sync.Mutex
	n  int
}

func (l *longestLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.n = max(l.n, len(p))
	l.mu.Unlock()
	return len(p), nil
}

func (l *longestLine) max() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}
