package eval

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// StreamTrainer trains as the stream does, in this process: one pass over
// the events, each window's new events applied to the state left by the
// previous window through the consumer's own change code (delta.Batch:
// histories, ageing, counters, popularity buckets), the resulting Ops
// added to an in-memory copy of the Redis hashes (key -> field -> value,
// see add), and at each cutoff the ageing sweep at the watermark, through
// the consumer's delta.Batch.Sweep.
//
// Lists are not kept between cutoffs: a list's scores move with the
// totals and with every candidate's B_Y, not only with its own row, so a
// list cached across a cutoff would differ from a fresh one (the reason
// `-via-kafka` re-scores every list at each cutoff, docs/guarantees.md
// "Not promised"). Each window computes a list when a method first reads
// it, from the hashes as they stand at the cutoff, as the re-scorer would
// from Redis. The popularity lists are summed from the day buckets of the
// window, as the re-scorer sums them.
//
// The result is the oracle's (TestStreamTrainerMatchesOracle): with
// events in time order, every entry an earlier sweep removed would have
// been aged by the customer's next event anyway (oracle.Build).
//
// A model is valid until the next call to Train, which advances the
// state it reads. Train must be given growing prefixes of one slice.
type StreamTrainer struct {
	Settings oracle.Settings
	Rules    scoring.ListRules

	applied   int    // events of the slice applied so far
	lastID    string // the id of the last applied event, to catch a different slice
	hashes    map[delta.Key]map[string]int64
	customers map[string]*streamCustomer
	purchases *PurchaseCounts
	anchor    time.Time // the latest event time applied: the popularity anchor and the watermark
}

// streamCustomer is a customer's state as the consumer keeps it.
type streamCustomer struct {
	purchases, views delta.History
	recent           delta.Recent
}

// streamChunk is how many events one delta.Batch holds before its Ops are
// added to the hashes: a batch keeps every event's Ops apart (the
// per-key fence needs them), so a window in one batch would hold them all.
const streamChunk = 512

// Train applies the events not applied yet and returns the model of the
// state at the end of them.
func (t *StreamTrainer) Train(_ context.Context, before []event.Event) (Model, error) {
	if t.hashes == nil {
		t.hashes = map[delta.Key]map[string]int64{}
		t.customers = map[string]*streamCustomer{}
		t.purchases = NewPurchaseCounts(t.Settings.Dedup)
	}
	if len(before) < t.applied || (t.applied > 0 && before[t.applied-1].ID != t.lastID) {
		return nil, fmt.Errorf("the stream trainer was given %d events that do not extend the %d it applied", len(before), t.applied)
	}
	r := delta.Retention{Purchases: t.Settings.HistorySize, Views: t.Settings.ViewHistorySize, MaxAge: t.Settings.HistoryMaxAge}
	for start := t.applied; start < len(before); start += streamChunk {
		b := delta.NewBatch(0)
		b.Bins = t.Settings.Bins
		for i, e := range before[start:min(start+streamChunk, len(before))] {
			t.apply(b, e, int64(start+i), r)
		}
		t.add(b)
	}
	t.applied = len(before)
	if t.applied > 0 {
		t.lastID = before[t.applied-1].ID
	}
	t.sweep()
	return t.model(), nil
}

// apply is consumer/apply.go's loop for one event: the duplicate check,
// the popularity count, then the history change.
func (t *StreamTrainer) apply(b *delta.Batch, e event.Event, offset int64, r delta.Retention) {
	c := t.customers[e.CustomerID]
	if c == nil {
		c = &streamCustomer{}
		t.customers[e.CustomerID] = c
	}
	if t.Settings.Dedup.Window > 0 && c.recent.Seen(e.ID) {
		return
	}
	c.recent.Add(e.ID, e.Time, t.Settings.Dedup)
	t.purchases.count(e)
	b.Count(e.Type == event.Purchase, e.ItemID, e.Category, e.Time, offset)
	switch e.Type {
	case event.Purchase:
		b.Purchase(&c.purchases, &c.views, e.ItemID, e.Time, offset, r)
	case event.View:
		if r.Views > 0 { // the oracle's "purchases only"
			b.View(&c.purchases, &c.views, e.ItemID, e.Time, offset, r)
		}
	}
	if e.Time.After(t.anchor) {
		t.anchor = e.Time
	}
}

