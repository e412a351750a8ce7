package delta

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/alsobought/alsobought/store/schema"
)

// sums adds up a batch's changes per key and field, dropping zeros: the
// state the batch leaves when applied to empty hashes.
func sums(b *Batch) map[Key]map[string]int64 {
	out := map[Key]map[string]int64{}
	for k, ops := range b.Ops {
		for i, f := range ops.Fields {
			if out[k] == nil {
				out[k] = map[string]int64{}
			}
			out[k][f] += ops.Deltas[i]
			if out[k][f] == 0 {
				delete(out[k], f)
			}
		}
		if len(out[k]) == 0 {
			delete(out, k)
		}
	}
	return out
}

// withoutRebuy drops the items' own purchase statistics (schema.IsRebuyField)
// from summed changes, for the tables that check the other counters
// (TestPurchaseStatistics checks these).
func withoutRebuy(sums map[Key]map[string]int64) map[Key]map[string]int64 {
	for k, fields := range sums {
		for f := range fields {
			if schema.IsRebuyField(f) {
				delete(fields, f)
			}
		}
		if len(fields) == 0 {
			delete(sums, k)
		}
	}
	return sums
}

// testEvent is one event of a customer in the tables of this package's
// tests: a view or a purchase of item at t0 + at.
type testEvent struct {
	view bool
	item string
	at   time.Duration
}

// play applies one customer's events, from empty histories, in one batch
// at offsets 0, 1, … and returns the batch and the histories they leave.
func play(t0 time.Time, events []testEvent, r Retention) (b *Batch, hist, views History) {
	b = NewBatch(0)
	for i, e := range events {
		if e.view {
			b.View(&hist, &views, e.item, t0.Add(e.at), int64(i), r)
		} else {
			b.Purchase(&hist, &views, e.item, t0.Add(e.at), int64(i), r)
		}
	}
	return b, hist, views
}

// sameSums reports every key whose summed changes differ from want.
func sameSums(t *testing.T, got, want map[Key]map[string]int64) {
	t.Helper()
	for k := range unionKeys(got, want) {
		if !maps.Equal(got[k], want[k]) {
			t.Errorf("%v: got %v, want %v", k, got[k], want[k])
		}
	}
}

