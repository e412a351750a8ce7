// Package verify compares the streamed state in Redis with the batch oracle
// (docs/DESIGN.md promise 2): every counter, every customer history and every
// related list.
package verify

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// ScoreTolerance is the relative tolerance for list scores.
const ScoreTolerance = 1e-9

// maxExamples bounds the mismatches described in a report.
const maxExamples = 20

// Report counts what differs.
type Report struct {
	Counters          int // counters compared
	Lists             int // lists compared
	Customers         int // histories compared
	CounterMismatches int
	ListMismatches    int
	HistoryMismatches int
	// RebuyFewer counts the items whose purchase statistics in the state
	// are fewer than the oracle's, as allowed for an item that some
	// history lost (compareRebuy): not a mismatch, but said.
	RebuyFewer int
	// RebuyLost is how many of the oracle's RebuyPurchases (the sum of
	// P_Y) those items do not count, and RebuyRepeatsLost how many of its
	// RebuyRepeats (the sum of R_Y).
	RebuyLost, RebuyPurchases, RebuyRepeatsLost, RebuyRepeats int64
	Examples                                                  []string
}

// OK reports whether nothing differs.
func (r *Report) OK() bool {
	return r.CounterMismatches == 0 && r.ListMismatches == 0 && r.HistoryMismatches == 0
}

func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "counters: %d compared, %d mismatching\n", r.Counters, r.CounterMismatches)
	fmt.Fprintf(&b, "histories: %d compared, %d mismatching\n", r.Customers, r.HistoryMismatches)
	fmt.Fprintf(&b, "lists: %d compared, %d mismatching\n", r.Lists, r.ListMismatches)
	if r.RebuyFewer > 0 {
		fmt.Fprintf(&b, "purchase statistics: %d items count fewer than the oracle or none, %d of its %d purchases and %d of its %d repeats (forgotten once nobody held them: allowed)\n",
			r.RebuyFewer, r.RebuyLost, r.RebuyPurchases, r.RebuyRepeatsLost, r.RebuyRepeats)
	}
	for _, e := range r.Examples {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	return b.String()
}

func (r *Report) example(format string, args ...any) {
	if len(r.Examples) < maxExamples {
		r.Examples = append(r.Examples, fmt.Sprintf(format, args...))
	}
}

// Compare checks the snapshot against the oracle's state and lists: the
// purchase and view counters, the viewed-then-bought counters, both kinds
// of history, and every list of every kind.
func Compare(want *oracle.State, got *store.Snapshot, m scoring.Method, rules scoring.ListRules) *Report {
	return compare(want, got, m, rules, false)
}

// CompareAttributable is Compare without the aggregates that cannot be
// attributed to a customer: the repeat counts (P and R, and each item's
// purchase statistics) and the popularity lists.
// After an erasure, the state equals the oracle of the data without the
// erased customers in everything else (docs/security.md).
func CompareAttributable(want *oracle.State, got *store.Snapshot, m scoring.Method, rules scoring.ListRules) *Report {
	return compare(want, got, m, rules, true)
}

func compare(want *oracle.State, got *store.Snapshot, m scoring.Method, rules scoring.ListRules, attributableOnly bool) *Report {
	r := compareState(want, got, attributableOnly)
	for _, kind := range store.ListKinds() {
		items := map[string]struct{}{}
		for _, x := range want.Items(kind) {
			items[x] = struct{}{}
		}
		for _, x := range unionKeys(items, got.Lists[kind]) {
			r.Lists++
			w := want.List(kind, x, m, rules)
			g := got.Lists[kind][x].Items
			if diff := scoring.EqualLists(w, g, ScoreTolerance); diff != "" {
				r.ListMismatches++
				r.example("%s list of %s: %s", kind, x, diff)
			}
		}
	}
	if !attributableOnly {
		comparePopular(r, want, got)
	}
	if want.Catalogue != nil {
		compareCatalogue(r, want.Catalogue, got.Catalogue)
	}
	return r
}

