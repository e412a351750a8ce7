package delta

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func TestOpsSums(t *testing.T) {
	type change struct {
		off   int64
		field string
		d     int64
	}
	for _, tc := range []struct {
		name    string
		changes []change
		fields  []string
		deltas  []int64
	}{
		{"empty", nil, nil, nil},
		{"one group", []change{{1, "Y", 1}, {1, "h|1", 1}}, []string{"Y", "h|1"}, []int64{1, 1}},
		{"a field summed over groups", []change{{1, "Y", 1}, {2, "Z", 1}, {3, "Y", 1}}, []string{"Y", "Z"}, []int64{2, 1}},
		{"a histogram bin passed through cancels", []change{
			{1, "Z", 1}, {1, "h|1", -1}, {1, "h|2", 1},
			{2, "W", 1}, {2, "h|2", -1}, {2, "h|3", 1},
		}, []string{"Z", "h|1", "W", "h|3"}, []int64{1, -1, 1, 1}},
		{"everything cancels", []change{{4, "Y", 1}, {5, "Y", -1}}, []string{}, []int64{}},
		{"first appearance orders", []change{{1, "B", -2}, {1, "A", 1}, {2, "B", 1}}, []string{"B", "A"}, []int64{-1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Ops
			for _, c := range tc.changes {
				o.add(c.off, c.field, c.d)
			}
			fields, deltas := o.Sums()
			if len(fields) != len(tc.fields) || !slices.Equal(fields, tc.fields) || !slices.Equal(deltas, tc.deltas) {
				t.Errorf("Sums() = %v %v, want %v %v", fields, deltas, tc.fields, tc.deltas)
			}
		})
	}
}

// TestOpsSumsOfManyChanges: keys of every size, past the scanning limit
// and one after another (a key of many changes finds its fields in a map
// the key before it used), sum each field's changes in the order of its
// first change and leave out the fields that cancel.
func TestOpsSumsOfManyChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		n := rng.IntN(4 * sumsScanLimit)
		var o Ops
		var order []string
		want := map[string]int64{}
		for j := range n {
			f := strconv.Itoa(rng.IntN(n/3 + 1))
			d := int64(rng.IntN(3) - 1)
			if _, ok := want[f]; !ok {
				order = append(order, f)
			}
			want[f] += d
			o.add(int64(j), f, d)
		}
		var wantFields []string
		var wantDeltas []int64
		for _, f := range order {
			if want[f] != 0 {
				wantFields, wantDeltas = append(wantFields, f), append(wantDeltas, want[f])
			}
		}
		fields, deltas := o.Sums()
		if !slices.Equal(fields, wantFields) || !slices.Equal(deltas, wantDeltas) {
			t.Fatalf("key %d of %d changes: Sums() = %v %v, want %v %v", i, n, fields, deltas, wantFields, wantDeltas)
		}
	}
}

// TestKeysKeepTheirOwnChangesPastTheirRoom: a batch's keys take their Ops
// from shared blocks (opsSlab), each with room for a few groups and
// changes; a key that takes more, interleaved with its neighbours in the
// block, still holds exactly its own changes, and so do they.
func TestKeysKeepTheirOwnChangesPastTheirRoom(t *testing.T) {
	b := NewBatch(0)
	keys := make([]Key, slabKeys+3) // past one block
	for i := range keys {
		keys[i] = Key{Kind: RowKey, Item: string(rune('a'+i%26)) + string(rune('0'+i/26))}
	}
	const rounds = 3 * changesRoom
	for r := range rounds {
		for i, k := range keys {
			if i%2 == 0 || r < changesRoom/2 { // odd keys stay within their room
				b.add(k, int64(r), k.Item, int64(i+1))
			}
		}
	}
	for i, k := range keys {
		o := b.Ops[k]
		n := changesRoom / 2
		if i%2 == 0 {
			n = rounds
		}
		if len(o.Fields) != n || len(o.Offsets) != n {
			t.Fatalf("key %d holds %d changes in %d groups, want %d in %d", i, len(o.Fields), len(o.Offsets), n, n)
		}
		for j := range o.Fields {
			if o.Fields[j] != k.Item || o.Deltas[j] != int64(i+1) || o.Offsets[j] != int64(j) || o.Counts[j] != 1 {
				t.Fatalf("key %d change %d: %s %+d at %d (%d in its group), want %s %+d at %d", i, j, o.Fields[j], o.Deltas[j], o.Offsets[j], o.Counts[j], k.Item, i+1, j)
			}
		}
	}
}
