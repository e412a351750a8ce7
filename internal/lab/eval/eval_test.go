package eval

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/scoring"
)

var t0 = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// ev builds an event on day d (plus minutes m) of the test calendar.
func ev(customer string, typ event.Type, item string, d, m int) event.Event {
	return event.Event{ID: fmt.Sprintf("%s-%s-%s-%d-%d", customer, typ, item, d, m), Type: typ, CustomerID: customer,
		ItemID: item, Time: t0.Add(time.Duration(d)*24*time.Hour + time.Duration(m)*time.Minute)}
}

func buy(c, item string, d, m int) event.Event  { return ev(c, event.Purchase, item, d, m) }
func view(c, item string, d, m int) event.Event { return ev(c, event.View, item, d, m) }

func trainer() OracleTrainer {
	return OracleTrainer{Settings: oracle.Settings{HistorySize: 50, ViewHistorySize: 30, Dedup: delta.DefaultDedup},
		Rules: scoring.DefaultListRules()}
}

func results(r *Report) map[Target]map[string]Result {
	out := map[Target]map[string]Result{}
	for _, res := range r.Results {
		if out[res.Target] == nil {
			out[res.Target] = map[string]Result{}
		}
		out[res.Target][res.Method] = res
	}
	return out
}

type want struct {
	hr, recall float64
	items      int
}

func check(t *testing.T, got map[string]Result, wants map[string]want, customers int) {
	t.Helper()
	for m, w := range wants {
		g, ok := got[m]
		if !ok {
			t.Errorf("%s: no result", m)
			continue
		}
		if g.Customers != customers || math.Abs(g.HR-w.hr) > 1e-12 || math.Abs(g.Recall-w.recall) > 1e-12 || g.Items != w.items {
			t.Errorf("%s: got HR %.4f recall %.4f items %d over %d customers, want HR %.4f recall %.4f items %d over %d",
				m, g.HR, g.Recall, g.Items, g.Customers, w.hr, w.recall, w.items, customers)
		}
	}
}

// TestCustomerProtocolHandComputed is docs/DESIGN.md section 7 on a data set
// small enough to work out by hand.
//
// Before the cutoff (day 10): c1 and c2 buy a and b, c3 buys a and c, c4
// buys c and d, c5 buys d. Only a-b has the support of two customers, so
// a's list is [b] and b's is [a] under every score; popularity is a (3),
// then b, c, d (2 each, by id).
//
// In the window: c1 buys x, c3 buys b, c4 buys a, c5 buys d again, and c6
// (unknown before) buys a. Judged: c1, c3, c4, c5 (c6 has no history).
//   - scores: only c3 gets a recommendation (b, from a's list): HR 1/4.
//   - popularity without owned items: c1 [c d], c3 [b d], c4 [a b],
//     c5 [a b]: hits for c3 and c4, HR 2/4, every item recommended once.
//   - popularity with owned items: [a b] for everyone: hits for c3 and c4.
//   - served: nobody bought an item twice before the cutoff (repeat share
//     0), so owned items are out; c3 [b d] (b's lift from a's list, then
//     popularity), the others as popularity: HR 2/4.
//   - c5 re-buys an owned item, which only popularity_with_owned may
//     recommend, and it does not (d is not in its top 2): a miss.
//   - buy_again: each customer's own items, most bought first, the most
//     recent first among equals (all bought once), topped up with
//     popularity: c1 [b a], c3 [c a], c4 [d c], c5 [d a]: only c5's d
//     hits, HR 1/4, items a, b, c, d.
//   - discovery judges what each method offers when asked for new items
//     only (buy_again and popularity_with_owned give popularity's, served
//     its answer without buy-again): c5's only target is owned, so 3
//     customers remain; the popularity rows, buy_again and served hit c3
//     and c4 (2/3), the scores c3 (1/3).
//   - the baseline is the best of popularity (0.5), popularity_with_owned
//     (0.5) and buy_again (0.25): popularity, the first of the tie; served
//     reaches 1.0 times it.
func TestCustomerProtocolHandComputed(t *testing.T) {
	events := []event.Event{
		buy("c1", "a", 1, 0), buy("c1", "b", 1, 1),
		buy("c2", "a", 2, 0), buy("c2", "b", 2, 1),
		buy("c3", "a", 3, 0), buy("c3", "c", 3, 1),
		buy("c4", "c", 4, 0), buy("c4", "d", 4, 1),
		buy("c5", "d", 5, 0),
		buy("c1", "x", 11, 0), buy("c3", "b", 12, 0), buy("c4", "a", 13, 0),
		buy("c5", "d", 14, 0), buy("c6", "a", 15, 0),
	}
	cfg := Config{Protocol: Customers, Cutoff: t0.Add(10 * 24 * time.Hour), Windows: 1, Horizon: 14 * 24 * time.Hour,
		K: 2, Served: scoring.Amazon2017}
	r, err := Run(context.Background(), events, cfg, trainer())
	if err != nil {
		t.Fatal(err)
	}
	got := results(r)
	if r.Customers != 4 || r.ItemsSeen != 4 || len(got[TargetViewed]) != 0 {
		t.Fatalf("customers %d, items seen %d, view results %d: want 4, 4 and none (no views in the data)",
			r.Customers, r.ItemsSeen, len(got[TargetViewed]))
	}
	score := want{hr: 0.25, recall: 0.25, items: 1}
	check(t, got[TargetBought], map[string]want{
		MethodPopularity:      {hr: 0.5, recall: 0.5, items: 4},
		MethodPopularityOwned: {hr: 0.5, recall: 0.5, items: 2},
		"count":               score,
		"cosine":              score,
		"jaccard":             score,
		"llr":                 score,
		"amazon2017":          score,
		MethodServed:          {hr: 0.5, recall: 0.5, items: 4},
		MethodBuyAgain:        {hr: 0.25, recall: 0.25, items: 4},
	}, 4)
	for m, hits := range map[string]int{MethodPopularity: 2, MethodPopularityOwned: 2, "count": 1, "amazon2017": 1, MethodServed: 2, MethodBuyAgain: 2} {
		g := got[TargetBought][m]
		if g.DiscoveryCustomers != 3 || g.DiscoveryHits != hits || math.Abs(g.DiscoveryHR-float64(hits)/3) > 1e-12 {
			t.Errorf("%s discovery: %d hits over %d customers (HR %.4f), want %d over 3", m, g.DiscoveryHits, g.DiscoveryCustomers, g.DiscoveryHR, hits)
		}
	}
	if b := r.Baseline[TargetBought]; b != (Baseline{Method: MethodPopularity, HR: 0.5, ServedHR: 0.5, ServedOverBaseline: 1}) || len(r.Baseline) != 1 {
		t.Errorf("baseline %+v, want popularity at 0.5 with served 1.0 times it, for purchases only", r.Baseline)
	}
	for _, m := range []string{MethodViewed, MethodViewedBought, MethodEcho} {
		if _, ok := got[TargetBought][m]; ok {
			t.Errorf("%s reported on data without views or sessions", m)
		}
	}
	if c := got[TargetBought][MethodPopularity].Coverage; c != 1 {
		t.Errorf("popularity coverage %.2f, want 1 (all four items seen were recommended)", c)
	}
}

