package recommend

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

const day = 24 * time.Hour

// gapsAt is a gap histogram with n repeats in the bucket of gap d.
func gapsAt(d time.Duration, n int64) [schema.GapBuckets]int64 {
	var g [schema.GapBuckets]int64
	g[schema.GapBucket(d)] = n
	return g
}

// rebuy is an item's stats: p purchases, of which the repeats came after
// gaps like d.
func rebuy(p int64, d time.Duration, repeats int64) store.Rebuy {
	return store.Rebuy{Purchases: p, Gaps: gapsAt(d, repeats)}
}

func TestRepeatModel(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	// The catalogue: a tenth of purchases are repeats, after a week or a
	// month in equal parts.
	var catalogue [schema.GapBuckets]int64
	catalogue[schema.GapBucket(7*day)] = 500
	catalogue[schema.GapBucket(30*day)] = 500
	const r = 0.1
	nobodyListed := func(string) int64 { return 0 }
	tests := []struct {
		name  string
		owned map[string]OwnedItem
		r     float64
		// want: the items with a share, most likely first; customer: q_c.
		want     []string
		customer float64
	}{
		{
			name:  "nothing owned: the customer repeats like the catalogue, with nothing to repeat",
			r:     r,
			owned: map[string]OwnedItem{},
		},
		{
			name:  "where nobody buys again, nothing comes back",
			r:     0,
			owned: map[string]OwnedItem{"film": {Count: 1, Last: now.Add(-day), Stats: rebuy(300, 0, 0)}},
		},
		{
			name: "a staple comes back, a sofa never: enough sofas were sold without a second one",
			r:    r,
			owned: map[string]OwnedItem{
				"milk": {Count: 4, Last: now.Add(-6 * day), Stats: rebuy(100, 7*day, 40)},
				"sofa": {Count: 1, Last: now.Add(-6 * day), Stats: rebuy(ItemRepeatPrior, 0, 0)},
			},
			want: []string{"milk"},
			// (3 repeats + 10 x 0.1) / (5 purchases + 10)
			customer: 4.0 / 15,
		},
		{
			name: "an item too new to judge keeps the catalogue's repeat share",
			r:    r,
			owned: map[string]OwnedItem{
				"new-jam": {Count: 1, Last: now.Add(-7 * day), Stats: rebuy(ItemRepeatPrior-1, 0, 0)},
			},
			want:     []string{"new-jam"},
			customer: 1.0 / 11,
		},
		{
			name: "the same counts: the item bought again at its usual gap ranks first",
			r:    r,
			owned: map[string]OwnedItem{
				// Both are re-bought weekly; coffee was bought a week ago,
				// tea yesterday.
				"coffee": {Count: 2, Last: now.Add(-7 * day), Stats: rebuy(100, 7*day, 50)},
				"tea":    {Count: 2, Last: now.Add(-day), Stats: rebuy(100, 7*day, 50)},
			},
			want:     []string{"coffee", "tea"},
			customer: 3.0 / 14,
		},
		{
			name: "more purchases of it, more likely again",
			r:    r,
			owned: map[string]OwnedItem{
				"bread": {Count: 6, Last: now.Add(-7 * day), Stats: rebuy(100, 7*day, 20)},
				"eggs":  {Count: 2, Last: now.Add(-7 * day), Stats: rebuy(100, 7*day, 20)},
			},
			want:     []string{"bread", "eggs"},
			customer: 7.0 / 18,
		},
		{
			name: "owned but without a count (bought before the retained history): never offered back",
			r:    r,
			owned: map[string]OwnedItem{
				"old": {Stats: rebuy(100, 7*day, 50)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newRepeatModel(tt.owned, tt.r, catalogue, now, nobodyListed)
			var sum float64
			for item := range tt.owned {
				sum += m.of(item)
			}
			if len(tt.want) == 0 {
				if sum != 0 {
					t.Fatalf("shares sum to %v, want nothing offered back", sum)
				}
				return
			}
			if math.Abs(m.share-tt.customer) > 1e-12 {
				t.Errorf("q_c = %v, want %v", m.share, tt.customer)
			}
			if math.Abs(sum-m.share) > 1e-12 {
				t.Errorf("shares sum to %v, want q_c = %v", sum, m.share)
			}
			for i, item := range tt.want {
				if !(m.of(item) > 0) {
					t.Errorf("%s has share %v, want > 0", item, m.of(item))
				}
				if i > 0 && !(m.of(tt.want[i-1]) > m.of(item)) {
					t.Errorf("%s (%v) should rank above %s (%v)", tt.want[i-1], m.of(tt.want[i-1]), item, m.of(item))
				}
			}
			for item := range tt.owned {
				if !contains(tt.want, item) && m.of(item) != 0 {
					t.Errorf("%s has share %v, want 0", item, m.of(item))
				}
			}
		})
	}
}

// TestRepeatModelByHand is the README's worked example
// (docs/DESIGN.md section 12), number by number.
func TestRepeatModelByHand(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var catalogue [schema.GapBuckets]int64
	catalogue[schema.GapBucket(5*day)] = 300  // [4, 8) days
	catalogue[schema.GapBucket(20*day)] = 700 // [16, 32) days
	owned := map[string]OwnedItem{
		// Bought 3 times, last 5 days ago; 40 purchases, 20 of them
		// repeats, 15 after 4 to 8 days; 15 bought in the window.
		"milk": {Count: 3, Last: now.Add(-5 * day), Stats: store.Rebuy{Purchases: 40,
			Gaps: func() (g [schema.GapBuckets]int64) { g[3], g[5] = 15, 5; return }()}},
		// Bought once, 20 days ago; 4 purchases, no repeat yet; not bought
		// in the window.
		"jam": {Count: 1, Last: now.Add(-20 * day), Stats: store.Rebuy{Purchases: 4}},
	}
	popular := map[string]int64{"milk": 15}
	m := newRepeatModel(owned, 0.2, catalogue, now, func(item string) int64 { return popular[item] })

	// q_c = (2 repeats + 10 x 0.2) / (4 purchases + 10) = 4/14.
	q := 4.0 / 14
	// milk: rho = (20 + 10 x 0.2) / (40 + 10) = 0.44; its bucket [4, 8)
	// days holds 0.3 of the catalogue's gaps, and (15 + GapPrior x 0.3) /
	// (20 + GapPrior) of its own; popularity (15 + 1)^0.5 = 4.
	milkTiming := (15 + GapPrior*0.3) / (20 + GapPrior) / 0.3
	milk := 3 * 0.44 * milkTiming * 4.0
	// jam: rho = (0 + 2) / (4 + 10) = 1/7; bucket [16, 32): 0.7 of the
	// catalogue's, (0 + GapPrior x 0.7) / (0 + GapPrior) of its own: tau = 1;
	// popularity 1.
	jam := 1 * (1.0 / 7) * 1 * 1.0
	for item, w := range map[string]float64{"milk": milk, "jam": jam} {
		want := q * w / (milk + jam)
		if got := m.of(item); math.Abs(got-want) > 1e-12 {
			t.Errorf("%s: share %v, want %v", item, got, want)
		}
	}
}

func contains(items []string, x string) bool {
	for _, it := range items {
		if it == x {
			return true
		}
	}
	return false
}

// TestRepeatModelIsDeterministic: the same request gives the same shares to
// the last bit, whatever order Go's maps hand the owned items out in, so
// that two answers to one request (the API's, the evaluator's two
// trainers') never order near-ties differently.
func TestRepeatModelIsDeterministic(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var catalogue [schema.GapBuckets]int64
	for b := range catalogue {
		catalogue[b] = int64(10 + 7*b)
	}
	owned := map[string]OwnedItem{}
	for i := range 60 {
		owned[fmt.Sprintf("item-%02d", i)] = OwnedItem{Count: int64(1 + i%5), Last: now.Add(-time.Duration(i*13) * time.Hour),
			Stats: rebuy(int64(20+i*3), time.Duration(i)*day, int64(i%7))}
	}
	popular := func(item string) int64 { return int64(len(item) * 3) }
	first := newRepeatModel(owned, 0.17, catalogue, now, popular)
	for range 50 {
		again := newRepeatModel(owned, 0.17, catalogue, now, popular)
		for item, w := range first.weights {
			if again.weights[item] != w {
				t.Fatalf("%s: share %v, then %v", item, w, again.weights[item])
			}
		}
	}
}
