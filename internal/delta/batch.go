package delta

import (
	"time"

	"github.com/alsobought/alsobought/store/schema"
)

// KeyKind says which Redis hash a change goes to.
type KeyKind uint8

const (
	// RowKey is item X's purchase row: field Y holds N_XY, field
	// schema.HistField(n) holds h_X[n].
	RowKey KeyKind = iota
	// BuyersKey is the global hash of B: field X holds B_X.
	BuyersKey
	// TotalsKey is the global hash of the purchase totals (schema.FieldTotal
	// and the others).
	TotalsKey
	// ViewRowKey is item X's view row: the same counters as RowKey over the
	// view histories V_c (co-viewers, view histogram).
	ViewRowKey
	// ViewersKey is the global hash of viewers: field X holds the customers
	// with X in V_c.
	ViewersKey
	// ViewTotalsKey holds T and C of the view histories.
	ViewTotalsKey
	// ViewedBoughtKey is item X's viewed-then-bought row: field Y holds
	// M_XY, field schema.FieldViewedTotal holds M_X.
	ViewedBoughtKey
	// PopularBoughtKey and PopularViewedKey are a day's popularity bucket
	// (Key.Item is the day, see Count).
	PopularBoughtKey
	PopularViewedKey
)

// family names the three kinds of hash a history's counters live in.
type family struct{ row, buyers, totals KeyKind }

var (
	purchaseFamily = family{RowKey, BuyersKey, TotalsKey}
	viewFamily     = family{ViewRowKey, ViewersKey, ViewTotalsKey}
)

// Key identifies one Redis hash; Item is empty for the global hashes.
type Key struct {
	Kind KeyKind
	Item string
}

// Ops is the list of changes to one key, grouped by the offset of the event
// that caused them, in offset order. The groups are kept apart (not summed
// per field) because the per-key fence applies exactly the groups above the
// key's watermark; summing would break it when a replay cuts batches
// differently (docs/DESIGN.md section 5.1).
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
	// Dirty holds the rows (RowKey, ViewRowKey or ViewedBoughtKey) whose
	// changes call for their item's list of that kind to be re-scored.
	Dirty   map[Key]struct{}
	Changes int // field changes, for metrics and benchmarks
	// Latest is the latest event time counted (Count): the popularity
	// anchor moves to it.
	Latest time.Time
	// Categories maps the items of events that carried a category to the
	// last one seen, for category filters.
	Categories map[string]string
	// FirstRecord is the earliest Kafka record timestamp of the batch's
	// events: the dirty marks carry it, so freshness is measured from the
	// record to the re-scored list.
	FirstRecord time.Time
}

// NewBatch returns an empty batch for a partition.
func NewBatch(partition int) *Batch {
	return &Batch{Partition: partition, Ops: make(map[Key]*Ops), Dirty: make(map[Key]struct{})}
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

// Purchase applies the purchase of item z at offset to history h (a
// history of at most capacity items) and records the counter changes of
// docs/DESIGN.md section 4, and counts it (a repeat when z is already in h) in
// the purchase totals. When z enters h, every other item of the view
// history v gains a viewed-then-bought count: M_Xz and M_X. v is not
// changed: a purchase does not enter the view history.
func (b *Batch) Purchase(h *History, v *History, z string, offset int64, capacity int) {
	totals := Key{Kind: TotalsKey}
	b.add(totals, offset, schema.FieldPurchases, +1)
	if h.Contains(z) {
		b.add(totals, offset, schema.FieldRepeats, +1)
	} else {
		for _, x := range v.Items {
			if x == z {
				continue
			}
			k := Key{Kind: ViewedBoughtKey, Item: x}
			b.add(k, offset, z, +1)
			b.add(k, offset, schema.FieldViewedTotal, +1)
			b.Dirty[k] = struct{}{}
		}
	}
	b.touch(purchaseFamily, h, z, offset, capacity)
}

// View applies the view of item z at offset to view history v (at most
// capacity items) and records the co-view changes, by the same rules as
// purchases.
func (b *Batch) View(v *History, z string, offset int64, capacity int) {
	b.touch(viewFamily, v, z, offset, capacity)
}

// touch records the counter changes of z entering history h, whose counters
// live in the hashes of family f (docs/DESIGN.md section 4).
func (b *Batch) touch(f family, h *History, z string, offset int64, capacity int) {
	if h.Contains(z) {
		h.Touch(z, capacity) // recency only: no counter moves
		return
	}
	row := func(item string) Key { return Key{Kind: f.row, Item: item} }
	n := len(h.Items)
	buyers, totals := Key{Kind: f.buyers}, Key{Kind: f.totals}
	if n < capacity {
		from, to := schema.HistField(n-1), schema.HistField(n)
		for _, x := range h.Items {
			b.add(row(x), offset, z, +1)
			b.add(row(x), offset, from, -1)
			b.add(row(x), offset, to, +1)
			b.add(row(z), offset, x, +1)
			b.Dirty[row(x)] = struct{}{}
		}
		b.add(row(z), offset, to, +1)
		b.add(buyers, offset, z, +1)
		b.add(totals, offset, schema.FieldTotal, +1)
		if n == 0 {
			b.add(totals, offset, schema.FieldCustomers, +1)
		}
	} else {
		p := h.Items[0]
		for _, x := range h.Items[1:] {
			b.add(row(x), offset, p, -1)
			b.add(row(x), offset, z, +1)
			b.add(row(p), offset, x, -1)
			b.add(row(z), offset, x, +1)
			b.Dirty[row(x)] = struct{}{}
		}
		b.add(row(p), offset, schema.HistField(n-1), -1)
		b.add(row(z), offset, schema.HistField(n-1), +1)
		b.add(buyers, offset, p, -1)
		b.add(buyers, offset, z, +1)
		b.Dirty[row(p)] = struct{}{}
	}
	b.Dirty[row(z)] = struct{}{}
	h.Touch(z, capacity)
}