// compareCatalogue checks the catalogue records in Redis against those the
// oracle applied; a record counts as a counter.
func compareCatalogue(r *Report, want, got map[string]event.Item) {
	for _, it := range unionKeys(want, got) {
		r.Counters++
		w, wok := want[it]
		g, gok := got[it]
		if wok != gok || !w.Equal(g) {
			r.CounterMismatches++
			r.example("catalogue record of %s: want %s, got %s", it, recordText(w, wok), recordText(g, gok))
		}
	}
}

func recordText(rec event.Item, ok bool) string {
	if !ok {
		return "none"
	}
	return string(event.EncodeItem(rec))
}

// comparePopular checks the stored popularity lists, overall and per
// category, against the oracle's counts of the window before its anchor.
func comparePopular(r *Report, want *oracle.State, got *store.Snapshot) {
	for _, kind := range []store.ListKind{store.Bought, store.Viewed} {
		wantLists := map[string]store.PopularList{}
		for _, l := range want.PopularLists(kind) {
			if len(l.Items) > 0 || l.Category == "" {
				wantLists[l.Category] = l
			}
		}
		for _, cat := range unionKeys(wantLists, got.Popular[kind]) {
			r.Lists++
			w, g := wantLists[cat], got.Popular[kind][cat]
			if !w.Anchor.Equal(g.Anchor) || !slices.Equal(w.Items, g.Items) || w.Total != g.Total || w.Distinct != g.Distinct {
				r.ListMismatches++
				r.example("popular %s list (category %q): want anchor %s %v (total %d, distinct %d), got anchor %s %v (total %d, distinct %d)",
					kind, cat, w.Anchor, head(w.Items), w.Total, w.Distinct, g.Anchor, head(g.Items), g.Total, g.Distinct)
			}
		}
	}
}

func head(items []scoring.Popular) []scoring.Popular { return items[:min(5, len(items))] }

// CompareState checks the counters and histories only.
func CompareState(want *oracle.State, got *store.Snapshot) *Report {
	return compareState(want, got, false)
}

func compareState(want *oracle.State, got *store.Snapshot, attributableOnly bool) *Report {
	r := &Report{}
	for _, c := range []struct {
		prefix    string
		want, got store.Counters
	}{{"", want.Bought, got.Bought}, {"view ", want.Viewed, got.Viewed}} {
		compareCounters(r, c.prefix+"N", c.want.Co, c.got.Co)
		compareCounters(r, c.prefix+"h", histKeyed(c.want.Hist), histKeyed(c.got.Hist))
		compareCounters(r, c.prefix+"B", map[string]map[string]int64{"": c.want.Buyers}, map[string]map[string]int64{"": c.got.Buyers})
		compareCounters(r, c.prefix+"totals",
			map[string]map[string]int64{"": {schema.FieldTotal: c.want.Totals.Total, schema.FieldCustomers: c.want.Totals.Customers}},
			map[string]map[string]int64{"": {schema.FieldTotal: c.got.Totals.Total, schema.FieldCustomers: c.got.Totals.Customers}})
	}
	if !attributableOnly {
		compareRebuy(r, want, got.Rebuy)
		compareCounters(r, "repeats", map[string]map[string]int64{"": repeatFields(want.Repeats)}, map[string]map[string]int64{"": repeatFields(got.Repeats)})
	}
	compareCounters(r, "M", want.ViewedBought, got.ViewedBought)
	compareCounters(r, "M_X", map[string]map[string]int64{"": want.ViewedTotal}, map[string]map[string]int64{"": got.ViewedTotal})

	compareHistories(r, "history", want.Histories, got.Histories)
	compareHistories(r, "view history", want.ViewHistories, got.ViewHistories)
	return r
}