// TestOwnedIncludesWhatLeftTheHistory: with K_hist 1, c1's history
// holds only b; a, bought before, is in its ever-bought set. So the
// popularity row (owned items out) and the served answer skip a as well
// as b and recommend c, the item c1 buys in the window: a hit, where a
// history-only owned set would recommend a (a miss), as
// popularity_with_owned does.
func TestOwnedIncludesWhatLeftTheHistory(t *testing.T) {
	events := []event.Event{
		buy("c1", "a", 1, 0), buy("c1", "b", 1, 1),
		buy("c2", "a", 2, 0), buy("c2", "c", 2, 1),
		buy("c3", "a", 3, 0), buy("c3", "c", 3, 1),
		buy("c1", "c", 11, 0),
	}
	tr := trainer()
	tr.Settings.HistorySize = 1
	cfg := Config{Protocol: Customers, Cutoff: t0.Add(10 * 24 * time.Hour), Windows: 1, Horizon: 14 * 24 * time.Hour,
		K: 1, Served: scoring.Amazon2017}
	r, err := Run(context.Background(), events, cfg, tr)
	if err != nil {
		t.Fatal(err)
	}
	check(t, results(r)[TargetBought], map[string]want{
		MethodPopularity:      {hr: 1, recall: 1, items: 1},
		MethodPopularityOwned: {hr: 0, recall: 0, items: 1},
		MethodServed:          {hr: 1, recall: 1, items: 1},
	}, 1)
}

