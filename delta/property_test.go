package delta_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/alsobought/alsobought/delta"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/oracle"
)

// memState applies batches to in-memory counters with the same fence rule
// as the Redis script: a key applies a group only when its offset is above
// the key's watermark for the partition. Customers hold a watermark too.
type memState struct {
	rows      map[string]map[string]int64
	buyers    map[string]int64
	totals    map[string]int64
	watermark map[string]int64 // key -> watermark (one partition here)
	customers map[string]*customer
}

type customer struct {
	h  delta.History
	wm int64
}

func newMemState() *memState {
	return &memState{rows: map[string]map[string]int64{}, buyers: map[string]int64{}, totals: map[string]int64{},
		watermark: map[string]int64{}, customers: map[string]*customer{}}
}

func (m *memState) hash(k delta.Key) (map[string]int64, string) {
	switch k.Kind {
	case delta.BuyersKey:
		return m.buyers, "buyers"
	case delta.TotalsKey:
		return m.totals, "totals"
	}
	r := m.rows[k.Item]
	if r == nil {
		r = map[string]int64{}
		m.rows[k.Item] = r
	}
	return r, "row:" + k.Item
}

func (m *memState) applyOps(b *delta.Batch) {
	for k, ops := range b.Ops {
		h, name := m.hash(k)
		wm, ok := m.watermark[name]
		if !ok {
			wm = -1
		}
		top := wm
		f := 0
		for g, off := range ops.Offsets {
			for j := 0; j < ops.Counts[g]; j++ {
				if off > wm {
					h[ops.Fields[f]] += ops.Deltas[f]
					if h[ops.Fields[f]] == 0 {
						delete(h, ops.Fields[f])
					}
				}
				f++
			}
			top = max(top, off)
		}
		m.watermark[name] = top
	}
}

// consume processes events[from:to] as one batch, the way the consumer
// does: read customers, skip events at or below their watermark, apply the
// counter changes, then (unless crashAfterOps) write the customers.
func (m *memState) consume(evs []event.Event, from, to, capacity int, crashAfterOps bool) {
	b := delta.NewBatch(0)
	next := map[string]*customer{}
	for off := from; off < to; off++ {
		e := evs[off]
		c := next[e.CustomerID]
		if c == nil {
			stored := m.customers[e.CustomerID]
			c = &customer{wm: -1}
			if stored != nil {
				c = &customer{h: delta.History{Items: append([]string(nil), stored.h.Items...)}, wm: stored.wm}
			}
			next[e.CustomerID] = c
		}
		if int64(off) <= c.wm {
			continue
		}
		b.Purchase(&c.h, e.ItemID, int64(off), capacity)
		c.wm = int64(off)
	}
	m.applyOps(b)
	if crashAfterOps {
		return
	}
	for id, c := range next {
		if s := m.customers[id]; s == nil || c.wm > s.wm {
			m.customers[id] = c
		}
	}
}

func randomStream(r *rand.Rand, n, customers, items int) []event.Event {
	evs := make([]event.Event, n)
	t0 := time.Unix(1_500_000_000, 0)
	for i := range evs {
		// Skewed items so some pairs repeat and some items are best-sellers.
		it := int(float64(items) * r.Float64() * r.Float64())
		evs[i] = event.Event{ID: strconv.Itoa(i), Type: event.Purchase,
			CustomerID: "c" + strconv.Itoa(r.IntN(customers)), ItemID: "i" + strconv.Itoa(it),
			Time: t0.Add(time.Duration(i) * time.Second)}
	}
	return evs
}

// TestIncrementalEqualsBatch: for random streams, batch cuts, crashes after
// the counter step, and replays of already-applied ranges, the incremental
// counters equal the oracle's counters derived from final histories.
func TestIncrementalEqualsBatch(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		r := rand.New(rand.NewPCG(seed, seed*7919))
		capacity := 1 + r.IntN(6)
		evs := randomStream(r, 50+r.IntN(400), 1+r.IntN(30), 2+r.IntN(40))
		t.Run(fmt.Sprintf("seed=%d/K=%d/n=%d", seed, capacity, len(evs)), func(t *testing.T) {
			m := newMemState()
			applied := 0 // progress: events before this are applied
			for applied < len(evs) {
				end := min(len(evs), applied+1+r.IntN(40))
				crash := r.IntN(4) == 0
				m.consume(evs, applied, end, capacity, crash)
				if crash {
					// Restart: resume from the last progress, cutting differently,
					// after replaying an arbitrary already-applied range.
					back := r.IntN(applied + 1)
					m.consume(evs, back, applied, capacity, false)
					continue
				}
				applied = end
			}
			want := oracle.Build(evs, oracle.Settings{HistorySize: capacity})
			compare(t, want, m)
		})
	}
}

func compare(t *testing.T, want *oracle.State, got *memState) {
	t.Helper()
	for x, row := range got.rows {
		for f, v := range row {
			var w int64
			if n, ok := parseHist(f); ok {
				w = want.Hist[x][n]
			} else {
				w = want.Co[x][f]
			}
			if v != w {
				t.Fatalf("row %s field %s: incremental %d, oracle %d", x, f, v, w)
			}
		}
	}
	for x, co := range want.Co {
		for y, n := range co {
			if got.rows[x][y] != n {
				t.Fatalf("N[%s][%s]: incremental %d, oracle %d", x, y, got.rows[x][y], n)
			}
		}
	}
	for x, h := range want.Hist {
		for n, c := range h {
			if got.rows[x][delta.HistField(int(n))] != c {
				t.Fatalf("h[%s][%d]: incremental %d, oracle %d", x, n, got.rows[x][delta.HistField(int(n))], c)
			}
		}
	}
	for x, b := range want.Buyers {
		if got.buyers[x] != b {
			t.Fatalf("B[%s]: incremental %d, oracle %d", x, got.buyers[x], b)
		}
	}
	if len(got.buyers) != len(want.Buyers) {
		t.Fatalf("buyers: incremental has %d items, oracle %d", len(got.buyers), len(want.Buyers))
	}
	if got.totals["T"] != want.Totals.Total || got.totals["C"] != want.Totals.Customers {
		t.Fatalf("totals: incremental T=%d C=%d, oracle T=%d C=%d", got.totals["T"], got.totals["C"], want.Totals.Total, want.Totals.Customers)
	}
	for c, h := range want.Histories {
		if fmt.Sprint(got.customers[c].h.Items) != fmt.Sprint(h.Items) {
			t.Fatalf("history of %s: incremental %v, oracle %v", c, got.customers[c].h.Items, h.Items)
		}
	}
}

func parseHist(f string) (int64, bool) {
	if len(f) > 2 && f[:2] == "h|" {
		n, err := strconv.ParseInt(f[2:], 10, 64)
		return n, err == nil
	}
	return 0, false
}