// TestAgeing: an event at time t first removes the entries of its
// customer's histories older than t − age, retracting exactly what they
// contributed (docs/DESIGN.md section 10); repeats and viewed-then-bought
// counts see only what is left. Each case is one customer's events from
// empty state; want is the whole state they leave (zero counters absent).
func TestAgeing(t *testing.T) {
	const age = time.Hour
	t0 := time.UnixMilli(1_700_000_000_000)
	type ev = testEvent
	row := func(x string) Key { return Key{Kind: RowKey, Item: x} }
	vrow := func(x string) Key { return Key{Kind: ViewRowKey, Item: x} }
	vb := func(x string) Key { return Key{Kind: ViewedBoughtKey, Item: x} }
	buyers, totals := Key{Kind: BuyersKey}, Key{Kind: TotalsKey}
	viewers, vtotals := Key{Kind: ViewersKey}, Key{Kind: ViewTotalsKey}
	h := schema.HistField
	tests := []struct {
		name         string
		events       []ev
		want         map[Key]map[string]int64
		wantH, wantV []string
	}{
		{"a purchase exactly age old is held", []ev{{false, "a", 0}, {false, "b", age}},
			map[Key]map[string]int64{
				row("a"): {"b": 1, h(1): 1}, row("b"): {"a": 1, h(1): 1},
				buyers: {"a": 1, "b": 1}, totals: {schema.FieldTotal: 2, schema.FieldCustomers: 1, schema.FieldPurchases: 2},
			}, []string{"a", "b"}, nil},
		{"a purchase 1 ms older leaves, its pairs, histogram and buyer retracted", []ev{{false, "a", 0}, {false, "b", age + time.Millisecond}},
			map[Key]map[string]int64{
				row("b"): {h(0): 1}, buyers: {"b": 1},
				totals: {schema.FieldTotal: 1, schema.FieldCustomers: 1, schema.FieldPurchases: 2},
			}, []string{"b"}, nil},
		{"only the aged of three leave; the kept move in their histograms", []ev{{false, "a", 0}, {false, "b", 30 * time.Minute}, {false, "c", 40 * time.Minute}, {false, "d", 80 * time.Minute}},
			map[Key]map[string]int64{
				row("b"): {"c": 1, "d": 1, h(2): 1}, row("c"): {"b": 1, "d": 1, h(2): 1}, row("d"): {"b": 1, "c": 1, h(2): 1},
				buyers: {"b": 1, "c": 1, "d": 1}, totals: {schema.FieldTotal: 3, schema.FieldCustomers: 1, schema.FieldPurchases: 4},
			}, []string{"b", "c", "d"}, nil},
		{"a repeat within the age is a repeat and refreshes the entry", []ev{{false, "a", 0}, {false, "a", age}, {false, "b", 2 * age}},
			map[Key]map[string]int64{
				row("a"): {"b": 1, h(1): 1}, row("b"): {"a": 1, h(1): 1}, buyers: {"a": 1, "b": 1},
				totals: {schema.FieldTotal: 2, schema.FieldCustomers: 1, schema.FieldPurchases: 3, schema.FieldRepeats: 1},
			}, []string{"a", "b"}, nil},
		{"a repeat purchase of an aged-out item is not a repeat", []ev{{false, "a", 0}, {false, "a", age + time.Millisecond}},
			map[Key]map[string]int64{
				row("a"): {h(0): 1}, buyers: {"a": 1},
				totals: {schema.FieldTotal: 1, schema.FieldCustomers: 1, schema.FieldPurchases: 2},
			}, []string{"a"}, nil},
		{"a view within the age feeds viewed-then-bought", []ev{{true, "x", 0}, {false, "z", age}},
			map[Key]map[string]int64{
				vrow("x"): {h(0): 1}, viewers: {"x": 1}, vtotals: {schema.FieldTotal: 1, schema.FieldCustomers: 1},
				vb("x"):  {"z": 1, schema.FieldViewedTotal: 1},
				row("z"): {h(0): 1}, buyers: {"z": 1}, totals: {schema.FieldTotal: 1, schema.FieldCustomers: 1, schema.FieldPurchases: 1},
			}, []string{"z"}, []string{"x"}},
		{"an aged-out view leaves before a purchase and feeds no M", []ev{{true, "x", 0}, {false, "z", age + time.Millisecond}},
			map[Key]map[string]int64{
				row("z"): {h(0): 1}, buyers: {"z": 1}, totals: {schema.FieldTotal: 1, schema.FieldCustomers: 1, schema.FieldPurchases: 1},
			}, []string{"z"}, nil},
		{"a view ages the co-views out like purchases", []ev{{true, "x", 0}, {true, "y", 10 * time.Minute}, {true, "w", age + 5*time.Minute}},
			map[Key]map[string]int64{
				vrow("y"): {"w": 1, h(1): 1}, vrow("w"): {"y": 1, h(1): 1},
				viewers: {"y": 1, "w": 1}, vtotals: {schema.FieldTotal: 2, schema.FieldCustomers: 1},
			}, nil, []string{"y", "w"}},
		{"a view ages the purchases out too: both histories are the customer's window", []ev{{false, "a", 0}, {true, "x", 2 * age}},
			map[Key]map[string]int64{
				vrow("x"): {h(0): 1}, viewers: {"x": 1}, vtotals: {schema.FieldTotal: 1, schema.FieldCustomers: 1},
				totals: {schema.FieldPurchases: 1},
			}, nil, []string{"x"}},
		{"a view and the purchase it fed, aged out together, take their M back once", []ev{{true, "x", 0}, {false, "z", time.Minute}, {false, "q", 2 * age}},
			map[Key]map[string]int64{
				row("q"): {h(0): 1}, buyers: {"q": 1}, totals: {schema.FieldTotal: 1, schema.FieldCustomers: 1, schema.FieldPurchases: 2},
			}, []string{"q"}, nil},
		{"a late event holds entries by its own time", []ev{{false, "a", 2 * age}, {false, "b", 0}},
			map[Key]map[string]int64{
				row("a"): {"b": 1, h(1): 1}, row("b"): {"a": 1, h(1): 1}, buyers: {"a": 1, "b": 1},
				totals: {schema.FieldTotal: 2, schema.FieldCustomers: 1, schema.FieldPurchases: 2},
			}, []string{"a", "b"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, hist, views := play(t0, tc.events, Retention{Purchases: 10, Views: 10, MaxAge: age})
			sameSums(t, withoutRebuy(sums(b)), tc.want)
			if !slices.Equal(hist.Items, tc.wantH) || !slices.Equal(views.Items, tc.wantV) {
				t.Errorf("histories %v and %v, want %v and %v", hist.Items, views.Items, tc.wantH, tc.wantV)
			}
		})
	}
}