// add adds a batch's Ops to the hashes, as the apply script's HINCRBY
// does. A field that reaches zero stays, where the script deletes it
// (HDEL): every reader here skips zero fields, so the values read are
// the same, and one map access per change instead of two keeps the pass
// cheap.
func (t *StreamTrainer) add(b *delta.Batch) {
	for k, o := range b.Ops {
		h := t.hashes[k]
		if h == nil {
			h = map[string]int64{}
			t.hashes[k] = h
		}
		for i, f := range o.Fields {
			h[f] += o.Deltas[i]
		}
	}
}

// sweep is the ageing sweep at the watermark (docs/DESIGN.md section 10):
// every partition has applied everything, so the watermark is the latest
// event time. Customers left with nothing are gone (their duplicate
// window stays, as in the oracle).
func (t *StreamTrainer) sweep() {
	if t.Settings.HistoryMaxAge <= 0 {
		return
	}
	cut := t.anchor.UnixMilli() - t.Settings.HistoryMaxAge.Milliseconds() - t.Settings.AllowedLateness.Milliseconds()
	b := delta.NewBatch(0)
	b.Bins = t.Settings.Bins
	for _, c := range t.customers {
		b.Sweep(&c.purchases, &c.views, cut, int64(t.applied))
	}
	t.add(b)
}

// model returns the state at the cutoff as a Model.
func (t *StreamTrainer) model() *streamModel {
	m := &streamModel{t: t, lists: map[listKey][]scoring.Related{}, rows: map[listKey]scoring.Row{}, viewedTotal: map[string]int64{},
		popular: map[store.ListKind]store.PopularList{}}
	for kind, bucket := range map[store.ListKind]delta.KeyKind{store.Bought: delta.PopularBoughtKey, store.Viewed: delta.PopularViewedKey} {
		counts := store.NewPopularCounts(t.anchor)
		for _, day := range store.WindowDays(t.anchor) {
			counts.AddBucket(t.hashes[delta.Key{Kind: bucket, Item: day}])
		}
		m.popular[kind] = counts.Lists(kind, time.Time{}, nil)[0] // the overall list comes first
	}
	return m
}

// streamModel reads a StreamTrainer's state at a cutoff.
type streamModel struct {
	t           *StreamTrainer
	lists       map[listKey][]scoring.Related
	rows        map[listKey]scoring.Row // method unset
	viewedTotal map[string]int64        // M_X of the viewed-then-bought rows read
	popular     map[store.ListKind]store.PopularList
}

func (m *streamModel) History(c string) (bought, viewed []string) {
	if s := m.t.customers[c]; s != nil {
		return s.purchases.Items, s.views.Items
	}
	return nil, nil
}

func (m *streamModel) EverBought(c string) delta.Ever {
	if s := m.t.customers[c]; s != nil {
		return s.purchases.Ever
	}
	return delta.Ever{}
}

func (m *streamModel) Purchases(c string) delta.History {
	if s := m.t.customers[c]; s != nil {
		return s.purchases
	}
	return delta.History{}
}

// Rebuy reads the item's purchase statistics from its purchase row, as
// the store does.
func (m *streamModel) Rebuy(item string) store.Rebuy {
	h := m.t.hashes[delta.Key{Kind: delta.RowKey, Item: item}]
	r := store.Rebuy{Purchases: h[schema.FieldItemPurchases]}
	for b := range r.Gaps {
		r.Gaps[b] = h[schema.GapField(b)]
	}
	return r
}

func (m *streamModel) PurchaseCounts(c string) map[string]int64 { return m.t.purchases.Of(c) }

func (m *streamModel) Popular(kind store.ListKind) store.PopularList { return m.popular[kind] }

