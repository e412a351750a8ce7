package delta_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/lab/verify"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// memState applies batches to in-memory hashes with the same fence rule
// as the Redis script: a key applies a group only when its offset is above
// the key's watermark for the partition. Customers hold a watermark too.
type memState struct {
	hashes    map[delta.Key]map[string]int64
	watermark map[delta.Key]int64 // one partition here
	swept     map[delta.Key]int64 // the sweep fence
	bins      scoring.Bins
	customers map[string]*customer
	// mTaken counts the applied decreases of M_XY: viewed-then-bought
	// pairs taken back by evictions or ageing.
	mTaken int
}

type customer struct {
	h, v  delta.History
	wm    int64
	swept int64 // the last sweep applied
}

func newMemState(bins scoring.Bins) *memState {
	return &memState{hashes: map[delta.Key]map[string]int64{}, watermark: map[delta.Key]int64{},
		swept: map[delta.Key]int64{}, customers: map[string]*customer{}, bins: bins}
}

// applyOps applies a batch's groups above each key's watermark in fence.
func (m *memState) applyOps(b *delta.Batch, fence map[delta.Key]int64) {
	for k, ops := range b.Ops {
		h := m.hashes[k]
		if h == nil {
			h = map[string]int64{}
			m.hashes[k] = h
		}
		wm, ok := fence[k]
		if !ok {
			wm = -1
		}
		top := wm
		f := 0
		for g, off := range ops.Offsets {
			for j := 0; j < ops.Counts[g]; j++ {
				if off > wm {
					if k.Kind == delta.ViewedBoughtKey && ops.Fields[f] != schema.FieldViewedTotal && ops.Deltas[f] < 0 {
						m.mTaken++
					}
					h[ops.Fields[f]] += ops.Deltas[f]
					if h[ops.Fields[f]] == 0 {
						delete(h, ops.Fields[f])
					}
				}
				f++
			}
			top = max(top, off)
		}
		fence[k] = top
	}
}

// sweep runs the ageing sweep with sequence seq over every customer, the
// way the consumer does: customers the sweep reached already are skipped,
// the counter changes are fenced by the sweep fence, then (unless
// crashAfterOps) the customers are written.
func (m *memState) sweep(cut, seq int64, crashAfterOps bool) {
	b := delta.NewBatch(0)
	b.Bins = m.bins
	next := map[string]*customer{}
	for id, s := range m.customers {
		if s.swept >= seq {
			continue
		}
		c := &customer{h: s.h.Clone(), v: s.v.Clone(), wm: s.wm, swept: seq}
		b.Sweep(&c.h, &c.v, cut, seq)
		next[id] = c
	}
	m.applyOps(b, m.swept)
	if !crashAfterOps {
		maps.Copy(m.customers, next)
	}
}

// consume processes events[from:to] as one batch, the way the consumer
// does: read customers, skip events at or below their watermark, apply the
// counter changes, then (unless crashAfterOps) write the customers.
func (m *memState) consume(evs []event.Event, from, to int, r delta.Retention, crashAfterOps bool) {
	b := delta.NewBatch(0)
	b.Bins = m.bins
	next := map[string]*customer{}
	for off := from; off < to; off++ {
		e := evs[off]
		c := next[e.CustomerID]
		if c == nil {
			c = &customer{wm: -1}
			if s := m.customers[e.CustomerID]; s != nil {
				c = &customer{h: s.h.Clone(), v: s.v.Clone(), wm: s.wm, swept: s.swept}
			}
			next[e.CustomerID] = c
		}
		if int64(off) <= c.wm {
			continue
		}
		if e.Type == event.View {
			b.View(&c.h, &c.v, e.ItemID, e.Time, int64(off), r)
		} else {
			b.Purchase(&c.h, &c.v, e.ItemID, e.Time, int64(off), r)
		}
		c.wm = int64(off)
	}
	m.applyOps(b, m.watermark)
	if crashAfterOps {
		return
	}
	for id, c := range next {
		if s := m.customers[id]; s == nil || c.wm > s.wm {
			m.customers[id] = c
		}
	}
}

