package delta

import (
	"testing"
	"time"

	"github.com/alsobought/alsobought/store/schema"
)

// TestViewedBoughtRetraction: M_XY counts the customers whose view history
// holds X and purchase history holds Y ≠ X, X having entered before Y
// (docs/DESIGN.md section 3). A purchase entering adds the pairs with the
// views before it; an entry leaving (K eviction, ageing) takes back exactly
// its pairs; a repeat or refresh keeps the entry's place in the order. Each
// case is one customer's events from empty state, K_hist = K_view = 2;
// want is the viewed-then-bought rows they leave (zero counters absent).
// Erasing the customer afterwards must leave no counter at all but the
// anonymous purchase and repeat counts.
func TestViewedBoughtRetraction(t *testing.T) {
	const age = time.Hour
	t0 := time.UnixMilli(1_700_000_000_000)
	type ev = testEvent
	v := func(x string) ev { return ev{true, x, 0} }
	p := func(y string) ev { return ev{false, y, 0} }
	m := func(pairs ...string) map[string]int64 {
		out := map[string]int64{schema.FieldViewedTotal: int64(len(pairs))}
		for _, y := range pairs {
			out[y]++
		}
		return out
	}
	vb := func(x string) Key { return Key{Kind: ViewedBoughtKey, Item: x} }
	tests := []struct {
		name   string
		maxAge time.Duration
		events []ev
		want   map[Key]map[string]int64
	}{
		{"a purchase pairs with every view before it", 0,
			[]ev{v("x"), v("w"), p("z")},
			map[Key]map[string]int64{vb("x"): m("z"), vb("w"): m("z")}},
		{"a view after the purchase pairs with nothing", 0,
			[]ev{p("z"), v("x")}, nil},
		{"a view evicted after a purchase takes its pair back", 0,
			[]ev{v("x"), v("w"), p("z"), v("u")}, // u evicts x
			map[Key]map[string]int64{vb("w"): m("z")}},
		{"a view evicted takes back nothing for purchases before it", 0,
			[]ev{p("z"), v("x"), v("w"), p("q"), v("u")}, // u evicts x, which entered after z
			map[Key]map[string]int64{vb("w"): m("q")}},
		{"a refreshed view keeps its number: evicted later, it takes its pair back", 0,
			[]ev{v("x"), p("z"), v("x"), v("w"), v("u")}, // the refresh of x entered nothing; u evicts x
			map[Key]map[string]int64{}},
		{"a refresh moves recency: the view not refreshed is evicted, the refreshed keeps its pair", 0,
			[]ev{v("x"), v("w"), p("z"), v("x"), v("u")}, // u evicts w
			map[Key]map[string]int64{vb("x"): m("z")}},
		{"a purchase evicted takes its pairs back", 0,
			[]ev{v("x"), p("z"), p("q"), p("r")}, // r evicts z
			map[Key]map[string]int64{vb("x"): m("q", "r")}},
		{"a repeat purchase counts nothing and keeps its number", 0,
			[]ev{v("x"), p("z"), v("w"), p("z"), p("q"), p("r")}, // the repeat of z pairs with no w; r evicts z, which had no pair with w
			map[Key]map[string]int64{vb("x"): m("q", "r"), vb("w"): m("q", "r")}},
		{"X == Y: a viewed item bought pairs with the other views only, and its view leaving takes nothing", 0,
			[]ev{v("x"), v("w"), p("x"), v("u")}, // u evicts the view of x; x stays bought
			map[Key]map[string]int64{vb("w"): m("x")}},
		{"an item evicted and viewed again enters with a new number", 0,
			[]ev{v("x"), p("z"), v("w"), v("u"), v("x"), p("q"), p("r")}, // u evicts x; x evicts w; r evicts z, which x now follows
			map[Key]map[string]int64{vb("u"): m("q", "r"), vb("x"): m("q", "r")}},
		{"an aged view takes its pair back, the purchase stays", age,
			[]ev{{true, "x", 0}, {false, "z", 30 * time.Minute}, {true, "w", 90 * time.Minute}},
			map[Key]map[string]int64{}},
		{"an aged purchase takes its pairs back, the view stays", age,
			[]ev{{true, "x", 0}, {false, "z", 10 * time.Minute}, {true, "x", 50 * time.Minute}, {false, "y", 80 * time.Minute}}, // the refresh keeps x
			map[Key]map[string]int64{vb("x"): m("y")}},
		{"an aged purchase the view entered after takes nothing", age,
			[]ev{{false, "q", 0}, {true, "x", 10 * time.Minute}, {false, "z", 20 * time.Minute}, {false, "y", 70 * time.Minute}},
			map[Key]map[string]int64{vb("x"): m("z", "y")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, hist, views := play(t0, tc.events, Retention{Purchases: 2, Views: 2, MaxAge: tc.maxAge})
			got := sums(b)
			for k := range got {
				if k.Kind != ViewedBoughtKey {
					delete(got, k)
				}
			}
			sameSums(t, got, tc.want)
			// Erasure then takes back everything the customer fed, M
			// included; only the purchase and repeat counts (anonymous
			// aggregates, also per item) stay.
			b.Erase(&hist, &views, int64(len(tc.events)))
			left := withoutRebuy(sums(b))
			totals := Key{Kind: TotalsKey}
			delete(left[totals], schema.FieldPurchases)
			delete(left[totals], schema.FieldRepeats)
			if len(left[totals]) == 0 {
				delete(left, totals)
			}
			sameSums(t, left, nil)
			if len(hist.Items) != 0 || len(views.Items) != 0 {
				t.Errorf("erased histories hold %v and %v", hist.Items, views.Items)
			}
		})
	}
}
