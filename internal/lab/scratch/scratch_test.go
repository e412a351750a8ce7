package scratch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

func TestNamesAreFreshAndValid(t *testing.T) {
	a, b := NewNames("bench-batch"), NewNames("bench-batch")
	if a == b {
		t.Fatalf("two scratch states got the same names %+v", a)
	}
	for _, n := range []Names{a, NewNames("eval")} {
		if err := store.ValidatePrefix(n.Prefix); err != nil {
			t.Error(err)
		}
		if n.DLQTopic == n.Topic || n.FeedTopic == n.Topic || !strings.HasPrefix(n.DLQTopic, n.Topic) || !strings.HasPrefix(n.FeedTopic, n.Topic) {
			t.Errorf("topics %q: want three, named after the events topic", n.Topics())
		}
	}
}

// A scratch state is created on the services and leaves nothing behind.
func TestStateCreatesAndDeletesEverything(t *testing.T) {
	brokers := strings.Split(testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")
	redisAddr := testenv.Setting(t, "ALSOBOUGHT_REDIS_ADDRS")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := New(ctx, Config{Kafka: kafkaconn.Plain(brokers...), Store: store.Config{Addrs: []string{redisAddr}}, Partitions: 2}, "scratch-test")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{s.Topic, s.DLQTopic} {
		if n, err := kafkaadmin.PartitionCount(ctx, kafkaconn.Plain(brokers...), topic); err != nil || n != 2 {
			t.Errorf("topic %s: %d partitions (%v), want 2", topic, n, err)
		}
	}
	if err := s.Store.State.SetProgress(ctx, map[int]int64{0: 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check, err := store.New(store.Config{Addrs: []string{redisAddr}, Prefix: s.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	if empty, err := check.State.IsEmpty(ctx); err != nil || !empty {
		t.Errorf("prefix %s empty %v (%v) after Close", s.Prefix, empty, err)
	}
	// Topic deletion completes asynchronously in the broker.
	for _, topic := range []string{s.Topic, s.DLQTopic} {
		for {
			_, err := kafkaadmin.PartitionCount(ctx, kafkaconn.Plain(brokers...), topic)
			if errors.Is(err, kafka.UnknownTopicOrPartition) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("topic %s still there after Close (%v)", topic, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