// snapshot returns the state in the store's shape, parsing each hash the
// way the store parses Redis hashes.
func (m *memState) snapshot(t *testing.T) *store.Snapshot {
	t.Helper()
	snap := store.NewSnapshot()
	for k, h := range m.hashes {
		fields := make(map[string]string, len(h))
		for f, v := range h {
			fields[f] = strconv.FormatInt(v, 10)
		}
		r, err := store.ParseRow(fields)
		if err != nil {
			t.Fatal(err)
		}
		if k.Kind == delta.RowKey && !r.Rebuy.IsZero() {
			snap.Rebuy[k.Item] = r.Rebuy
		}
		totals := store.Counters{}.Totals
		totals.Total, totals.Customers = h[schema.FieldTotal], h[schema.FieldCustomers]
		switch k.Kind {
		case delta.RowKey, delta.ViewRowKey:
			c := &snap.Bought
			if k.Kind == delta.ViewRowKey {
				c = &snap.Viewed
			}
			if len(r.Co) > 0 {
				c.Co[k.Item] = r.Co
			}
			if len(r.Hist) > 0 {
				c.Hist[k.Item] = map[int64]int64{}
				for _, b := range r.Hist {
					c.Hist[k.Item][b.Others] = b.Customers
				}
			}
		case delta.ViewedBoughtKey:
			if len(r.Co) > 0 {
				snap.ViewedBought[k.Item] = r.Co
			}
			if r.ViewedTotal != 0 {
				snap.ViewedTotal[k.Item] = r.ViewedTotal
			}
		case delta.BuyersKey:
			snap.Bought.Buyers = r.Co
		case delta.ViewersKey:
			snap.Viewed.Buyers = r.Co
		case delta.TotalsKey:
			snap.Bought.Totals = totals
			snap.Repeats = store.Repeats{Purchases: h[schema.FieldPurchases], Repeats: h[schema.FieldRepeats]}
			for b := range snap.Repeats.Gaps {
				snap.Repeats.Gaps[b] = h[schema.GapField(b)]
			}
		case delta.ViewTotalsKey:
			snap.Viewed.Totals = totals
		}
	}
	for id, c := range m.customers {
		if len(c.h.Items) > 0 {
			h := c.h.Clone()
			var err error
			if h.Ever, err = delta.DecodeEver(c.h.Ever.Encode()); err != nil { // as stored
				t.Fatal(err)
			}
			snap.Histories[id] = h
		} else if c.h.Ever.Len() > 0 {
			t.Fatalf("customer %s has an ever-bought set and no purchase history", id)
		}
		if len(c.v.Items) > 0 {
			snap.ViewHistories[id] = c.v
		}
	}
	return snap
}

// randomStream returns n events, unit apart in time (with up to 10 units of
// disorder).
func randomStream(r *rand.Rand, n, customers, items int, unit time.Duration) []event.Event {
	evs := make([]event.Event, n)
	t0 := time.Unix(1_500_000_000, 0)
	for i := range evs {
		// Skewed items so some pairs repeat and some items are best-sellers;
		// mostly views, as in shops.
		it := int(float64(items) * r.Float64() * r.Float64())
		typ := event.View
		if r.IntN(3) == 0 {
			typ = event.Purchase
		}
		// Times mostly rise, a second apart, but up to 20 s out of order,
		// as events from several producers do.
		jitter := time.Duration(r.IntN(21)-10) * unit
		evs[i] = event.Event{ID: strconv.Itoa(i), Type: typ,
			CustomerID: "c" + strconv.Itoa(r.IntN(customers)), ItemID: "i" + strconv.Itoa(it),
			Time: t0.Add(time.Duration(i)*unit + jitter)}
	}
	return evs
}

