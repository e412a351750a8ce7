// Package kafkaadmin holds the few broker-side operations alsobought needs:
// creating or checking its topics, checking its access, and reading
// offsets.
package kafkaadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/kafkaconn"
)

// Compacted is the configuration of a compacted topic: the broker keeps
// at least the latest value of each key (the catalogue's item records, the
// feed's lists) and, after a while, drops the tombstones of deleted keys.
var Compacted = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}

// Topic is a topic as alsobought creates it, or as an operator must
// create it when alsobought may not (docs/security.md, "Kafka").
type Topic struct {
	Name        string
	Partitions  int
	Replication int
	Configs     []kafka.ConfigEntry
}

// MissingTopicError is a topic that does not exist where alsobought may not
// create it: the message says how to create it.
type MissingTopicError struct{ Topic Topic }

func (e *MissingTopicError) Error() string {
	t := e.Topic
	var cfg []string
	for _, c := range t.Configs {
		cfg = append(cfg, c.ConfigName+"="+c.ConfigValue)
	}
	how := fmt.Sprintf("%d partitions", t.Partitions)
	if len(cfg) > 0 {
		how += ", config " + strings.Join(cfg, ",")
	}
	return fmt.Sprintf("topic %s does not exist and topics are not created (-create-topics=false): create it with %s (replication as your cluster requires), or run with -create-topics=true where allowed", t.Name, how)
}

// EnsureTopic creates a topic unless it exists (an existing topic is left
// as it is, and CreateTopics is not even asked for: a least-privilege user
// has no Create permission).
func EnsureTopic(ctx context.Context, conn *kafkaconn.Conn, t Topic) error {
	client, done := conn.Client(t.Name)
	defer done()
	if _, err := partitionIDs(ctx, client, t.Name); err == nil {
		return nil
	} else if !errors.Is(err, kafka.UnknownTopicOrPartition) {
		return conn.Explain(err, kafkaconn.Op{Name: "Describe", Topic: t.Name})
	}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: t.Replication, ConfigEntries: t.Configs,
	}}})
	if err == nil {
		err = resp.Errors[t.Name]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return conn.Explain(fmt.Errorf("create topic %s: %w", t.Name, err), kafkaconn.Op{Name: "Create", Topic: t.Name})
	}
	return nil
}

// CheckTopic returns nil when the topic exists, a *MissingTopicError when
// it does not, and the explained error (kafkaconn.Conn.Explain) when the
// brokers do not answer or refuse to describe it. Nothing is created.
func CheckTopic(ctx context.Context, conn *kafkaconn.Conn, t Topic) error {
	client, done := conn.Client(t.Name)
	defer done()
	_, err := partitionIDs(ctx, client, t.Name)
	if errors.Is(err, kafka.UnknownTopicOrPartition) {
		return &MissingTopicError{Topic: t}
	}
	return conn.Explain(err, kafkaconn.Op{Name: "Describe", Topic: t.Name})
}

// CheckRead checks that the brokers let this client read topic (partition
// 0, nothing is consumed) and describe group: the consumer's permissions,
// asked at start-up so that a missing ACL is an error then, not a reader
// retrying for ever. Only a refusal is returned (a denied operation, a
// refused login or certificate: kafkaconn.Retryable is false); a transient
// error (a broker that just started has no group coordinator yet) is
// retried until ctx ends, then left to the consumer, which retries it and
// reports it in its readiness. Write permissions cannot be checked without
// writing; a denied write shows in readiness and the error metrics.
func CheckRead(ctx context.Context, conn *kafkaconn.Conn, topic, group string) error {
	for {
		err := checkRead(ctx, conn, topic, group)
		if err == nil || !kafkaconn.Retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func checkRead(ctx context.Context, conn *kafkaconn.Conn, topic, group string) error {
	client, done := conn.Client(topic)
	defer done()
	resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: kafka.LastOffset,
		MinBytes: 1, MaxBytes: 1, MaxWait: 10 * time.Millisecond})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return conn.Explain(fmt.Errorf("fetch from %s: %w", topic, err), kafkaconn.Op{Name: "Read", Topic: topic, Group: group})
	}
	groups, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err == nil && len(groups.Groups) == 1 {
		err = groups.Groups[0].Error
	}
	if err != nil {
		return conn.Explain(fmt.Errorf("describe group %s: %w", group, err), kafkaconn.Op{Name: "Describe", Topic: topic, Group: group})
	}
	return nil
}

