package schema_test

import (
	"testing"

	"github.com/alsobought/alsobought/store/schema"
)

// TestSlotIsRedisClusterHashSlot pins Slot to Redis Cluster's key hash
// slots (the values CLUSTER KEYSLOT gives).
func TestSlotIsRedisClusterHashSlot(t *testing.T) {
	for key, want := range map[string]int{
		"foo":              12182,
		"123456789":        0x31C3 % 16384,
		"{user1000}.a":     schema.Slot("user1000"),
		"ab:{#}:progress":  schema.Slot("#"),
		"x{}y":             schema.Slot("x{}y"), // an empty tag is no tag
		"ab:row:b:{X}":     schema.Slot("X"),
		"ab:{#0.4}:buyers": schema.Slot("#0.4"),
	} {
		if got := schema.Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

// TestShardTagsSpreadOverTheSlots: shard s's tag hashes into the s-th of
// Shards equal ranges of slots, so a cluster whose masters own equal
// ranges holds as many shards on each master, give or take one.
func TestShardTagsSpreadOverTheSlots(t *testing.T) {
	seen := map[string]bool{}
	for s := range schema.Shards {
		tag := schema.ShardTag(s)
		if seen[tag] {
			t.Errorf("shard %d: tag %s is another shard's", s, tag)
		}
		seen[tag] = true
		slot := schema.Slot(tag)
		if lo, hi := s*16384/schema.Shards, (s+1)*16384/schema.Shards; slot < lo || slot >= hi {
			t.Errorf("shard %d: tag %s in slot %d, want [%d, %d)", s, tag, slot, lo, hi)
		}
	}
	for _, masters := range []int{2, 3, 5, 8} {
		counts := make([]int, masters)
		for s := range schema.Shards {
			// Masters owning equal ranges, as redis-cli --cluster create cuts them.
			counts[schema.Slot(schema.ShardTag(s))*masters/16384]++
		}
		lo, hi := counts[0], counts[0]
		for _, c := range counts {
			lo, hi = min(lo, c), max(hi, c)
		}
		if hi-lo > 1 {
			t.Errorf("%d masters hold %v shards", masters, counts)
		}
	}
}

func TestShardsOfItemsAndOffsets(t *testing.T) {
	// Items spread evenly enough: no shard holds twice its share of 10,000 ids.
	counts := make([]int, schema.Shards)
	for i := range 10000 {
		counts[schema.ItemShard("item"+string(rune('a'+i%26))+itoa(i))]++
	}
	for s, c := range counts {
		if c < 10000/schema.Shards/2 || c > 2*10000/schema.Shards {
			t.Errorf("shard %d holds %d of 10,000 items", s, c)
		}
	}
	if schema.DirtyShard(schema.DirtyMember(schema.ViewedBought, "X|")) != schema.ItemShard("X|") {
		t.Error("a dirty member is not in its item's shard")
	}
	for _, c := range []struct {
		partition int
		offset    int64
		want      int
	}{
		{0, 0, 0}, {0, schema.OffsetBlock - 1, 0}, {0, schema.OffsetBlock, 1},
		{1, 0, 7}, {0, int64(schema.Shards) * schema.OffsetBlock, 0}, {2, -1, 14},
	} {
		if got := schema.OffsetShard(c.partition, c.offset); got != c.want {
			t.Errorf("OffsetShard(%d, %d) = %d, want %d", c.partition, c.offset, got, c.want)
		}
	}
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}
