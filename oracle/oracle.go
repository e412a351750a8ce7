// Package oracle is the batch model of DESIGN.md sections 2-4: it replays
// events in arrival order to get each customer's final history, then derives
// every counter from those histories alone. It never runs the consumer's
// change code (package delta's Batch), so comparing it with the streamed
// state in Redis checks that code instead of sharing it. It also backs
// `alsobought bootstrap`, which loads the same state into Redis.
package oracle

import (
	"sort"

	"github.com/alsobought/alsobought/delta"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// State is the full counter state derived from final histories.
type State struct {
	HistorySize int
	Histories   map[string]*delta.History   // customer -> retained purchases
	Co          map[string]map[string]int64 // X -> Y -> N_XY
	Hist        map[string]map[int64]int64  // X -> n -> h_X[n]
	Buyers      map[string]int64            // X -> B_X
	Totals      scoring.Globals             // T and C
}

// Settings are the state-shaping settings the oracle follows.
type Settings struct {
	HistorySize int         // K_hist
	Dedup       delta.Dedup // which recent event ids count as duplicates
}

// Build replays events (in arrival order) and derives the counters. An
// event whose id its customer recently used is a duplicate and changes
// nothing, by the same rule the consumer follows (delta.Recent).
func Build(events []event.Event, set Settings) *State {
	historySize := set.HistorySize
	s := &State{HistorySize: historySize, Histories: make(map[string]*delta.History)}
	recent := make(map[string]*delta.Recent)
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
		if e.Type != event.Purchase {
			continue
		}
		h := s.Histories[e.CustomerID]
		if h == nil {
			h = &delta.History{}
			s.Histories[e.CustomerID] = h
		}
		h.Touch(e.ItemID, historySize)
	}
	s.derive()
	return s
}

// derive computes every counter from the final histories.
func (s *State) derive() {
	s.Co = make(map[string]map[string]int64)
	s.Hist = make(map[string]map[int64]int64)
	s.Buyers = make(map[string]int64)
	s.Totals = scoring.Globals{}
	for _, h := range s.Histories {
		m := int64(len(h.Items))
		if m == 0 {
			continue
		}
		s.Totals.Total += m
		s.Totals.Customers++
		for _, x := range h.Items {
			s.Buyers[x]++
			hx := s.Hist[x]
			if hx == nil {
				hx = make(map[int64]int64)
				s.Hist[x] = hx
			}
			hx[m-1]++
			cx := s.Co[x]
			if cx == nil {
				cx = make(map[string]int64)
				s.Co[x] = cx
			}
			for _, y := range h.Items {
				if y != x {
					cx[y]++
				}
			}
		}
	}
}

// Items returns every item with a row, sorted.
func (s *State) Items() []string {
	out := make([]string, 0, len(s.Hist))
	for x := range s.Hist {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

// Row returns what scoring needs for item x.
func (s *State) Row(x string) scoring.Row {
	row := scoring.Row{Item: x, Buyers: s.Buyers[x]}
	for n, c := range s.Hist[x] {
		row.Hist = append(row.Hist, scoring.HistBin{Others: n, Customers: c})
	}
	for y, n := range s.Co[x] {
		row.Candidates = append(row.Candidates, scoring.Candidate{Item: y, Support: n, Buyers: s.Buyers[y]})
	}
	return row
}

// List computes item x's related list.
func (s *State) List(x string, m scoring.Method, rules scoring.ListRules) []scoring.Related {
	return scoring.RelatedList(m, s.Row(x), s.Totals, rules)
}

// Snapshot returns the state in the shape the store reads and writes.
func (s *State) Snapshot() *store.Snapshot {
	snap := &store.Snapshot{Co: s.Co, Hist: s.Hist, Buyers: s.Buyers, Totals: s.Totals,
		Histories: make(map[string][]string, len(s.Histories))}
	for c, h := range s.Histories {
		if len(h.Items) > 0 {
			snap.Histories[c] = h.Items
		}
	}
	return snap
}
