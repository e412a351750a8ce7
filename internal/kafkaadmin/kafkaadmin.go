// Package kafkaadmin holds the few broker-side operations alsobought needs:
// creating its topics and reading end offsets.
package kafkaadmin

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// NewClient returns a client with its own transport, so that metadata
// (topics and partition counts above all) comes from the brokers: kafka-go's
// shared default transport answers metadata requests from a cache up to 6 s
// old, which would hide a topic created or partitions added a moment ago.
// done releases the client's connections.
func NewClient(brokers []string) (client *kafka.Client, done func()) {
	t := &kafka.Transport{}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Transport: t}, t.CloseIdleConnections
}

// EnsureTopic creates a topic with the given partitions and configuration
// unless it exists (an existing topic is left as it is).
func EnsureTopic(ctx context.Context, brokers []string, topic string, partitions, replication int, configs ...kafka.ConfigEntry) error {
	client, done := NewClient(brokers)
	defer done()
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: replication, ConfigEntries: configs,
	}}})
	if err != nil {
		return fmt.Errorf("create topic %s on %v: %w", topic, brokers, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// PartitionCount returns the number of partitions of a topic. It doubles
// as a reachability probe of the brokers.
func PartitionCount(ctx context.Context, brokers []string, topic string) (int, error) {
	client, done := NewClient(brokers)
	defer done()
	ids, err := partitionIDs(ctx, client, topic)
	return len(ids), err
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
func EndOffsets(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	client, done := NewClient(brokers)
	defer done()
	ids, err := partitionIDs(ctx, client, topic)
	if err != nil {
		return nil, err
	}
	reqs := make([]kafka.OffsetRequest, len(ids))
	for i, id := range ids {
		reqs[i] = kafka.LastOffsetOf(id)
	}
	resp, err := listOffsets(ctx, client, topic, reqs)
	if err != nil {
		return nil, err
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
func DeleteTopics(ctx context.Context, brokers []string, topics ...string) error {
	client, done := NewClient(brokers)
	defer done()
	resp, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("delete topics %v: %w", topics, err)
	}
	for topic, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			return fmt.Errorf("delete topic %s: %w", topic, err)
		}
	}
	return nil
}
