package consumer

import (
	"slices"
	"sync"

	"github.com/segmentio/kafka-go"
)

// keyPartitioner checks that an event sits on the partition its key hashes
// to with murmur2 (the Java clients' default, docs/DESIGN.md section 2): the
// per-customer state needs all of a customer's events on one partition, in
// order. The topic's partition count can grow; events keyed before that sit
// where the older count put them, so every count the topic has had counts.
type keyPartitioner struct {
	mu     sync.RWMutex
	counts [][]int // for each partition count n ever seen: the ids 0..n-1
}

// setCounts adds partition counts to those the check accepts. Counts only
// grow: partition loops report what they read at different moments, and
// an older report must not take back a count another loop added.
func (k *keyPartitioner) setCounts(counts []int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range counts {
		if slices.ContainsFunc(k.counts, func(ids []int) bool { return len(ids) == n }) {
			continue
		}
		p := make([]int, n)
		for i := range p {
			p[i] = i
		}
		k.counts = append(k.counts, p)
	}
}

// fits reports whether a message with key belongs on partition. Before any
// count is known it accepts everything.
func (k *keyPartitioner) fits(key []byte, partition int) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.counts) == 0 {
		return true
	}
	var b kafka.Murmur2Balancer
	msg := kafka.Message{Key: key}
	return slices.ContainsFunc(k.counts, func(ids []int) bool {
		return partition < len(ids) && b.Balance(msg, ids...) == partition
	})
}

// Partitioner names for Config.KeyPartitioner.
const (
	PartitionerMurmur2 = "murmur2"
	PartitionerNone    = "none"
)