func unionKeys(a, b map[Key]map[string]int64) map[Key]struct{} {
	out := map[Key]struct{}{}
	for k := range a {
		out[k] = struct{}{}
	}
	for k := range b {
		out[k] = struct{}{}
	}
	return out
}

// TestPurchaseStatistics: every purchase of an item adds 1 to its P_Y, and
// a repeat of an item held adds 1 to the bucket of the time since the
// entry's time (the latest earlier event of it, a late event counting 0),
// all in the item's purchase row; a repeat of an item no longer held (aged
// out, evicted) counts in P_Y only. None marks a row dirty for itself, and
// erasure leaves them (anonymous aggregates, like P and R).
func TestPurchaseStatistics(t *testing.T) {
	const day = 24 * time.Hour
	t0 := time.UnixMilli(1_700_000_000_000)
	type ev = testEvent
	g := schema.GapField
	p := schema.FieldItemPurchases
	tests := []struct {
		name   string
		events []ev
		ret    Retention
		want   map[string]map[string]int64 // item -> fields of its row
		dirty  []string                    // rows marked dirty
	}{
		{"a first purchase counts in P only", []ev{{false, "a", 0}},
			Retention{Purchases: 3}, map[string]map[string]int64{"a": {p: 1}}, []string{"a"}},
		{"repeats by their gaps", []ev{{false, "a", 0}, {false, "a", 3 * time.Hour}, {false, "a", 3*time.Hour + 2*day}, {false, "a", 200 * day}},
			Retention{Purchases: 3}, map[string]map[string]int64{"a": {p: 4, g(0): 1, g(2): 1, g(8): 1}}, []string{"a"}},
		{"a gap is measured from the latest event, and a late one counts 0", []ev{{false, "a", 10 * day}, {false, "a", 0}, {false, "a", 11 * day}},
			Retention{Purchases: 3}, map[string]map[string]int64{"a": {p: 3, g(0): 1, g(1): 1}}, []string{"a"}},
		{"views count nothing", []ev{{true, "a", 0}, {true, "a", day}, {false, "a", 2 * day}},
			Retention{Purchases: 3, Views: 3}, map[string]map[string]int64{"a": {p: 1}}, []string{"a"}},
		{"an evicted item bought again is no repeat", []ev{{false, "a", 0}, {false, "b", day}, {false, "a", 2 * day}},
			Retention{Purchases: 1}, map[string]map[string]int64{"a": {p: 2}, "b": {p: 1}}, []string{"a", "b"}},
		{"an aged item bought again is no repeat", []ev{{false, "a", 0}, {false, "a", 40 * day}},
			Retention{Purchases: 3, MaxAge: 30 * day}, map[string]map[string]int64{"a": {p: 2}}, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, hist, views := play(t0, tc.events, tc.ret)
			got := map[string]map[string]int64{}
			for k, fields := range sums(b) {
				for f, n := range fields {
					if k.Kind == TotalsKey && f != schema.FieldItemPurchases {
						continue // the catalogue's gap buckets (TestIncrementalEqualsBatch checks them)
					}
					if schema.IsRebuyField(f) {
						if k.Kind != RowKey {
							t.Errorf("%s in a %v hash", f, k)
						}
						if got[k.Item] == nil {
							got[k.Item] = map[string]int64{}
						}
						got[k.Item][f] = n
					}
				}
			}
			if !maps.EqualFunc(got, tc.want, maps.Equal) {
				t.Errorf("statistics %v, want %v", got, tc.want)
			}
			// Only the purchase rows whose lists change are dirty: a repeat
			// alone marks none.
			var dirty []string
			for k := range b.Dirty {
				if k.Kind == RowKey {
					dirty = append(dirty, k.Item)
				}
			}
			slices.Sort(dirty)
			if !slices.Equal(dirty, tc.dirty) {
				t.Errorf("dirty rows %v, want %v", dirty, tc.dirty)
			}
			b.Erase(&hist, &views, int64(len(tc.events)))
			for it, fields := range tc.want {
				if left := sums(b)[Key{Kind: RowKey, Item: it}]; !maps.Equal(left, fields) {
					t.Errorf("after erasure row %s holds %v, want the statistics %v", it, left, fields)
				}
			}
		})
	}
	// A repeat alone changes no list: its batch marks nothing dirty.
	b := NewBatch(0)
	h := History{}
	h.Touch("a", t0.UnixMilli(), 1, 3)
	b.Purchase(&h, &History{}, "a", t0.Add(day), 5, Retention{Purchases: 3})
	if len(b.Dirty) != 0 {
		t.Errorf("a repeat marked %v dirty", b.Dirty)
	}
}
