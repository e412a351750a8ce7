// Package oracle is the batch model of docs/DESIGN.md sections 2-4: it replays
// events in arrival order to get each customer's final purchase and view
// histories (with their entry times and sequence numbers) and the repeat
// counts, then derives every other counter from the final histories alone. It never runs the consumer's
// change code (package delta's Batch), so comparing it with the streamed
// state in Redis checks that code instead of sharing it. It also backs
// `alsobought bootstrap`, which loads the same state into Redis.
package oracle

import (
	"sort"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// Settings are the state-shaping settings the oracle follows.
type Settings struct {
	HistorySize     int         // K_hist
	ViewHistorySize int         // K_view; 0 means purchases only (views are ignored)
	Dedup           delta.Dedup // which recent event ids count as duplicates
	// HistoryMaxAge ages history entries on each customer's own clock
	// (docs/DESIGN.md section 10); 0 = never.
	HistoryMaxAge time.Duration
	// AllowedLateness: the final sweep removes the entries older than the
	// watermark minus HistoryMaxAge minus this.
	AllowedLateness time.Duration
	// Bins groups the histograms' customers as the state does (the zero
	// value is scoring.DefaultBins).
	Bins scoring.Bins
}

// State is the full counter state.
type State struct {
	Settings
	Histories     map[string]*delta.History // customer -> retained purchases, with their ever-bought sets (History.Ever)
	ViewHistories map[string]*delta.History // customer -> retained views
	// Ever is each customer's exact ever-bought set: every item that left
	// its purchase history by the K_hist bound, forgotten by the rule of
	// delta.ForgetEver. Histories[c].Ever is the Bloom filter the stream
	// stores, built from the same evictions (docs/DESIGN.md section 12).
	Ever   map[string]map[string]bool
	Bought store.Counters // derived from Histories
	Viewed store.Counters // derived from ViewHistories
	// ViewedBought is M_XY (X -> Y) and ViewedTotal M_X, derived from
	// the final histories like the others (deriveViewedBought).
	ViewedBought map[string]map[string]int64
	ViewedTotal  map[string]int64
	// Repeats counts the purchases and the repeat purchases (of an item
	// in the retained history), from the replay too.
	Repeats store.Repeats
	// Rebuy holds each item's own purchase statistics (docs/DESIGN.md
	// section 12), counted in the replay like Repeats: its purchases, and
	// its repeat purchases by the gap since the entry's time.
	Rebuy map[string]store.Rebuy
	// Left holds the items that some purchase history held and then lost
	// (evicted, aged or swept) in the replay. Only such an item can have
	// been without state in the stream at some moment, and so have been
	// forgotten (store.Lists.Forget) with its statistics: for the others
	// Rebuy must equal the stream's exactly.
	Left map[string]bool
	// Anchor is the latest event time applied; Popular the counts of each
	// kind (Bought, Viewed) in the popularity window before it.
	Anchor  time.Time
	Popular map[store.ListKind]store.PopularCounts
	// Buckets are the popularity day buckets of the window (kind -> day ->
	// field -> count, fields as stored), and ItemCategories the category of
	// each item's latest event with one: bootstrap writes both.
	Buckets        map[store.ListKind]map[string]map[string]int64
	ItemCategories map[string]string
	// Catalogue holds the items' records (docs/DESIGN.md §11) and AsOf the
	// instant their availability windows are judged at: lists and
	// popularity lists hold only the items visible then. Without
	// WithCatalogue, every item is visible.
	Catalogue map[string]event.Item
	AsOf      time.Time
}

// WithCatalogue applies catalogue records, in order (a nil Record, a
// tombstone, removes the item's record), and judges availability at asOf:
// the wall clock the lists in Redis were written by, which the caller
// chooses away from any window edge.
func (s *State) WithCatalogue(records []store.CatalogueRecord, asOf time.Time) *State {
	s.Catalogue, s.AsOf = map[string]event.Item{}, asOf
	for _, r := range records {
		if r.Record == nil {
			delete(s.Catalogue, r.Item)
		} else {
			s.Catalogue[r.Item] = *r.Record
		}
	}
	return s
}

// visible lets an item be listed: it has no record, or its record lets it
// be recommended at AsOf.
func (s *State) visible(item string) bool {
	rec, ok := s.Catalogue[item]
	return !ok || rec.VisibleAt(s.AsOf)
}

// category is the category the catalogue gives an item ("" for none).
func (s *State) category(item string) string { return s.Catalogue[item].Category }

// Build replays events (in arrival order) and derives the counters. An
// event whose id its customer recently used is a duplicate and changes
// nothing, by the same rule the consumer follows (delta.Recent).
//
// With HistoryMaxAge, each counted event first removes from its customer's
// histories the entries it no longer holds (docs/DESIGN.md section 10), so
// repeats see the retained entries only. The counters are still derived
// from the final histories: every counter the stream keeps, M included, is
// retracted with the entry that contributed it, so what it describes after
// a customer's last event is that event's retained window, which is the
// final history. Then the sweep of docs/DESIGN.md section 10
// runs at the final watermark, the latest event time (every partition has
// applied everything: none holds it back): entries older than it minus the
// age and the allowed lateness leave, and customers left with nothing are
// gone. A stream whose sweeps ran at earlier watermarks ends in the same
// state, because an on-time event ages on its own clock every entry an
// earlier sweep removed.
func Build(events []event.Event, set Settings) *State {
	s := &State{Settings: set, Histories: map[string]*delta.History{}, ViewHistories: map[string]*delta.History{},
		Ever: map[string]map[string]bool{}, Rebuy: map[string]store.Rebuy{}, Left: map[string]bool{}}
	history := func(m map[string]*delta.History, c string) *delta.History {
		h := m[c]
		if h == nil {
			h = &delta.History{}
			m[c] = h
		}
		return h
	}
	recent := make(map[string]*delta.Recent)
	var counted []event.Event
	for _, e := range events {
		if set.Dedup.Window > 0 {
			r := recent[e.CustomerID]
			if r == nil {
				r = &delta.Recent{}
				recent[e.CustomerID] = r
			}
			if r.Seen(e.ID) {
				continue
			}
			r.Add(e.ID, e.Time, set.Dedup)
		}
		counted = append(counted, e)
		if e.Time.After(s.Anchor) {
			s.Anchor = e.Time
		}
		if set.HistoryMaxAge > 0 {
			if h := s.Histories[e.CustomerID]; h != nil {
				for _, it := range h.Age(e.Time, set.HistoryMaxAge) {
					s.Left[it] = true
				}
			}
			if v := s.ViewHistories[e.CustomerID]; v != nil {
				v.Age(e.Time, set.HistoryMaxAge)
			}
			if h := s.Histories[e.CustomerID]; h != nil {
				s.forgetEver(e.CustomerID, h, e.Time.UnixMilli()-set.HistoryMaxAge.Milliseconds())
			}
		}
		at := e.Time.UnixMilli()
		seq := delta.NextSeq(s.Histories[e.CustomerID], s.ViewHistories[e.CustomerID])
		switch e.Type {
		case event.Purchase:
			h := history(s.Histories, e.CustomerID)
			s.Repeats.Purchases++
			r := s.Rebuy[e.ItemID]
			r.Purchases++
			if i := h.Index(e.ItemID); i >= 0 {
				s.Repeats.Repeats++
				b := schema.GapBucket(time.Duration(max(at-h.Times[i], 0)) * time.Millisecond)
				r.Gaps[b]++
				s.Repeats.Gaps[b]++
			}
			s.Rebuy[e.ItemID] = r
			var oldest int64 // the time of the entry a full history evicts
			if len(h.Times) > 0 {
				oldest = h.Times[0]
			}
			if _, evicted := h.Touch(e.ItemID, at, seq, set.HistorySize); evicted != "" {
				s.Left[evicted] = true
				h.Ever.Add(evicted, oldest)
				if s.Ever[e.CustomerID] == nil {
					s.Ever[e.CustomerID] = map[string]bool{}
				}
				s.Ever[e.CustomerID][evicted] = true
			}
		case event.View:
			if set.ViewHistorySize > 0 {
				history(s.ViewHistories, e.CustomerID).Touch(e.ItemID, at, seq, set.ViewHistorySize)
			}
		}
	}
	if set.HistoryMaxAge > 0 {
		s.sweep(s.Anchor.UnixMilli() - set.HistoryMaxAge.Milliseconds() - set.AllowedLateness.Milliseconds())
	}
	s.Bought = derive(s.Histories, s.Bins)
	s.Viewed = derive(s.ViewHistories, s.Bins)
	s.ViewedBought, s.ViewedTotal = deriveViewedBought(s.Histories, s.ViewHistories)
	s.Popular, s.Buckets = popularity(counted, s.Anchor)
	s.ItemCategories = map[string]string{}
	for _, e := range counted {
		if e.Category != "" {
			s.ItemCategories[e.ItemID] = e.Category
		}
	}
	return s
}

// forgetEver forgets a customer's ever-bought sets, the Bloom filter and
// the exact one, by the stream's rule (delta.ForgetEver).
func (s *State) forgetEver(c string, h *delta.History, cut int64) {
	delta.ForgetEver(h, cut)
	if h.Ever.Len() == 0 { // the filter is empty exactly when the set is
		delete(s.Ever, c)
	}
}

// sweep removes the entries older than cut (unix ms), and the customers
// left with no entry; ever-bought sets are forgotten as the stream's sweep
// forgets them.
func (s *State) sweep(cut int64) {
	for k, m := range []map[string]*delta.History{s.Histories, s.ViewHistories} {
		for c, h := range m {
			gone := h.Before(cut)
			for _, i := range gone {
				if k == 0 { // purchases
					s.Left[h.Items[i]] = true
				}
			}
			h.Remove(gone)
			if k == 0 {
				s.forgetEver(c, h, cut)
			}
			if len(h.Items) == 0 {
				delete(m, c)
			}
		}
	}
}

// popularity counts each kind's events in the days of the window before
// the anchor (docs/DESIGN.md section 3), also per day.
func popularity(events []event.Event, anchor time.Time) (map[store.ListKind]store.PopularCounts, map[store.ListKind]map[string]map[string]int64) {
	window := map[string]bool{}
	for _, d := range store.WindowDays(anchor) {
		window[d] = true
	}
	out := map[store.ListKind]store.PopularCounts{store.Bought: store.NewPopularCounts(anchor), store.Viewed: store.NewPopularCounts(anchor)}
	buckets := map[store.ListKind]map[string]map[string]int64{store.Bought: {}, store.Viewed: {}}
	for _, e := range events {
		day := schema.Day(e.Time)
		if !window[day] {
			continue
		}
		kind := store.Viewed
		if e.Type == event.Purchase {
			kind = store.Bought
		}
		p := out[kind]
		b := buckets[kind][day]
		if b == nil {
			b = map[string]int64{}
			buckets[kind][day] = b
		}
		b[e.ItemID]++
		if e.Category != "" {
			b[schema.CategoryField(e.Category, e.ItemID)]++
		}
		p.Overall[e.ItemID]++
		if e.Category != "" {
			if p.ByCategory[e.Category] == nil {
				p.ByCategory[e.Category] = map[string]int64{}
			}
			p.ByCategory[e.Category][e.ItemID]++
		}
	}
	return out, buckets
}

// derive computes the counters of a set of final histories, with the
// histograms' customers grouped by bins.
func derive(histories map[string]*delta.History, bins scoring.Bins) store.Counters {
	c := store.Counters{Co: map[string]map[string]int64{}, Hist: map[string]map[int64]int64{}, Buyers: map[string]int64{}}
	for _, h := range histories {
		m := int64(len(h.Items))
		if m == 0 {
			continue
		}
		c.Totals.Total += m
		c.Totals.Customers++
		for _, x := range h.Items {
			c.Buyers[x]++
			hx := c.Hist[x]
			if hx == nil {
				hx = make(map[int64]int64)
				c.Hist[x] = hx
			}
			hx[bins.Of(m-1)]++
			cx := c.Co[x]
			if cx == nil {
				cx = make(map[string]int64)
				c.Co[x] = cx
			}
			for _, y := range h.Items {
				if y != x {
					cx[y]++
				}
			}
		}
	}
	return c
}

// deriveViewedBought computes M_XY and M_X from the final histories
// (docs/DESIGN.md section 3): a customer counts for M_XY when their view
// history holds X, their purchase history holds Y ≠ X, and X entered
// before Y (a lower entry sequence number); M_X is the sum of M_XY over Y.
func deriveViewedBought(purchases, views map[string]*delta.History) (map[string]map[string]int64, map[string]int64) {
	m, total := map[string]map[string]int64{}, map[string]int64{}
	for c, v := range views {
		h := purchases[c]
		if h == nil {
			continue
		}
		for i, x := range v.Items {
			for j, y := range h.Items {
				if x == y || v.Seqs[i] >= h.Seqs[j] {
					continue
				}
				if m[x] == nil {
					m[x] = map[string]int64{}
				}
				m[x][y]++
				total[x]++
			}
		}
	}
	return m, total
}

// counters returns the purchase or view counters.
func (s *State) counters(kind store.ListKind) *store.Counters {
	if kind == store.Viewed {
		return &s.Viewed
	}
	return &s.Bought
}

// Items returns every item with a row of the kind, sorted.
func (s *State) Items(kind store.ListKind) []string {
	var out []string
	if kind == store.ViewedBought {
		for x := range s.ViewedTotal {
			out = append(out, x)
		}
	} else {
		for x := range s.counters(kind).Hist {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// Row returns what scoring needs for item x's list of a kind. For
// ViewedBought, the candidates carry M_XY as Support.
func (s *State) Row(kind store.ListKind, x string) scoring.Row {
	c := s.counters(kind)
	co := c.Co[x]
	if kind == store.ViewedBought {
		co = s.ViewedBought[x]
	}
	row := scoring.Row{Item: x, Buyers: c.Buyers[x]}
	if kind != store.ViewedBought {
		for n, cnt := range c.Hist[x] {
			row.Hist = append(row.Hist, scoring.HistBin{Others: n, Customers: cnt})
		}
	}
	for y, n := range co {
		row.Candidates = append(row.Candidates, scoring.Candidate{Item: y, Support: n, Buyers: c.Buyers[y]})
	}
	return row
}

// List computes item x's related list of a kind, over the visible items.
func (s *State) List(kind store.ListKind, x string, m scoring.Method, rules scoring.ListRules) []scoring.Related {
	if kind == store.ViewedBought {
		l, _ := scoring.ViewedBoughtListVisible(s.Row(kind, x), s.ViewedTotal[x], s.Bought.Totals, rules, s.visible)
		return l
	}
	l, _ := scoring.RelatedListVisible(m, s.Row(kind, x), s.counters(kind).Totals, rules, s.visible)
	return l
}

// PopularLists computes the popularity lists of a kind (Bought or Viewed),
// over the visible items, in the catalogue's categories.
func (s *State) PopularLists(kind store.ListKind) []store.PopularList {
	return s.Popular[kind].Catalogued(s.category).Lists(kind, time.Time{}, s.visible)
}

// Snapshot returns the state in the shape the store reads and writes.
func (s *State) Snapshot() *store.Snapshot {
	snap := store.NewSnapshot()
	snap.Bought, snap.Viewed = s.Bought, s.Viewed
	snap.ViewedBought, snap.ViewedTotal, snap.Repeats = s.ViewedBought, s.ViewedTotal, s.Repeats
	for x, r := range s.Rebuy {
		snap.Rebuy[x] = r
	}
	snap.PopularAnchor, snap.PopularBuckets, snap.ItemCategories = s.Anchor, s.Buckets, s.ItemCategories
	for c, h := range s.Histories {
		if len(h.Items) > 0 {
			snap.Histories[c] = h.Clone()
		}
	}
	for c, h := range s.ViewHistories {
		if len(h.Items) > 0 {
			snap.ViewHistories[c] = h.Clone()
		}
	}
	return snap
}

// FromSnapshot returns the counters and histories of a state read from
// Redis (store.State.Snapshot) as a State, so that lists of any method can be
// computed from streamed counters exactly as from the oracle's own. The
// popularity fields stay empty: a snapshot holds popularity lists, not
// counts.
func FromSnapshot(snap *store.Snapshot, set Settings) *State {
	s := &State{Settings: set, Histories: map[string]*delta.History{}, ViewHistories: map[string]*delta.History{},
		Bought: snap.Bought, Viewed: snap.Viewed, ViewedBought: snap.ViewedBought, ViewedTotal: snap.ViewedTotal, Repeats: snap.Repeats,
		Rebuy: snap.Rebuy, Left: map[string]bool{}}
	for c, h := range snap.Histories {
		s.Histories[c] = &h
	}
	for c, h := range snap.ViewHistories {
		s.ViewHistories[c] = &h
	}
	return s
}
