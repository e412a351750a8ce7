package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/testenv"
)

// TestAddingPartitionsToALiveTopic (docs/DESIGN.md section 5.1): the topic
// grows from 2 to 4 partitions between two halves of the Dunnhumby sample,
// while the consumer keeps running. Producers then hash many customers to
// another partition. Customer state carries one watermark per partition,
// so a customer's first event on its new partition applies on top of what
// its old partition applied, and every event counts once: verify is exact,
// and nothing is dead-lettered as wrong_partition (the consumer records
// every partition count the topic has had). The halves do not overlap in
// time: the procedure docs/SCALING.md gives drains the old partitions of a
// moving customer before its events arrive on the new one.
func TestAddingPartitionsToALiveTopic(t *testing.T) {
	t.Parallel()
	env := testenv.New(t, 2)
	p := startPipeline(t, env, 20)
	evs := loadDunnhumby(t)
	half := len(evs) / 2
	produce(t, env, evs[:half])
	p.waitApplied()

	addPartitions(t, env, 4)
	moved := map[string]bool{}
	var b kafka.Murmur2Balancer
	for _, e := range evs[half:] {
		key := []byte(e.CustomerID)
		if b.Balance(kafka.Message{Key: key}, 0, 1) != b.Balance(kafka.Message{Key: key}, 0, 1, 2, 3) {
			moved[e.CustomerID] = true
		}
	}
	if len(moved) == 0 {
		t.Fatal("no customer of the second half changes partition: the test checks nothing")
	}
	produce(t, env, evs[half:])
	p.waitApplied()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	progress, err := env.Store.Batches.Progress(ctx)
	if err != nil || len(progress) != 4 {
		t.Fatalf("progress %v (%v): want all 4 partitions applied", progress, err)
	}
	if n := topicMessages(t, env, env.DLQTopic); n != 0 {
		t.Fatalf("%d events dead-lettered after the partitions were added", n)
	}
	p.verifyAgainstOracle(evs)
	t.Logf("%d customers of the second half moved to another partition", len(moved))
}

// addPartitions grows env's topic to n partitions and waits until the
// brokers report n. The client has its own transport (kafkaadmin.NewClient):
// the shared one answers metadata from a cache. Growing is one step with
// nothing to watch but its end, so chaosReady bounds it.
func addPartitions(t *testing.T, env *testenv.Env, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), chaosReady)
	defer cancel()
	client, done := env.Kafka().Client()
	defer done()
	resp, err := client.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: env.Topic, Count: int32(n)}}})
	if err == nil {
		err = resp.Errors[env.Topic]
	}
	if err != nil {
		t.Fatalf("add partitions to %s: %v", env.Topic, err)
	}
	for {
		got, err := kafkaadmin.PartitionCount(ctx, env.Kafka(), env.Topic)
		if err == nil && got == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s has %d partitions (err %v) %s after adding, want %d", env.Topic, got, err, chaosReady, n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// topicMessages counts the messages of a topic.
func topicMessages(t *testing.T, env *testenv.Env, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kafkaadmin.EndOffsets(ctx, env.Kafka(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, end := range ends {
		n += end
	}
	return n
}