func (m *streamModel) Repeats() store.Repeats {
	h := m.t.hashes[delta.Key{Kind: delta.TotalsKey}]
	r := store.Repeats{Purchases: h[schema.FieldPurchases], Repeats: h[schema.FieldRepeats]}
	for b := range r.Gaps {
		r.Gaps[b] = h[schema.GapField(b)]
	}
	return r
}

// rowKinds are the hashes a list kind's row, buyers and totals live in.
var rowKinds = map[store.ListKind][3]delta.KeyKind{
	store.Bought:       {delta.RowKey, delta.BuyersKey, delta.TotalsKey},
	store.Viewed:       {delta.ViewRowKey, delta.ViewersKey, delta.ViewTotalsKey},
	store.ViewedBought: {delta.ViewedBoughtKey, delta.BuyersKey, delta.TotalsKey},
}

// List computes item's list from the hashes at the cutoff, as the
// re-scorer computes it from Redis: the row parsed as store.ParseRow
// parses it, the candidates' B_Y from the buyers hash, and the totals.
func (m *streamModel) List(kind store.ListKind, method scoring.Method, item string) []scoring.Related {
	if kind == store.ViewedBought {
		method = scoring.ViewedThenBoughtMethod
	}
	k := listKey{kind, method, item}
	if l, ok := m.lists[k]; ok {
		return l
	}
	keys := rowKinds[kind]
	row, mX := m.row(kind, item)
	totals := m.t.hashes[delta.Key{Kind: keys[2]}]
	g := scoring.Globals{Total: totals[schema.FieldTotal], Customers: totals[schema.FieldCustomers]}
	var l []scoring.Related
	if kind == store.ViewedBought {
		l, _ = scoring.ViewedBoughtListVisible(row, mX, g, m.t.Rules, nil)
	} else {
		l, _ = scoring.RelatedListVisible(method, row, g, m.t.Rules, nil)
	}
	m.lists[k] = l
	return l
}

// row returns item's row of a kind and, for viewed-then-bought rows, M_X,
// parsed once per cutoff for every method.
func (m *streamModel) row(kind store.ListKind, item string) (scoring.Row, int64) {
	k := listKey{kind: kind, item: item}
	if r, ok := m.rows[k]; ok {
		return r, m.viewedTotal[item]
	}
	keys := rowKinds[kind]
	r, mX := rowOf(item, m.t.hashes[delta.Key{Kind: keys[0], Item: item}], m.t.hashes[delta.Key{Kind: keys[1]}])
	m.rows[k] = r
	if kind == store.ViewedBought {
		m.viewedTotal[item] = mX
	}
	return r, mX
}

// rowOf reads an in-memory row hash as scoring needs it, splitting its
// fields as store.ParseRow splits a stored row: the histogram, M_X, and
// the candidates with their B_Y from buyers. Zero fields are absent
// fields (add), and a field with '|' other than those two is no co-count
// (item ids hold none), so counters added to the rows later stay out of
// the candidates, as they stay out of the oracle's. TestRowOfParsesAsTheStore
// keeps the two in step on rows the change code wrote. (Asking ParseRow
// itself, once per field name, costs a third of the run.)
func rowOf(item string, fields, buyers map[string]int64) (scoring.Row, int64) {
	row := scoring.Row{Item: item, Buyers: buyers[item], Candidates: make([]scoring.Candidate, 0, len(fields))}
	var mX int64
	for f, n := range fields {
		switch others, hist, err := schema.ParseHistField(f); {
		case n == 0:
		case f == schema.FieldViewedTotal:
			mX = n
		case hist && err == nil:
			row.Hist = append(row.Hist, scoring.HistBin{Others: others, Customers: n})
		case strings.Contains(f, "|"):
			// No item id holds '|' (store/schema): another counter of the
			// row, such as a per-item repeat statistic, not a co-count.
		default:
			row.Candidates = append(row.Candidates, scoring.Candidate{Item: f, Support: n, Buyers: buyers[f]})
		}
	}
	return row, mX
}