// compareRebuy compares each item's own purchase statistics (P_Y and the
// gap buckets, docs/DESIGN.md section 12). They must be equal, except for
// an item that a purchase history lost in the replay (oracle.State.Left):
// the stream may have been left without any state of it for a moment, and
// forgotten it with its statistics (store.Lists.Forget), so it may count
// fewer, never more.
func compareRebuy(r *Report, want *oracle.State, got map[string]store.Rebuy) {
	for _, x := range unionKeys(want.Rebuy, got) {
		w, g := want.Rebuy[x], got[x]
		r.Counters += 1 + schema.GapBuckets
		r.RebuyPurchases += w.Purchases
		r.RebuyRepeats += w.Repeats()
		if w == g {
			continue
		}
		if want.Left[x] && fewer(g, w) {
			r.RebuyFewer++
			r.RebuyLost += w.Purchases - g.Purchases
			r.RebuyRepeatsLost += w.Repeats() - g.Repeats()
			continue
		}
		r.CounterMismatches++
		r.example("purchase statistics of %s: want P %d gaps %v, got P %d gaps %v", x, w.Purchases, w.Gaps, g.Purchases, g.Gaps)
	}
}

// fewer reports whether g counts no more than w in every field.
func fewer(g, w store.Rebuy) bool {
	if g.Purchases > w.Purchases {
		return false
	}
	for b := range g.Gaps {
		if g.Gaps[b] > w.Gaps[b] {
			return false
		}
	}
	return true
}

// compareHistories compares the retained items, their entry times, which
// decide what ages out next (docs/DESIGN.md section 10), their entry
// sequence numbers, which decide which viewed-then-bought pairs an entry
// takes back when it leaves (section 3), their counts (section 12) and
// the ever-bought sets' bytes (section 12): the stored forms must be equal.
func compareHistories(r *Report, name string, want map[string]*delta.History, got map[string]delta.History) {
	for _, c := range unionKeys(want, got) {
		r.Customers++
		var w delta.History
		if h := want[c]; h != nil {
			w = *h
		}
		if g := got[c]; w.Encode() != g.Encode() {
			r.HistoryMismatches++
			r.example("%s of customer %s: want %v at %v seq %v count %v, got %v at %v seq %v count %v",
				name, c, w.Items, w.Times, w.Seqs, w.Counts, g.Items, g.Times, g.Seqs, g.Counts)
		} else if we, ge := w.Ever.Encode(), g.Ever.Encode(); we != ge {
			r.HistoryMismatches++
			r.example("ever-bought set of customer %s: want %d items newest %d (%.24q…), got %d items newest %d (%.24q…)",
				c, w.Ever.Len(), w.Ever.Newest, we, g.Ever.Len(), g.Ever.Newest, ge)
		}
	}
}

func compareCounters(r *Report, name string, want, got map[string]map[string]int64) {
	for _, row := range unionKeys(want, got) {
		for _, f := range unionKeys(want[row], got[row]) {
			r.Counters++
			if w, g := want[row][f], got[row][f]; w != g {
				r.CounterMismatches++
				r.example("%s[%s][%s]: want %d, got %d", name, row, f, w, g)
			}
		}
	}
}

func histKeyed(m map[string]map[int64]int64) map[string]map[string]int64 {
	out := make(map[string]map[string]int64, len(m))
	for x, h := range m {
		o := make(map[string]int64, len(h))
		for n, c := range h {
			o[fmt.Sprint(n)] = c
		}
		out[x] = o
	}
	return out
}

// unionKeys returns the sorted union of two maps' keys.
func unionKeys[A, B any](a map[string]A, b map[string]B) []string {
	seen := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		seen[k] = struct{}{}
	}
	for k := range b {
		seen[k] = struct{}{}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// repeatFields are the purchase totals' repeat counters as stored: P, R
// and the catalogue's gap buckets.
func repeatFields(r store.Repeats) map[string]int64 {
	out := map[string]int64{schema.FieldPurchases: r.Purchases, schema.FieldRepeats: r.Repeats}
	for b, n := range r.Gaps {
		out[schema.GapField(b)] = n
	}
	return out
}
