package schema

import (
	"strconv"
	"strings"
)

// Shards is the number of shards of the global hashes that every batch or
// every re-score writes (docs/DESIGN.md section 13): the buyers and viewers
// counts, the item categories and the dirty set (by item), and the totals
// (by event offset). Each shard has its own hash tag (ShardTag), so that in
// a Redis Cluster the work on them spreads over the masters instead of
// loading the one that holds {#}. It is part of the layout: a state written
// with another count has another schema version.
const Shards = 32

// OffsetBlock is how many consecutive offsets of a partition write their
// totals to the same shard (OffsetShard): a batch of a few hundred events
// touches a few totals shards, not all of them.
const OffsetBlock = 64

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// shardTags holds each shard's hash tag (ShardTag).
var shardTags = func() [Shards]string {
	var tags [Shards]string
	for s := range tags {
		// The tag "{#s.n}" with the smallest n whose slot falls in the s-th
		// of Shards equal ranges of slots: a cluster whose masters own equal
		// ranges (as CLUSTER ADDSLOTSRANGE and redis-cli --cluster create
		// make them) then holds Shards / masters shards on each master, give
		// or take one, where tags hashed at random would often load one
		// master twice as much as another.
		lo, hi := s*clusterSlots/Shards, (s+1)*clusterSlots/Shards
		for n := 0; ; n++ {
			tag := "#" + strconv.Itoa(s) + "." + strconv.Itoa(n)
			if slot := Slot(tag); slot >= lo && slot < hi {
				tags[s] = "{" + tag + "}"
				break
			}
		}
	}
	return tags
}()

// ShardTag is the hash tag of shard s, "{#s.n}" (n chosen as shardTags
// says). '#' cannot occur in an id, so no item or customer shares it.
func ShardTag(s int) string { return shardTags[s] }

// ItemShard is the shard of an item's fields in the sharded hashes and of
// its lists' dirty marks: FNV-1a of the id, modulo Shards.
func ItemShard(item string) int {
	h := uint32(2166136261)
	for i := 0; i < len(item); i++ {
		h ^= uint32(item[i])
		h *= 16777619
	}
	return int(h % Shards)
}

// DirtyShard is the shard of a dirty-set member (DirtyMember): its item's.
func DirtyShard(member string) int {
	_, item, _ := strings.Cut(member, "|")
	return ItemShard(item)
}

// OffsetShard is the totals shard that the changes of the event at offset
// of a partition (or of the sweep with that sequence number) go to: the
// same for every replay of the event, so the shard's watermark fences it
// exactly once. Blocks of OffsetBlock offsets share a shard, and
// partitions start at different shards.
func OffsetShard(partition int, offset int64) int {
	if offset < 0 {
		offset = 0
	}
	return int((offset/OffsetBlock + int64(partition)*7) % Shards)
}

// Slot is the Redis Cluster hash slot of a key: CRC16 (XMODEM) of its
// hash tag, or of the whole key when it has none, modulo 16384.
func Slot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}

// SameSlot reports whether two keys hash to the same cluster slot, so
// that one script may touch both.
func SameSlot(a, b string) bool { return Slot(a) == Slot(b) }
