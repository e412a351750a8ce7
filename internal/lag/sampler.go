package lag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/segmentio/kafka-go"
)

// ProgressReader reads the applied offset of every partition from the state.
type ProgressReader interface {
	Progress(ctx context.Context) (map[int]int64, error)
}

// Sampler takes samples from the broker (end, first and committed offsets,
// group members, the timestamp of the oldest unconsumed record) and from
// the state (applied offsets).
type Sampler struct {
	Kafka *kafkaconn.Conn
	Topic string
	Group string
	State ProgressReader
	// Catalogue, when set, is the catalogue topic, and CatalogueState
	// reads the next offset to apply of each of its partitions: a sample
	// then says how many catalogue records wait to be applied.
	Catalogue      string
	CatalogueState ProgressReader
}

// Sample takes one sample.
func (s *Sampler) Sample(ctx context.Context) (Sample, error) {
	// One client serves every request of the sample. A new one per sample
	// (not one per Sampler) keeps the metadata fresh: a client's transport
	// caches it, and partitions added must show up in the next sample.
	client, done := s.Kafka.Client(s.Topic)
	defer done()
	client.Timeout = 10 * time.Second
	offsets, err := kafkaadmin.TopicOffsets(ctx, client, s.Topic)
	if err != nil {
		return Sample{}, s.Kafka.Explain(err, kafkaconn.Op{Name: "Describe", Topic: s.Topic, Group: s.Group})
	}
	sample := Sample{At: time.Now(), Partitions: make(map[int]PartitionSample, len(offsets))}
	ids := make([]int, 0, len(offsets))
	for p, o := range offsets {
		ids = append(ids, p)
		sample.Partitions[p] = PartitionSample{Start: o.First, End: o.End, Committed: -1, Applied: -1}
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: s.Group, Topics: map[string][]int{s.Topic: ids}})
	if err != nil {
		return Sample{}, s.Kafka.Explain(fmt.Errorf("committed offsets of group %s: %w", s.Group, err), kafkaconn.Op{Name: "Describe", Topic: s.Topic, Group: s.Group})
	}
	for _, c := range committed.Topics[s.Topic] {
		ps := sample.Partitions[c.Partition]
		if c.Error == nil {
			ps.Committed = c.CommittedOffset
		}
		sample.Partitions[c.Partition] = ps
	}
	groups, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{s.Group}})
	if err != nil {
		return Sample{}, s.Kafka.Explain(fmt.Errorf("describe group %s: %w", s.Group, err), kafkaconn.Op{Name: "Describe", Topic: s.Topic, Group: s.Group})
	}
	for _, g := range groups.Groups {
		if g.Error != nil {
			continue
		}
		sample.Members = len(g.Members)
		for _, m := range g.Members {
			mem := Member{ID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Partitions: []int{}}
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == s.Topic {
					mem.Partitions = append(mem.Partitions, t.Partitions...)
				}
			}
			slices.Sort(mem.Partitions)
			sample.Group = append(sample.Group, mem)
		}
		slices.SortFunc(sample.Group, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	}
	if s.State != nil {
		progress, err := s.State.Progress(ctx)
		if err != nil {
			return Sample{}, err
		}
		for p, off := range progress {
			if ps, ok := sample.Partitions[p]; ok {
				ps.Applied = off
				sample.Partitions[p] = ps
			}
		}
	}
	for p, ps := range sample.Partitions {
		if ps.Lag() == 0 {
			continue
		}
		next := ps.Committed
		if next < 0 {
			next = ps.Start
		}
		t, err := s.recordTime(ctx, client, p, next)
		if err != nil {
			return Sample{}, err
		}
		ps.OldestUnconsumed = t
		sample.Partitions[p] = ps
	}
	if s.Catalogue != "" && s.CatalogueState != nil {
		if sample.CatalogueLag, err = s.catalogueLag(ctx); err != nil {
			return Sample{}, err
		}
	}
	return sample, nil
}

// catalogueLag is, per partition of the catalogue topic, the records not
// applied yet: the end offset less the next offset to apply.
func (s *Sampler) catalogueLag(ctx context.Context) (map[int]int64, error) {
	client, done := s.Kafka.Client(s.Catalogue)
	defer done()
	client.Timeout = 10 * time.Second
	offsets, err := kafkaadmin.TopicOffsets(ctx, client, s.Catalogue)
	if err != nil {
		return nil, s.Kafka.Explain(err, kafkaconn.Op{Name: "Describe", Topic: s.Catalogue})
	}
	next, err := s.CatalogueState.Progress(ctx)
	if err != nil {
		return nil, err
	}
	lag := make(map[int]int64, len(offsets))
	for p, o := range offsets {
		from, ok := next[p]
		if !ok || from < o.First {
			from = o.First // nothing applied yet, or the oldest records were deleted
		}
		lag[p] = max(0, o.End-from)
	}
	return lag, nil
}

// recordTime returns the timestamp of the record at offset.
func (s *Sampler) recordTime(ctx context.Context, client *kafka.Client, partition int, offset int64) (time.Time, error) {
	resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: s.Topic, Partition: partition, Offset: offset,
		MinBytes: 1, MaxBytes: 64 << 10, MaxWait: 100 * time.Millisecond})
	if err != nil {
		return time.Time{}, fmt.Errorf("fetch %s/%d@%d: %w", s.Topic, partition, offset, err)
	}
	if resp.Error != nil {
		return time.Time{}, fmt.Errorf("fetch %s/%d@%d: %w", s.Topic, partition, offset, resp.Error)
	}
	for {
		r, err := resp.Records.ReadRecord()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return time.Time{}, nil
			}
			return time.Time{}, fmt.Errorf("read %s/%d@%d: %w", s.Topic, partition, offset, err)
		}
		if r.Offset >= offset { // a batch may start before the offset asked for
			return r.Time, nil
		}
	}
}