// TestIncrementalEqualsBatch: for random streams of views and purchases,
// batch cuts, crashes after the counter step, and replays of already-applied
// ranges, the incremental counters (purchase, view and viewed-then-bought)
// and histories (items, entry times and entry sequence numbers) equal the
// oracle's, which derives every counter, M included, from the final
// histories. Three kinds of run, so that each way an entry leaves is
// checked alone and together: K evictions without ageing (small K, age
// off), ageing without evictions (K larger than any history, age on), and
// both (docs/DESIGN.md section 10). The ages on are short against a
// customer's gaps between events (the stream spans minutes, event times a
// second apart and up to 10 s out of order), so that most entries age out,
// some while the customer is mid-batch, some with times out of order. With
// ageing, sweeps run between batches at the watermark so far (one
// partition: its newest event time), some crashing after their counter
// step and finished again, and a last one at the final watermark; the
// allowed lateness covers the times' disorder, so no event is late. Each
// kind must take viewed-then-bought pairs back somewhere, so that the
// equality covers M's retraction and not only its growth. One run in three
// spaces its events hours instead of seconds apart (ages and lateness
// scaled alike), so that repeat purchases fill every gap bucket of the
// items' purchase statistics, which must equal the oracle's exactly (no
// item is forgotten here), as must the entries' counts. Both histogram
// binnings run (one run in five exact), and one run in three has long
// histories, so that log bins' edges are crossed growing, shrinking and
// evicting.
func TestIncrementalEqualsBatch(t *testing.T) {
	mTaken := map[string]int{}
	everSets := map[string]int{} // final non-empty ever-bought sets
	var gaps [schema.GapBuckets]int64
	groupedBins := 0 // log-binned runs whose histograms group several n in a bin
	for seed := uint64(1); seed <= 120; seed++ {
		r := rand.New(rand.NewPCG(seed, seed*7919))
		capacity, viewCapacity := 1+r.IntN(6), 1+r.IntN(6)
		unit := time.Second
		if seed%3 == 0 {
			unit = 12 * time.Hour
		}
		// One run in three has few customers over many items, so that
		// histories grow long (below, K is raised for them too).
		long := seed%3 == 1
		customers, items := 1+r.IntN(30), 2+r.IntN(40)
		if long {
			customers, items = 1+r.IntN(4), 20+r.IntN(40)
		}
		evs := randomStream(r, 50+r.IntN(400), customers, items, unit)
		var age time.Duration
		kind := "evictions"
		if seed%2 == 0 {
			age = time.Duration(1+r.IntN(90)) * unit
			kind = "evictions and ageing"
			if seed%4 == 0 {
				capacity, viewCapacity = len(evs), len(evs)
				kind = "ageing"
			}
		}
		// Both binnings, with histories long enough in some runs (K up to
		// 48 with evictions) to cross log bins' edges as they grow,
		// shrink and evict.
		bins := scoring.LogBins
		if seed%5 == 0 {
			bins = scoring.ExactBins
		}
		if long && kind != "ageing" {
			capacity = 9 + int(seed)%40
		}
		ret := delta.Retention{Purchases: capacity, Views: viewCapacity, MaxAge: age}
		lateness := time.Duration(20+r.IntN(20)) * unit
		t.Run(fmt.Sprintf("seed=%d/K=%d/Kview=%d/age=%s/n=%d/bins=%s", seed, capacity, viewCapacity, age, len(evs), bins), func(t *testing.T) {
			m := newMemState(bins)
			var seq int64
			var watermark time.Time
			sweep := func() {
				seq++
				cut := watermark.Add(-age - lateness).UnixMilli()
				if r.IntN(4) == 0 {
					m.sweep(cut, seq, true) // crashed: the next owner finishes the plan
				}
				m.sweep(cut, seq, false)
			}
			applied := 0   // progress: events before this are applied
			attempted := 0 // events before this may have counter changes applied
			for applied < len(evs) {
				// A sweep waits until no batch is half applied: it would
				// change customers whose events' counter changes are in.
				if age > 0 && applied > 0 && applied >= attempted && r.IntN(3) == 0 {
					sweep()
				}
				end := min(len(evs), applied+1+r.IntN(40))
				attempted = max(attempted, end)
				crash := r.IntN(4) == 0
				m.consume(evs, applied, end, ret, crash)
				if crash {
					// Restart: resume from the last progress, cutting differently,
					// after replaying an arbitrary already-applied range.
					back := r.IntN(applied + 1)
					m.consume(evs, back, applied, ret, false)
					continue
				}
				for _, e := range evs[applied:end] {
					if e.Time.After(watermark) {
						watermark = e.Time
					}
				}
				applied = end
			}
			if age > 0 {
				sweep()
			}
			want := oracle.Build(evs, oracle.Settings{HistorySize: capacity, ViewHistorySize: viewCapacity, HistoryMaxAge: age, AllowedLateness: lateness, Bins: bins})
			got := m.snapshot(t)
			if report := verify.CompareState(want, got); !report.OK() {
				t.Fatalf("incremental state differs from the oracle:\n%s", report)
			}
			if !maps.Equal(want.Rebuy, got.Rebuy) {
				t.Fatalf("purchase statistics differ from the oracle:\nwant %v\ngot  %v", want.Rebuy, got.Rebuy)
			}
			for _, st := range got.Rebuy {
				for b, n := range st.Gaps {
					gaps[b] += n
				}
			}
			mTaken[kind] += m.mTaken
			if bins == scoring.LogBins && slices.ContainsFunc(slices.Collect(maps.Values(want.Bought.Hist)), func(h map[int64]int64) bool {
				return slices.ContainsFunc(slices.Collect(maps.Keys(h)), func(n int64) bool { return n > scoring.LogBinsExact })
			}) {
				groupedBins++
			}
			for c, items := range want.Ever {
				everSets[kind]++
				for it := range items {
					if !want.Histories[c].Ever.Contains(it) {
						t.Errorf("customer %s: %s left the history by the bound but the Bloom filter lacks it", c, it)
					}
				}
			}
		})
	}
	for _, kind := range []string{"evictions", "ageing", "evictions and ageing"} {
		if mTaken[kind] == 0 {
			t.Errorf("runs with %s took no viewed-then-bought pair back: M's retraction is not covered", kind)
		}
	}
	for _, kind := range []string{"evictions", "evictions and ageing"} {
		if everSets[kind] == 0 {
			t.Errorf("runs with %s ended with no ever-bought set: the set is not covered", kind)
		}
	}
	if groupedBins < 5 {
		t.Errorf("%d log-binned runs held a bin above %d: the bins' edges are not covered", groupedBins, scoring.LogBinsExact)
	}
	for b, n := range gaps {
		if n == 0 {
			t.Errorf("no repeat purchase fell in gap bucket %d: the buckets are not all covered", b)
		}
	}
	t.Logf("viewed-then-bought pairs taken back: %v; final ever-bought sets: %v; repeat purchases by gap bucket: %v; log-binned runs with grouped bins: %d", mTaken, everSets, gaps, groupedBins)
}
