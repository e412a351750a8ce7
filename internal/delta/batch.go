package delta

import (
	"slices"
	"sync"
	"time"

	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// KeyKind says which Redis hash a change goes to.
type KeyKind uint8

const (
	// RowKey is item X's purchase row: field Y holds N_XY, field
	// schema.HistField(b) holds h_X's bin b (Batch.Bins), and the fields
	// schema.FieldItemPurchases and schema.GapField(b) X's own purchase
	// statistics (Purchase).
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

// family names the three kinds of hash a history's counters live in, and
// which side of the viewed-then-bought counters M_XY its entries are: the
// X (views) or the Y (purchases).
type family struct {
	row, buyers, totals KeyKind
	views               bool
}

var (
	purchaseFamily = family{RowKey, BuyersKey, TotalsKey, false}
	viewFamily     = family{ViewRowKey, ViewersKey, ViewTotalsKey, true}
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

// Sums returns the changes of every group summed per field, in the order
// the fields first appear, without the fields whose changes cancel: what
// the key takes when its fence admits all of the groups, which is what a
// batch meets unless a replay cut it differently (the store then writes the
// groups instead). A batch of baskets moves a held item's histogram bin up
// once per purchase, and its pair counters gain one per basket item, so the
// sums are far fewer than the changes on dense histories.
func (o *Ops) Sums() (fields []string, deltas []int64) {
	fields, deltas = make([]string, 0, len(o.Fields)), make([]int64, 0, len(o.Fields))
	// Most keys of a batch hold a few changes: finding a field among them
	// by scanning costs less than building a map (a third of the time of
	// the sums at a paced Dunnhumby batch, BenchmarkOpsSumsDunnhumby). A
	// key with more takes a map from sumsMaps: a full batch's rows hold
	// hundreds of changes, and scanning them is quadratic.
	var at map[string]int
	if len(o.Fields) > sumsScanLimit {
		at = sumsMaps.Get().(map[string]int)
		defer func() { clear(at); sumsMaps.Put(at) }()
	}
	for i, f := range o.Fields {
		j := -1
		if at == nil {
			j = slices.Index(fields, f)
		} else if k, ok := at[f]; ok {
			j = k
		}
		if j >= 0 {
			deltas[j] += o.Deltas[i]
			continue
		}
		if at != nil {
			at[f] = len(fields)
		}
		fields = append(fields, f)
		deltas = append(deltas, o.Deltas[i])
	}
	keep := 0
	for j, f := range fields {
		if deltas[j] != 0 {
			fields[keep], deltas[keep] = f, deltas[j]
			keep++
		}
	}
	return fields[:keep], deltas[:keep]
}

// sumsScanLimit is the most changes of a key Sums sums by scanning: with
// a map above 32 changes instead of above 256, the sums took about half
// the time on a paced Dunnhumby batch and a quarter less on a full one
// (BenchmarkOpsSumsDunnhumby).
const sumsScanLimit = 32

// sumsMaps holds the maps Sums finds fields with on keys of many changes,
// so that a batch does not build one per such key.
var sumsMaps = sync.Pool{New: func() any { return map[string]int{} }}

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
	// Bins groups the histograms' customers (scoring.Bins): it must be the
	// binning the state was built with. The zero value is DefaultBins.
	Bins scoring.Bins
	// MinSupport is the lists' min support. Above 0, the store marks a
	// dirty row only when its changes can move its list: a change to a
	// histogram bin or to M_X, or to a candidate at or above MinSupport
	// before or after (docs/DESIGN.md §4, "What marks a list"). 0 marks
	// every dirty row.
	MinSupport int64

	slab opsSlab // the keys' Ops and the first room of their slices
}

// NewBatch returns an empty batch for a partition, with the default histogram
// bins: set Bins to the state's binning before adding events.
func NewBatch(partition int) *Batch {
	return &Batch{Partition: partition, Ops: make(map[Key]*Ops), Dirty: make(map[Key]struct{})}
}

// histField returns the histogram field that counts a customer with n
// other items.
func (b *Batch) histField(n int) string { return schema.HistField(int(b.Bins.Of(int64(n)))) }

func (b *Batch) add(k Key, offset int64, field string, d int64) {
	b.ops(k).add(offset, field, d)
	b.Changes++
}

// ops returns the changes to key k, made when k has none yet: a caller
// with several changes to one key looks it up once.
func (b *Batch) ops(k Key) *Ops {
	o := b.Ops[k]
	if o == nil {
		o = b.slab.next()
		b.Ops[k] = o
	}
	return o
}

// opsSlab hands out a batch's Ops, each with room for a few groups and
// changes, from blocks shared by many keys: most keys of a batch take a
// few changes, and growing their four slices from nothing was most of a
// batch's allocations (BenchmarkBatchSynthetic, BenchmarkBatchDunnhumby).
// A key that takes more grows its own slices past its room, as append
// does; the full slice expressions keep it from writing into its
// neighbours' room.
type opsSlab struct {
	ops     []Ops
	offsets []int64
	counts  []int
	fields  []string
	deltas  []int64
}

const (
	slabKeys    = 256 // Ops per block
	groupsRoom  = 2   // groups each Ops has room for
	changesRoom = 4   // changes each Ops has room for
)

func (s *opsSlab) next() *Ops {
	if len(s.ops) == 0 {
		s.ops = make([]Ops, slabKeys)
		s.offsets, s.counts = make([]int64, slabKeys*groupsRoom), make([]int, slabKeys*groupsRoom)
		s.fields, s.deltas = make([]string, slabKeys*changesRoom), make([]int64, slabKeys*changesRoom)
	}
	o := &s.ops[0]
	s.ops = s.ops[1:]
	o.Offsets, s.offsets = s.offsets[:0:groupsRoom], s.offsets[groupsRoom:]
	o.Counts, s.counts = s.counts[:0:groupsRoom], s.counts[groupsRoom:]
	o.Fields, s.fields = s.fields[:0:changesRoom], s.fields[changesRoom:]
	o.Deltas, s.deltas = s.deltas[:0:changesRoom], s.deltas[changesRoom:]
	return o
}

// Retention says what a customer's histories retain (docs/DESIGN.md
// sections 4 and 10).
type Retention struct {
	Purchases int // K_hist: distinct purchased items
	Views     int // K_view: distinct viewed items
	// MaxAge: an event at time t holds only entries of time t − MaxAge or
	// later; the others leave both histories before it is applied. 0 turns
	// ageing off.
	MaxAge time.Duration
}

// Purchase applies the purchase of item z at time at and offset to the
// customer's purchase history h and view history v, and records the
// counter changes of docs/DESIGN.md section 4: first the entries of h and v
// that the event no longer holds leave, retracting what they contributed
// (section 10); then the purchase is counted (a repeat when z is still in
// h) in the purchase totals, and when z enters h, every other item of v
// gains a viewed-then-bought count: M_Xz and M_X (every entry of v entered
// before z). A purchase does not enter v. The item a full h evicts for z
// joins h's ever-bought set (History.Ever, section 12).
//
// z's own purchase statistics (docs/DESIGN.md section 12) go to its
// purchase row: P_z gains 1, and a repeat adds 1 to the gap bucket of the
// time since the entry's time (schema.GapBucket). They do not change z's
// list, so they mark nothing dirty, and they join the row's other changes
// of the batch in the same fenced write.
func (b *Batch) Purchase(h, v *History, z string, at time.Time, offset int64, r Retention) {
	b.age(h, v, at, offset, r.MaxAge)
	totals, row := Key{Kind: TotalsKey}, Key{Kind: RowKey, Item: z}
	b.add(totals, offset, schema.FieldPurchases, +1)
	b.add(row, offset, schema.FieldItemPurchases, +1)
	if i := h.Index(z); i >= 0 {
		h.fill()
		gap := at.UnixMilli() - h.Times[i]
		gapField := schema.GapField(schema.GapBucket(time.Duration(max(gap, 0)) * time.Millisecond))
		b.add(totals, offset, schema.FieldRepeats, +1)
		b.add(totals, offset, gapField, +1)
		b.add(row, offset, gapField, +1)
	} else {
		for _, x := range v.Items {
			if x != z {
				b.viewedBought(x, z, offset, +1)
			}
		}
	}
	b.touch(purchaseFamily, h, v, z, at, offset, r.Purchases)
}

// View applies the view of item z at time at and offset: the aged entries
// of h and v leave as for a purchase, then z enters the view history v by
// the same rules as purchases. A new view pairs with no purchase in M:
// every entry of h entered before it.
func (b *Batch) View(h, v *History, z string, at time.Time, offset int64, r Retention) {
	b.age(h, v, at, offset, r.MaxAge)
	b.touch(viewFamily, v, h, z, at, offset, r.Views)
}

// viewedBought records a change d of M_xy and M_x and marks x's
// viewed-then-bought row dirty.
func (b *Batch) viewedBought(x, y string, offset, d int64) {
	k := Key{Kind: ViewedBoughtKey, Item: x}
	b.add(k, offset, y, d)
	b.add(k, offset, schema.FieldViewedTotal, d)
	b.Dirty[k] = struct{}{}
}

// unpair records what entry i of history h (of family f) takes out of the
// viewed-then-bought counters when it leaves, other being the customer's
// other history (docs/DESIGN.md section 3): M_XY counts the customers whose
// view history holds X and purchase history holds Y, X having entered
// before Y (a lower sequence number), X ≠ Y. A leaving view X gives back
// M_XY and M_X for each Y of other entered after it; a leaving purchase Y
// gives back M_XY and M_X for each X of other entered before it.
func (b *Batch) unpair(f family, h *History, i int, other *History, offset int64) {
	h.fill()
	other.fill()
	q, seq := h.Items[i], h.Seqs[i]
	if !f.views {
		for j, x := range other.Items {
			if x != q && other.Seqs[j] < seq {
				b.viewedBought(x, q, offset, -1)
			}
		}
		return
	}
	k := Key{Kind: ViewedBoughtKey, Item: q}
	var n int64
	for j, y := range other.Items {
		if y != q && other.Seqs[j] > seq {
			b.add(k, offset, y, -1)
			n++
		}
	}
	if n > 0 {
		b.add(k, offset, schema.FieldViewedTotal, -n) // M_q once, not per pair
		b.Dirty[k] = struct{}{}
	}
}

// age removes the entries of h and v that an event at time at no longer
// holds (docs/DESIGN.md section 10), retracting their counters. The
// purchases leave first, so a pair of M whose view and purchase both leave
// is given back once, with the purchase. The ever-bought set is
// forgotten with them (ForgetEver).
func (b *Batch) age(h, v *History, at time.Time, offset int64, maxAge time.Duration) {
	if maxAge <= 0 {
		return
	}
	b.retract(purchaseFamily, h, v, h.Aged(at, maxAge), offset)
	b.retract(viewFamily, v, h, v.Aged(at, maxAge), offset)
	ForgetEver(h, at.UnixMilli()-maxAge.Milliseconds())
}

// ForgetEver empties the ever-bought set of a customer's purchase history
// h when an age cut (unix ms) has reached all of it (its newest item time
// is before cut: had its items stayed in h, they would have aged out too),
// or when h itself is left empty (the set extends the retained purchases
// and never outlives them, so a deleted customer takes it along).
// docs/DESIGN.md section 12; the oracle follows the same rule.
func ForgetEver(h *History, cut int64) {
	if h.Ever.Expired(cut) || len(h.Items) == 0 {
		h.Ever.Reset()
	}
}

// Sweep removes from a customer's histories the entries older than cut
// (unix ms), retracting their counters: the ageing sweep of docs/DESIGN.md
// section 10, for a customer with no new event. offset is the sweep's
// fence value. As in age, the purchases leave first, so a
// viewed-then-bought pair whose view and purchase both leave is given back
// once, with the purchase. The ever-bought set is forgotten by the same
// rule as in an event's ageing (ForgetEver).
func (b *Batch) Sweep(h, v *History, cut int64, offset int64) {
	b.retract(purchaseFamily, h, v, h.Before(cut), offset)
	b.retract(viewFamily, v, h, v.Before(cut), offset)
	ForgetEver(h, cut)
}

// Erase removes every entry of a customer's histories, retracting all
// that they contributed, viewed-then-bought pairs included (taken back
// with the purchases, as in Sweep): erasure on request (docs/DESIGN.md
// section 10). The ever-bought set goes with them.
func (b *Batch) Erase(h, v *History, offset int64) {
	b.retract(purchaseFamily, h, v, every(len(h.Items)), offset)
	b.retract(viewFamily, v, h, every(len(v.Items)), offset)
	h.Ever.Reset()
}

// every returns the indexes 0 to n − 1.
func every(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// retract removes the entries at the ascending indexes gone from history h
// and records the changes that undo what they contributed, the inverse of
// touch: for a history of n items keeping m, N_QX and N_XQ − 1 for every
// removed Q and every other X of h; each kept X moves in h_X from n − 1 to
// m − 1; h_Q[n − 1] − 1 and B_Q − 1 for each removed Q; T − (n − m); C − 1
// when nothing is kept; and each removed Q's viewed-then-bought pairs with
// the customer's other history (unpair).
func (b *Batch) retract(f family, h, other *History, gone []int, offset int64) {
	if len(gone) == 0 {
		return
	}
	for _, i := range gone {
		b.unpair(f, h, i, other, offset)
	}
	row := func(item string) Key { return Key{Kind: f.row, Item: item} }
	buyers, totals := Key{Kind: f.buyers}, Key{Kind: f.totals}
	n, m := len(h.Items), len(h.Items)-len(gone)
	from, to := b.histField(n-1), b.histField(m-1)
	removed := make(map[string]bool, len(gone))
	for _, i := range gone {
		removed[h.Items[i]] = true
	}
	for _, x := range h.Items {
		if removed[x] {
			for _, y := range h.Items {
				if y != x {
					b.add(row(x), offset, y, -1)
				}
			}
			b.add(row(x), offset, from, -1)
			b.add(buyers, offset, x, -1)
		} else {
			for _, q := range h.Items {
				if removed[q] {
					b.add(row(x), offset, q, -1)
				}
			}
			if from != to {
				b.add(row(x), offset, from, -1)
				b.add(row(x), offset, to, +1)
			}
		}
		b.Dirty[row(x)] = struct{}{}
	}
	b.add(totals, offset, schema.FieldTotal, -int64(n-m))
	if m == 0 {
		b.add(totals, offset, schema.FieldCustomers, -1)
	}
	h.Remove(gone)
}

// touch records the counter changes of z entering history h at time at,
// whose counters live in the hashes of family f (docs/DESIGN.md section 4);
// other is the customer's other history, which gives the entry sequence
// number and the viewed-then-bought pairs an evicted entry takes back.
func (b *Batch) touch(f family, h, other *History, z string, at time.Time, offset int64, capacity int) {
	t := at.UnixMilli()
	if h.Contains(z) {
		h.Touch(z, t, 0, capacity) // recency and time only: no counter moves, the entry keeps its seq
		return
	}
	seq := NextSeq(h, other)
	row := func(item string) Key { return Key{Kind: f.row, Item: item} }
	n := len(h.Items)
	buyers, totals := Key{Kind: f.buyers}, Key{Kind: f.totals}
	if n < capacity {
		// Each held item's customer moves from bin n − 1 to bin n, which
		// with log bins is most often the same bin: no move then.
		from, to := b.histField(n-1), b.histField(n)
		moves := from != to
		zs := b.ops(row(z))
		for _, x := range h.Items {
			xs := b.ops(row(x)) // one lookup for x's changes
			xs.add(offset, z, +1)
			if moves {
				xs.add(offset, from, -1)
				xs.add(offset, to, +1)
				b.Changes += 2
			}
			zs.add(offset, x, +1)
			b.Changes += 2
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
		ps, zs := b.ops(row(p)), b.ops(row(z))
		for _, x := range h.Items[1:] {
			xs := b.ops(row(x))
			xs.add(offset, p, -1)
			xs.add(offset, z, +1)
			ps.add(offset, x, -1)
			zs.add(offset, x, +1)
			b.Changes += 4
			b.Dirty[row(x)] = struct{}{}
		}
		b.add(row(p), offset, b.histField(n-1), -1)
		b.add(row(z), offset, b.histField(n-1), +1)
		b.add(buyers, offset, p, -1)
		b.add(buyers, offset, z, +1)
		b.Dirty[row(p)] = struct{}{}
		b.unpair(f, h, 0, other, offset)
		if !f.views {
			h.Ever.Add(p, h.Times[0]) // unpair filled the times
		}
	}
	b.Dirty[row(z)] = struct{}{}
	h.Touch(z, t, seq, capacity)
}
