package synth

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
)

func generate(t *testing.T, cfg Config) []event.Event {
	t.Helper()
	evs, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != cfg.Events {
		t.Fatalf("%d events, want %d", len(evs), cfg.Events)
	}
	return evs
}

// shapes are the kinds of stream: a fixed set of customers, and churn.
var shapes = []struct {
	name string
	cfg  Config
}{
	{"fixed customers", Config{}},
	{"churn", Config{Churn: true, Days: 60}},
	{"churn with item turnover", Config{Churn: true, Days: 60, ItemTurnover: 0.02}},
}

func TestDeterministicForASeed(t *testing.T) {
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			cfg := shape.cfg
			cfg.Events, cfg.Seed = 5000, 7
			a, b := generate(t, cfg), generate(t, cfg)
			for i := range a {
				if !a[i].Equal(b[i]) {
					t.Fatalf("event %d differs between two runs of seed 7: %+v / %+v", i, a[i], b[i])
				}
			}
			cfg.Seed = 8
			c := generate(t, cfg)
			same := 0
			for i := range a {
				if a[i].Equal(c[i]) {
					same++
				}
			}
			if same > len(a)/10 {
				t.Fatalf("seeds 7 and 8 share %d of %d events: the seed does not drive the stream", same, len(a))
			}
		})
	}
}

func TestEventsAreValidSortedAndUnique(t *testing.T) {
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			cfg := shape.cfg
			cfg.Events, cfg.Seed = 20000, 1
			validSortedAndUnique(t, cfg)
		})
	}
}

func validSortedAndUnique(t *testing.T, cfg Config) {
	evs := generate(t, cfg)
	lim := event.DefaultLimits(time.Now())
	ids := make(map[string]bool, len(evs))
	d := cfg.Defaults()
	end := d.Start.Add(time.Duration(d.Days) * 24 * time.Hour)
	for i, e := range evs {
		if err := e.Validate(lim); err != nil {
			t.Fatalf("event %d %+v: %v", i, e, err)
		}
		if ids[e.ID] {
			t.Fatalf("event id %s used twice", e.ID)
		}
		ids[e.ID] = true
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatalf("event %d at %s comes after one at %s: not sorted by time", i, e.Time, evs[i-1].Time)
		}
		if e.Category == "" {
			t.Fatalf("event %d has no category", i)
		}
		// Sessions that start near the end run a little past it.
		if e.Time.Before(d.Start) || e.Time.After(end.Add(3*time.Hour)) {
			t.Fatalf("event %d at %s is outside [%s, %s]", i, e.Time, d.Start, end)
		}
	}
}

func TestAboutFivePercentPurchases(t *testing.T) {
	evs := generate(t, Config{Events: 50000, Seed: 3})
	views := 0
	for _, e := range evs {
		if e.Type == event.View {
			views++
		}
	}
	if share := float64(views) / float64(len(evs)); share < 0.94 || share > 0.96 {
		t.Fatalf("views are %.3f of the events, want about 0.95", share)
	}
}

// counts returns the events per key, largest first.
func counts(evs []event.Event, key func(event.Event) string) []int {
	m := map[string]int{}
	for _, e := range evs {
		m[key(e)]++
	}
	out := make([]int, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

func share(sorted []int, top int) float64 {
	total, head := 0, 0
	for i, n := range sorted {
		total += n
		if i < top {
			head += n
		}
	}
	return float64(head) / float64(total)
}

// TestItemPopularityIsZipf: the head of the catalogue takes most events,
// and the frequency of the item of rank r falls like r^-s.
func TestItemPopularityIsZipf(t *testing.T) {
	cfg := Config{Events: 100000, Seed: 5}
	evs := generate(t, cfg)
	byItem := counts(evs, func(e event.Event) string { return e.ItemID })
	items := cfg.Defaults().Items
	if s := share(byItem, items/100); s < 0.3 {
		t.Errorf("the top 1%% of items take %.2f of the events, want a Zipf head (> 0.3)", s)
	}
	// Rank 1 against rank 10: about 10^1.1 = 12.6 under Zipf(1.1); the
	// in-category draws flatten it a little.
	if r := float64(byItem[0]) / float64(byItem[9]); r < 5 || r > 30 {
		t.Errorf("the best item has %d events and the 10th %d (ratio %.1f), want about 10 (Zipf)", byItem[0], byItem[9], r)
	}
	if median := byItem[len(byItem)/2]; byItem[0] < 100*median {
		t.Errorf("the best item has %d events, the median %d: the head should be two orders of magnitude above", byItem[0], median)
	}
}

func TestCustomerActivityIsHeavyTailed(t *testing.T) {
	cfg := Config{Events: 100000, Seed: 9}
	evs := generate(t, cfg)
	byCustomer := counts(evs, func(e event.Event) string { return e.CustomerID })
	median := byCustomer[len(byCustomer)/2]
	if byCustomer[0] < 20*median {
		t.Errorf("the most active customer has %d events, the median %d: want a heavy tail (> 20x)", byCustomer[0], median)
	}
	if s := share(byCustomer, len(byCustomer)/10); s < 0.35 {
		t.Errorf("the top 10%% of customers have %.2f of the events, want > 0.35", s)
	}
	if byCustomer[0] > len(evs)/20 {
		t.Errorf("one customer has %d of %d events: the weight cap does not hold", byCustomer[0], len(evs))
	}
}

// TestPurchasesFollowViews: most purchases are of an item the customer
// viewed shortly before, which is what viewed-then-bought lists learn.
func TestPurchasesFollowViews(t *testing.T) {
	evs := generate(t, Config{Events: 50000, Seed: 11})
	viewed := map[[2]string]bool{}
	purchases, afterView := 0, 0
	for _, e := range evs {
		k := [2]string{e.CustomerID, e.ItemID}
		if e.Type == event.View {
			viewed[k] = true
			continue
		}
		purchases++
		if viewed[k] {
			afterView++
		}
	}
	if f := float64(afterView) / float64(purchases); f < 0.5 {
		t.Fatalf("%.2f of the purchases follow a view of the item by the customer, want most", f)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{}, {Events: -1}, {Events: 10, ItemSkew: 1}, {Events: 10, PurchaseShare: 2}, {Events: 10, Days: -1},
		{Events: 10, ItemTurnover: 0.1}, {Events: 10, Churn: true, ItemTurnover: 1}, {Events: 10, Churn: true, ItemTurnover: -0.1}} {
		if _, err := Generate(cfg); err == nil {
			t.Errorf("Generate(%+v): want an error", cfg)
		}
	}
}

func TestDefaultsScaleWithEvents(t *testing.T) {
	small, large := Config{Events: 1000}.Defaults(), Config{Events: 1_000_000}.Defaults()
	if small.Items != 100 || large.Items != 50000 || large.Customers != 83333 {
		t.Fatalf("defaults: small %+v, large %+v", small, large)
	}
	if !slices.Equal([]int{small.Days, small.Categories}, []int{30, 40}) {
		t.Fatalf("defaults: %+v", small)
	}
}