// TestSessionProtocolHandComputed: sessions s1 and s2 view p then q and
// buy q, s3 views p and r, s4 views r and buys r, all before the cutoff
// (day 10). So p's "viewed also viewed" list is [q] (two sessions), and
// its "viewed then bought" list [q] (M_pq = 2 against E = 2 * 2/3); no
// session bought two items, so every "bought also bought" list is empty.
// Popular purchases: q, r; popular views: p, q, r.
//
// After the cutoff:
//   - e1 views p and x, buys q: p is revealed; it is judged on q (bought)
//     and x (viewed). Popularity, viewed, viewed_bought and served put q
//     first: bought hits. The scores have no list: misses. Echo shows p:
//     a miss.
//   - e2 views q, p, p, y: q and p are revealed; judged on y (viewed; p is
//     revealed and so no target). Nothing recommends y. Echo shows p and q
//     and is judged without the exclusion, on p and y: a hit.
//   - e3 views r once: revealed, nothing left to judge.
//   - s5 started before the cutoff and is never judged.
func TestSessionProtocolHandComputed(t *testing.T) {
	events := []event.Event{
		view("s1", "p", 1, 0), view("s1", "q", 1, 1), buy("s1", "q", 1, 2),
		view("s2", "p", 2, 0), view("s2", "q", 2, 1), buy("s2", "q", 2, 2),
		view("s3", "p", 3, 0), view("s3", "r", 3, 1),
		view("s4", "r", 4, 0), buy("s4", "r", 4, 1),
		view("s5", "p", 9, 0),
		view("s5", "z", 11, 0), buy("s5", "z", 11, 1),
		view("e1", "p", 12, 0), view("e1", "x", 12, 1), buy("e1", "q", 12, 2),
		view("e2", "q", 13, 0), view("e2", "p", 13, 1), view("e2", "p", 13, 2), view("e2", "y", 13, 3),
		view("e3", "r", 14, 0),
	}
	cfg := Config{Protocol: Sessions, Cutoff: t0.Add(10 * 24 * time.Hour), Windows: 1, Horizon: 14 * 24 * time.Hour,
		K: 2, Served: scoring.Amazon2017}
	r, err := Run(context.Background(), events, cfg, trainer())
	if err != nil {
		t.Fatal(err)
	}
	got := results(r)
	if _, ok := got[TargetBought][MethodBuyAgain]; ok || r.Baseline != nil {
		t.Errorf("sessions have no purchase history: want no buy_again row and no baseline, got baseline %+v", r.Baseline)
	}
	if r.Customers != 1 || r.ViewCustomers != 2 {
		t.Fatalf("judged %d sessions for purchases and %d for views, want 1 and 2", r.Customers, r.ViewCustomers)
	}
	miss := want{}
	check(t, got[TargetBought], map[string]want{
		MethodPopularity:   {hr: 1, recall: 1, items: 2},
		"count":            miss,
		"amazon2017":       miss,
		MethodViewed:       {hr: 1, recall: 1, items: 1},
		MethodViewedBought: {hr: 1, recall: 1, items: 1},
		MethodServed:       {hr: 1, recall: 1, items: 2},
		MethodEcho:         {hr: 0, recall: 0, items: 1},
	}, 1)
	check(t, got[TargetViewed], map[string]want{
		MethodPopularity: {hr: 0, recall: 0, items: 2},
		MethodViewed:     {hr: 0, recall: 0, items: 1},
		MethodServed:     {hr: 0, recall: 0, items: 2}, // e1 [q r]; e2 [r]: its lists hold only revealed items
		MethodEcho:       {hr: 0.5, recall: 0.25, items: 2},
	}, 2)
}

