package store

import (
	"reflect"
	"testing"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/store/schema"
)

// TestShardOpsSplitsTheGlobalCounters: a batch's changes to the buyers
// counts go to the shard of each field's item and its totals to the shard
// of each event's offset, keeping the groups of offsets in order and
// every change exactly once; a row's changes stay whole.
func TestShardOpsSplitsTheGlobalCounters(t *testing.T) {
	keys := schema.NewKeys("ab")
	// Three items in three different shards.
	items := distinctShardItems(3)
	a, b, c := items[0], items[1], items[2]
	sa, sb, sc := schema.ItemShard(a), schema.ItemShard(b), schema.ItemShard(c)
	const p = 2
	second := int64(schema.OffsetBlock) // the next block of offsets: the next totals shard
	for _, tc := range []struct {
		name string
		key  delta.Key
		ops  delta.Ops
		want map[string]delta.Ops
	}{
		{
			name: "buyers by item",
			key:  delta.Key{Kind: delta.BuyersKey},
			ops: delta.Ops{Offsets: []int64{10, 11}, Counts: []int{2, 2},
				Fields: []string{a, b, a, c}, Deltas: []int64{1, 1, -1, 1}},
			want: map[string]delta.Ops{
				keys.Buyers(sa): {Offsets: []int64{10, 11}, Counts: []int{1, 1}, Fields: []string{a, a}, Deltas: []int64{1, -1}},
				keys.Buyers(sb): {Offsets: []int64{10}, Counts: []int{1}, Fields: []string{b}, Deltas: []int64{1}},
				keys.Buyers(sc): {Offsets: []int64{11}, Counts: []int{1}, Fields: []string{c}, Deltas: []int64{1}},
			},
		},
		{
			name: "totals by offset",
			key:  delta.Key{Kind: delta.TotalsKey},
			ops: delta.Ops{Offsets: []int64{10, 11, second}, Counts: []int{2, 1, 1},
				Fields: []string{"T", "C", "T", "P"}, Deltas: []int64{1, 1, 1, 1}},
			want: map[string]delta.Ops{
				keys.Totals(schema.OffsetShard(p, 10)): {Offsets: []int64{10, 11}, Counts: []int{2, 1},
					Fields: []string{"T", "C", "T"}, Deltas: []int64{1, 1, 1}},
				keys.Totals(schema.OffsetShard(p, second)): {Offsets: []int64{second}, Counts: []int{1},
					Fields: []string{"P"}, Deltas: []int64{1}},
			},
		},
		{
			name: "a row stays whole",
			key:  delta.Key{Kind: delta.RowKey, Item: a},
			ops:  delta.Ops{Offsets: []int64{10}, Counts: []int{2}, Fields: []string{b, c}, Deltas: []int64{1, 1}},
			want: map[string]delta.Ops{
				keys.Row(Bought, a): {Offsets: []int64{10}, Counts: []int{2}, Fields: []string{b, c}, Deltas: []int64{1, 1}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]delta.Ops{}
			for _, so := range shardOps(keys, p, tc.key, &tc.ops, false) {
				if _, dup := got[so.key]; dup {
					t.Errorf("%s twice", so.key)
				}
				got[so.key] = *so.ops
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// distinctShardItems returns n ids whose shards differ.
func distinctShardItems(n int) []string {
	var out []string
	seen := map[int]bool{}
	for i := 0; len(out) < n; i++ {
		id := "item" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		if s := schema.ItemShard(id); !seen[s] {
			seen[s] = true
			out = append(out, id)
		}
	}
	return out
}