// PartitionCount returns the number of partitions of a topic. It doubles
// as a reachability probe of the brokers.
func PartitionCount(ctx context.Context, conn *kafkaconn.Conn, topic string) (int, error) {
	client, done := conn.Client(topic)
	defer done()
	ids, err := partitionIDs(ctx, client, topic)
	return len(ids), conn.Explain(err, kafkaconn.Op{Name: "Describe", Topic: topic})
}

// Offsets are the first offset a partition still holds and the next one to
// be written (the high watermark).
type Offsets struct{ First, End int64 }

// TopicOffsets returns the offsets of every partition of a topic, asked
// through client, so that a caller making several requests (the lag
// sampler) builds one client for them all.
func TopicOffsets(ctx context.Context, client *kafka.Client, topic string) (map[int]Offsets, error) {
	ids, err := partitionIDs(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	reqs := make([]kafka.OffsetRequest, 0, 2*len(ids))
	for _, id := range ids {
		reqs = append(reqs, kafka.FirstOffsetOf(id), kafka.LastOffsetOf(id))
	}
	resp, err := listOffsets(ctx, client, topic, reqs)
	if err != nil {
		return nil, err
	}
	out := make(map[int]Offsets, len(ids))
	for _, po := range resp {
		out[po.Partition] = Offsets{First: po.FirstOffset, End: po.LastOffset}
	}
	return out, nil
}

// EndOffsets returns the next offset to be written in each partition of a
// topic (the high watermark). It asks for nothing else.
func EndOffsets(ctx context.Context, conn *kafkaconn.Conn, topic string) (map[int]int64, error) {
	client, done := conn.Client(topic)
	defer done()
	ids, err := partitionIDs(ctx, client, topic)
	if err != nil {
		return nil, conn.Explain(err, kafkaconn.Op{Name: "Describe", Topic: topic})
	}
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = kafka.LastOffsetOf(id)
	}
	resp, err := listOffsets(ctx, client, topic, reqs)
	if err != nil {
		return nil, conn.Explain(err, kafkaconn.Op{Name: "Describe", Topic: topic})
	}
	out := make(map[int]int64, len(ids))
	for _, po := range resp {
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// listOffsets sends one ListOffsets request for a topic and returns its
// partitions' answers, or the first partition's error.
func listOffsets(ctx context.Context, client *kafka.Client, topic string, reqs []kafka.OffsetRequest) ([]kafka.PartitionOffsets, error) {
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
	}
	return resp.Topics[topic], nil
}

// partitionIDs returns the partition ids of a topic.
func partitionIDs(ctx context.Context, client *kafka.Client, topic string) ([]int, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		if len(meta.Topics) == 1 {
			return nil, fmt.Errorf("topic %s: %w", topic, meta.Topics[0].Error)
		}
		return nil, fmt.Errorf("topic %s not found", topic)
	}
	ids := make([]int, len(meta.Topics[0].Partitions))
	for i, p := range meta.Topics[0].Partitions {
		ids[i] = p.ID
	}
	return ids, nil
}

// DeleteTopics deletes topics; a topic that does not exist is not an
// error. Tools that work on a scratch topic (eval -via-kafka) clean up
// with it.
func DeleteTopics(ctx context.Context, conn *kafkaconn.Conn, topics ...string) error {
	client, done := conn.Client(topics...)
	defer done()
	resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return conn.Explain(fmt.Errorf("delete topics %v: %w", topics, err), kafkaconn.Op{Name: "Delete", Topic: strings.Join(topics, ",")})
	}
	for topic, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("delete topic %s: %w", topic, err)
		}
	}
	return nil
}
