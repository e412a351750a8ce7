package synth

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
)

// A year of a churning shop: 1,000 events a day, 30,000 customers arriving
// over the year (83 a day) on top of those already active.
var (
	churnCfg   = Config{Events: 360_000, Days: 360, Seed: 4, Churn: true}.Defaults()
	churnYear  = sync.OnceValues(func() ([]event.Event, []life) { return generateChurn(churnCfg) })
	monthOfDay = 30
)

// dayOf is the day of an event since the stream's start.
func dayOf(cfg Config, e event.Event) int { return int(e.Time.Sub(cfg.Start) / day) }

func TestChurnDailyVolumeIsConstant(t *testing.T) {
	evs, _ := churnYear()
	perDay := make([]int, churnCfg.Days+1)
	for _, e := range evs {
		perDay[min(dayOf(churnCfg, e), churnCfg.Days)]++
	}
	want := churnCfg.Events / churnCfg.Days
	for d, n := range perDay[:churnCfg.Days] {
		if math.Abs(float64(n-want)) > 0.05*float64(want) {
			t.Errorf("day %d has %d events, want %d ± 5%%", d, n, want)
		}
	}
	if perDay[churnCfg.Days] > want/100 {
		t.Errorf("%d events after the last day: only sessions that start near its end may run past it", perDay[churnCfg.Days])
	}
}

// TestChurnCustomersComeAndGo: the customers active in a month reach a
// plateau while new ones keep arriving at a steady rate, so the customers
// ever seen grow without bound (what unbounded state grows with) while
// those of the last month do not (what bounded state should keep).
func TestChurnCustomersComeAndGo(t *testing.T) {
	evs, _ := churnYear()
	months := churnCfg.Days / monthOfDay
	active := make([]map[string]bool, months)
	for m := range active {
		active[m] = map[string]bool{}
	}
	firstSeen := make([]int, months)
	seen := map[string]bool{}
	for _, e := range evs {
		m := min(dayOf(churnCfg, e)/monthOfDay, months-1)
		active[m][e.CustomerID] = true
		if !seen[e.CustomerID] {
			seen[e.CustomerID] = true
			firstSeen[m]++
		}
	}
	var actives []float64
	for _, a := range active {
		actives = append(actives, float64(len(a)))
	}
	// The first month already holds the customers of a running shop.
	if lo, hi, mean := spread(actives); lo < 0.9*mean || hi > 1.1*mean {
		t.Errorf("customers active per month %v: want a plateau (each within 10%% of the mean %.0f)", actives, mean)
	}
	// The first months also see the customers who arrived before the
	// stream started; from the third on, the newcomers alone.
	var newcomers []float64
	for _, n := range firstSeen[2:] {
		newcomers = append(newcomers, float64(n))
	}
	arriving := float64(churnCfg.Customers) / float64(churnCfg.Days) * float64(monthOfDay)
	if lo, hi, mean := spread(newcomers); lo < 0.85*mean || hi > 1.15*mean || mean < 0.3*arriving || mean > arriving {
		t.Errorf("customers first seen per month %v (mean %.0f): want steady, between 30%% and all of the %.0f arriving a month (a customer of low activity and a short stay may send no event at all)", newcomers, mean, arriving)
	}
	if last := actives[months-1]; float64(len(seen)) < 3*last {
		t.Errorf("%d customers seen over the year, %.0f in its last month: most customers should have left by its end", len(seen), last)
	}
}

// spread is the least, the greatest and the mean of xs.
func spread(xs []float64) (lo, hi, mean float64) {
	lo, hi = slices.Min(xs), slices.Max(xs)
	for _, x := range xs {
		mean += x
	}
	return lo, hi, mean / float64(len(xs))
}

