package kafkaadmin

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// Access is what one alsobought deployment touches in Kafka: the topics
// and the consumer group, and whether it may create the topics.
type Access struct {
	// Topic is the events topic, read by serve (and written by the
	// publishers, replay among them, when Produce is set).
	Topic string
	// DLQTopic and FeedTopic are written by serve; FeedTopic "" when the
	// feed is off.
	DLQTopic, FeedTopic string
	// CatalogueTopic is read by serve (and written by `catalogue load`
	// when Produce is set); "" when the catalogue is off.
	CatalogueTopic string
	// Group is serve's consumer group.
	Group string
	// Produce adds writing the events topic (replay, a publisher running
	// as the same user).
	Produce bool
	// CreateTopics adds creating the topics (-create-topics=true on a
	// cluster that enforces ACLs); without it an operator creates them.
	CreateTopics bool
}

// ACLs are the least-privilege ACLs of principal ("User:alsobought") for
// the access a, as docs/security.md ("Kafka ACLs") lists them: Read on the
// events and catalogue topics and on the group, Write on the dead-letter and feed topics
// (Kafka lets Read and Write imply Describe, which metadata, offsets and
// the lag status need), and with CreateTopics, Create on each topic.
// Nothing on the cluster, no Delete, no Alter, no IdempotentWrite (the
// writers are not idempotent producers).
func ACLs(principal string, a Access) []kafka.ACLEntry {
	var out []kafka.ACLEntry
	allow := func(typ kafka.ResourceType, name string, op kafka.ACLOperationType) {
		out = append(out, kafka.ACLEntry{ResourceType: typ, ResourceName: name, ResourcePatternType: kafka.PatternTypeLiteral,
			Principal: principal, Host: "*", Operation: op, PermissionType: kafka.ACLPermissionTypeAllow})
	}
	read := []string{a.Topic}
	if a.CatalogueTopic != "" {
		read = append(read, a.CatalogueTopic)
	}
	for _, t := range read {
		allow(kafka.ResourceTypeTopic, t, kafka.ACLOperationTypeRead)
		if a.Produce {
			allow(kafka.ResourceTypeTopic, t, kafka.ACLOperationTypeWrite)
		}
	}
	allow(kafka.ResourceTypeGroup, a.Group, kafka.ACLOperationTypeRead)
	written := []string{a.DLQTopic}
	if a.FeedTopic != "" {
		written = append(written, a.FeedTopic)
	}
	for _, t := range written {
		allow(kafka.ResourceTypeTopic, t, kafka.ACLOperationTypeWrite)
	}
	if a.CreateTopics {
		for _, t := range append(read, written...) {
			allow(kafka.ResourceTypeTopic, t, kafka.ACLOperationTypeCreate)
		}
	}
	return out
}

// CreateACLs creates ACL entries through client (as a user allowed to
// alter the cluster's ACLs).
func CreateACLs(ctx context.Context, client *kafka.Client, acls []kafka.ACLEntry) error {
	resp, err := client.CreateACLs(ctx, &kafka.CreateACLsRequest{ACLs: acls})
	if err != nil {
		return fmt.Errorf("create ACLs: %w", err)
	}
	return errors.Join(resp.Errors...)
}

// DeleteACLs deletes exactly the given entries.
func DeleteACLs(ctx context.Context, client *kafka.Client, acls []kafka.ACLEntry) error {
	filters := make([]kafka.DeleteACLsFilter, len(acls))
	for i, a := range acls {
		filters[i] = kafka.DeleteACLsFilter{ResourceTypeFilter: a.ResourceType, ResourceNameFilter: a.ResourceName,
			ResourcePatternTypeFilter: a.ResourcePatternType, PrincipalFilter: a.Principal, HostFilter: a.Host,
			Operation: a.Operation, PermissionType: a.PermissionType}
	}
	resp, err := client.DeleteACLs(ctx, &kafka.DeleteACLsRequest{Filters: filters})
	if err != nil {
		return fmt.Errorf("delete ACLs: %w", err)
	}
	var errs []error
	for _, r := range resp.Results {
		errs = append(errs, r.Error)
	}
	return errors.Join(errs...)
}
