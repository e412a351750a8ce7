package delta

import "strconv"

// KeyKind says which Redis hash a change goes to.
type KeyKind uint8

const (
	// RowKey is item X's row: field Y holds N_XY, field "h|n" holds h_X[n].
	RowKey KeyKind = iota
	// BuyersKey is the global hash of B: field X holds B_X.
	BuyersKey
	// TotalsKey is the global hash with fields "T" and "C".
	TotalsKey
)

// Key identifies one Redis hash; Item is empty for the global hashes.
type Key struct {
	Kind KeyKind
	Item string
}

// Field names inside the global totals hash.
const (
	FieldTotal     = "T"
	FieldCustomers = "C"
)

// HistField is the row field that holds h_X[n]. Item ids cannot contain '|',
// so it never collides with a co-count field.
func HistField(others int) string { return "h|" + strconv.Itoa(others) }

// Ops is the list of changes to one key, grouped by the offset of the event
// that caused them, in offset order. The groups are kept apart (not summed
// per field) because the per-key fence applies exactly the groups above the
// key's watermark; summing would break it when a replay cuts batches
// differently (DESIGN.md section 5.1).
type Ops struct {
	Offsets []int64 // one per group, ascending
	Counts  []int   // number of field changes in each group
	Fields  []string
	Deltas  []int64
}

func (o *Ops) add(offset int64, field string, d int64) {
	n := len(o.Offsets)
	if n == 0 || o.Offsets[n-1] != offset {
		o.Offsets = append(o.Offsets, offset)
		o.Counts = append(o.Counts, 0)
		n++
	}
	o.Counts[n-1]++
	o.Fields = append(o.Fields, field)
	o.Deltas = append(o.Deltas, d)
}

// Batch accumulates the changes caused by a run of events from one Kafka
// partition, in offset order.
type Batch struct {
	Partition int
	Ops       map[Key]*Ops
	Dirty     map[string]struct{} // items whose related list must be re-scored
	Changes   int                 // field changes, for metrics and benchmarks
}

// NewBatch returns an empty batch for a partition.
func NewBatch(partition int) *Batch {
	return &Batch{Partition: partition, Ops: make(map[Key]*Ops), Dirty: make(map[string]struct{})}
}

func (b *Batch) add(k Key, offset int64, field string, d int64) {
	o := b.Ops[k]
	if o == nil {
		o = &Ops{}
		b.Ops[k] = o
	}
	o.add(offset, field, d)
	b.Changes++
}

func (b *Batch) row(item string) Key { return Key{Kind: RowKey, Item: item} }

// Purchase applies the purchase of item z at offset to history h (a
// history of at most capacity items) and records the counter changes of
// DESIGN.md section 4.
func (b *Batch) Purchase(h *History, z string, offset int64, capacity int) {
	if h.Contains(z) {
		h.Touch(z, capacity) // recency only: no counter moves
		return
	}
	n := len(h.Items)
	buyers, totals := Key{Kind: BuyersKey}, Key{Kind: TotalsKey}
	if n < capacity {
		from, to := HistField(n-1), HistField(n)
		for _, x := range h.Items {
			b.add(b.row(x), offset, z, +1)
			b.add(b.row(x), offset, from, -1)
			b.add(b.row(x), offset, to, +1)
			b.add(b.row(z), offset, x, +1)
			b.Dirty[x] = struct{}{}
		}
		b.add(b.row(z), offset, to, +1)
		b.add(buyers, offset, z, +1)
		b.add(totals, offset, FieldTotal, +1)
		if n == 0 {
			b.add(totals, offset, FieldCustomers, +1)
		}
	} else {
		p := h.Items[0]
		for _, x := range h.Items[1:] {
			b.add(b.row(x), offset, p, -1)
			b.add(b.row(x), offset, z, +1)
			b.add(b.row(p), offset, x, -1)
			b.add(b.row(z), offset, x, +1)
			b.Dirty[x] = struct{}{}
		}
		b.add(b.row(p), offset, HistField(n-1), -1)
		b.add(b.row(z), offset, HistField(n-1), +1)
		b.add(buyers, offset, p, -1)
		b.add(buyers, offset, z, +1)
		b.Dirty[p] = struct{}{}
	}
	b.Dirty[z] = struct{}{}
	h.Touch(z, capacity)
}