// TestChurnLifetimes: most customers stay weeks to months, a few for
// years (log-normal, median 30 days).
func TestChurnLifetimes(t *testing.T) {
	_, lives := churnYear()
	var stays []float64
	for _, l := range lives {
		if l.from >= 0 { // arrived within the stream: no bias towards long stays
			stays = append(stays, l.to-l.from)
		}
	}
	slices.Sort(stays)
	shareBelow := func(days float64) float64 {
		i, _ := slices.BinarySearch(stays, days)
		return float64(i) / float64(len(stays))
	}
	for _, c := range []struct {
		what     string
		got      float64
		min, max float64
	}{
		{"median stay, days", stays[len(stays)/2], 27, 33},
		{"share staying under a week", shareBelow(7), 0.09, 0.14},
		{"share staying a week to six months", shareBelow(182) - shareBelow(7), 0.78, 0.84},
		{"share staying over six months", 1 - shareBelow(182), 0.05, 0.09},
		{"share staying over a year", 1 - shareBelow(365), 0.01, 0.03},
	} {
		if c.got < c.min || c.got > c.max {
			t.Errorf("%s: %.3f, want within [%v, %v]", c.what, c.got, c.min, c.max)
		}
	}
}

// TestChurnEventsLieWithinLifetimes: a customer's events are spread over
// their stay and never fall outside it (a session that starts just before
// the customer leaves may run a few minutes past).
func TestChurnEventsLieWithinLifetimes(t *testing.T) {
	evs, lives := churnYear()
	byID := map[string]life{}
	for _, l := range lives {
		byID[l.id] = l
	}
	slack := float64(3*time.Hour) / float64(day)
	for _, e := range evs {
		l, ok := byID[e.CustomerID]
		at := float64(e.Time.Sub(churnCfg.Start)) / float64(day)
		if !ok || at < l.from || at > l.to+slack {
			t.Fatalf("event %+v at day %.3f is outside its customer's stay %+v", e, at, l)
		}
	}
}

// TestChurnItemTurnover: with turnover, items leave and new ones take
// their ranks, so the items of the last month are mostly not those of the
// first, while popularity keeps its Zipf head.
func TestChurnItemTurnover(t *testing.T) {
	for _, c := range []struct {
		turnover     float64
		minNewShare  float64 // of the last month's events, on items that did not exist at the start
		maxNewShare  float64
		maxTopShared int // of the first month's 100 best items, still among the last month's
	}{
		{turnover: 0, minNewShare: 0, maxNewShare: 0, maxTopShared: 100},
		{turnover: 0.01, minNewShare: 0.5, maxNewShare: 0.8, maxTopShared: 60},
	} {
		cfg := Config{Events: 120_000, Days: 120, Seed: 2, Churn: true, ItemTurnover: c.turnover}
		evs := generate(t, cfg)
		cfg = cfg.Defaults()
		first, last := []event.Event{}, []event.Event{}
		for _, e := range evs {
			switch d := dayOf(cfg, e); {
			case d < monthOfDay:
				first = append(first, e)
			case d >= cfg.Days-monthOfDay:
				last = append(last, e)
			}
		}
		items := cfg.Items
		newItems := 0
		for _, e := range last {
			if n, _ := strconv.Atoi(strings.TrimPrefix(e.ItemID, "i")); n >= items {
				newItems++
			}
		}
		if s := float64(newItems) / float64(len(last)); s < c.minNewShare || s > c.maxNewShare {
			t.Errorf("turnover %v: new items take %.2f of the last month's events, want within [%v, %v]", c.turnover, s, c.minNewShare, c.maxNewShare)
		}
		top := func(evs []event.Event) map[string]bool {
			n := map[string]int{}
			for _, e := range evs {
				n[e.ItemID]++
			}
			ids := make([]string, 0, len(n))
			for id := range n {
				ids = append(ids, id)
			}
			slices.SortFunc(ids, func(a, b string) int { return n[b] - n[a] })
			out := map[string]bool{}
			for _, id := range ids[:100] {
				out[id] = true
			}
			return out
		}
		shared, lastTop := 0, top(last)
		for id := range top(first) {
			if lastTop[id] {
				shared++
			}
		}
		if shared > c.maxTopShared {
			t.Errorf("turnover %v: %d of the first month's 100 best items are among the last month's, want at most %d", c.turnover, shared, c.maxTopShared)
		}
		if c.turnover == 0 && shared < 80 {
			t.Errorf("no turnover: only %d of the first month's 100 best items are among the last month's: the catalogue should stay", shared)
		}
		if s := share(counts(last, func(e event.Event) string { return e.ItemID }), items/100); s < 0.3 {
			t.Errorf("turnover %v: the top 1%% of items take %.2f of the last month's events, want a Zipf head (> 0.3)", c.turnover, s)
		}
	}
}