func TestWindows(t *testing.T) {
	day := 24 * time.Hour
	first, last := t0, t0.Add(100*day)
	end := last.Add(time.Millisecond)
	tests := []struct {
		name    string
		cutoff  time.Time
		n       int
		horizon time.Duration
		want    []Window
		wantErr bool
	}{
		{name: "auto, one window: the last fifth, longer than the horizon", n: 1, horizon: 14 * day,
			want: []Window{{end.Add(-20 * day), end}}},
		{name: "auto, one window: the horizon, longer than a fifth", n: 1, horizon: 30 * day,
			want: []Window{{end.Add(-30 * day), end}}},
		{name: "auto, prequential windows end at the last event", n: 3, horizon: 10 * day,
			want: []Window{{end.Add(-30 * day), end.Add(-20 * day)}, {end.Add(-20 * day), end.Add(-10 * day)}, {end.Add(-10 * day), end}}},
		{name: "given cutoff: consecutive horizons, the last cut at the data's end", cutoff: t0.Add(80 * day), n: 2, horizon: 14 * day,
			want: []Window{{t0.Add(80 * day), t0.Add(94 * day)}, {t0.Add(94 * day), end}}},
		{name: "no training data before the first window", n: 8, horizon: 14 * day, wantErr: true},
		{name: "cutoff after the data", cutoff: t0.Add(200 * day), n: 1, horizon: day, wantErr: true},
		{name: "zero windows", n: 0, horizon: day, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Windows(first, last, tc.cutoff, tc.n, tc.horizon)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestPrequentialWindowsSumCustomers: a customer judged in two windows
// counts twice, and the second window's lists include the first window's
// events (nothing after a cutoff is used before it).
func TestPrequentialWindowsSumCustomers(t *testing.T) {
	events := []event.Event{
		buy("c1", "a", 1, 0), buy("c1", "b", 1, 1),
		buy("c2", "a", 2, 0), buy("c2", "b", 2, 1),
		buy("c3", "a", 3, 0),
		// window 1 (days 10-20): c3 buys b, a hit from a's list
		buy("c3", "b", 11, 0), buy("c4", "c", 12, 0), buy("c4", "d", 12, 1),
		// also in window 1, c5 buys c and d together, as c4 did
		buy("c5", "c", 15, 0), buy("c5", "d", 15, 1),
		buy("c6", "c", 16, 0),
		// window 2 (days 20-30)
		buy("c6", "d", 22, 0), buy("c3", "z", 29, 0),
	}
	cfg := Config{Protocol: Customers, Cutoff: t0.Add(10 * 24 * time.Hour), Windows: 2, Horizon: 10 * 24 * time.Hour,
		K: 1, Served: scoring.Count}
	r, err := Run(context.Background(), events, cfg, trainer())
	if err != nil {
		t.Fatal(err)
	}
	got := results(r)[TargetBought]["count"]
	// Window 1 judges only c3 (c4, c5 and c6 start in it): a hit, b from
	// a's list. Window 2 judges c6, whose c has the list [d] only from
	// window 1's events (c4 and c5): a hit; and c3 (z): a miss.
	if got.Customers != 3 || got.Hits != 2 {
		t.Fatalf("count: %d hits over %d customers, want 2 over 3", got.Hits, got.Customers)
	}
}

func TestByPurchases(t *testing.T) {
	tests := []struct {
		name    string
		history []string // least recent first
		counts  map[string]int64
		exclude []string
		k       int
		want    []string
	}{
		{name: "most bought first", history: []string{"a", "b", "c"}, counts: map[string]int64{"a": 1, "b": 3, "c": 2}, k: 3, want: []string{"b", "c", "a"}},
		{name: "the more recent first among equals", history: []string{"a", "b", "c"}, counts: map[string]int64{"a": 2, "b": 2, "c": 1}, k: 3, want: []string{"b", "a", "c"}},
		{name: "at most k", history: []string{"a", "b", "c"}, counts: map[string]int64{"a": 1, "b": 1, "c": 1}, k: 2, want: []string{"c", "b"}},
		{name: "excluded items left out", history: []string{"a", "b"}, counts: map[string]int64{"a": 5, "b": 1}, exclude: []string{"a"}, k: 3, want: []string{"b"}},
		{name: "no history", k: 3, want: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := map[string]bool{}
			for _, x := range tc.exclude {
				ex[x] = true
			}
			if got := byPurchases(tc.history, tc.counts, ex, tc.k); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPurchaseCounts: purchases only, a duplicate id (a producer's retry)
// counted once, as the consumer applies it once.
func TestPurchaseCounts(t *testing.T) {
	p := NewPurchaseCounts(delta.DefaultDedup)
	retry := buy("c1", "a", 1, 0)
	p.Add([]event.Event{retry, retry, buy("c1", "a", 2, 0), view("c1", "b", 2, 1), buy("c1", "b", 3, 0)})
	p.Add([]event.Event{buy("c2", "a", 4, 0), buy("c1", "a", 5, 0)})
	if got := fmt.Sprint(p.Of("c1"), p.Of("c2"), p.Of("c3")); got != "map[a:3 b:1] map[a:1] map[]" {
		t.Errorf("counts %s, want map[a:3 b:1] map[a:1] map[]", got)
	}
}

// TestDiscoveryOwnsForgottenItems: with K_hist 1, c1's history forgets a
// when b comes, but the ever-bought set keeps it owned, so popularity
// (without owned items) does not offer it again and c1's re-buy of it is
// no hit; discovery knows c1 bought a before the cutoff too, so it judges
// c1 on z alone.
func TestDiscoveryOwnsForgottenItems(t *testing.T) {
	events := []event.Event{
		buy("c1", "a", 1, 0), buy("c1", "b", 2, 0), buy("c2", "a", 3, 0), buy("c3", "a", 4, 0),
		buy("c1", "a", 11, 0), buy("c1", "z", 12, 0),
	}
	tr := trainer()
	tr.Settings.HistorySize = 1
	cfg := Config{Protocol: Customers, Cutoff: t0.Add(10 * 24 * time.Hour), Windows: 1, Horizon: 14 * 24 * time.Hour, K: 1, Served: scoring.Count}
	for _, tt := range []Trainer{tr, &StreamTrainer{Settings: tr.Settings, Rules: tr.Rules}} {
		r, err := Run(context.Background(), events, cfg, tt)
		if err != nil {
			t.Fatal(err)
		}
		got := results(r)[TargetBought][MethodPopularity]
		if got.Hits != 0 || got.Customers != 1 || got.DiscoveryCustomers != 1 || got.DiscoveryHits != 0 {
			t.Errorf("%T: popularity %d hits over %d, discovery %d over %d; want 0 over 1 and 0 over 1", tt, got.Hits, got.Customers, got.DiscoveryHits, got.DiscoveryCustomers)
		}
	}
}
