package eval

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/dataset"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// TestStreamTrainerMatchesOracle is the streaming trainer's promise: one
// pass through the consumer's change code gives, window after window,
// exactly the figures of the oracle retrained from scratch at every
// cutoff, for every method and target. On real data: the bundled
// Dunnhumby sample (purchases; with and without history ageing, whose
// sweeps the stream runs at every cutoff) and, where the shared data sets
// are present, YOOCHOOSE sessions (views and purchases, so viewed-then-
// bought rows, with and without ageing).
func TestStreamTrainerMatchesOracle(t *testing.T) {
	dunnhumby := testenv.Dunnhumby(t)
	if len(dunnhumby) > 120000 {
		dunnhumby = dunnhumby[:120000]
	}
	set := oracle.Settings{HistorySize: 200, ViewHistorySize: 30, Dedup: delta.DefaultDedup}
	aged := set
	aged.HistoryMaxAge, aged.AllowedLateness = 30*24*time.Hour, time.Hour
	small := set
	small.HistorySize, small.ViewHistorySize = 8, 4 // evictions everywhere
	day := 24 * time.Hour
	type tc struct {
		name   string
		events []event.Event
		cfg    Config
		set    oracle.Settings
	}
	cases := []tc{
		{"customers", dunnhumby, Config{Protocol: Customers, Windows: 4, Horizon: 14 * day, K: 6, Served: scoring.Amazon2017Prior}, set},
		{"customers, 30-day history age", dunnhumby, Config{Protocol: Customers, Windows: 4, Horizon: 14 * day, K: 6, Served: scoring.Amazon2017Prior}, aged},
		{"customers, small histories, keep owned", dunnhumby, Config{Protocol: Customers, Windows: 3, Horizon: 7 * day, K: 4, Served: scoring.Cosine, KeepOwned: true}, small},
	}
	if !testing.Short() {
		if dir := testenv.SharedData(t); dir != "" {
			yc, err := dataset.Load(filepath.Join(dir, "yoochoose-1pct", "events.csv.gz"), dataset.Yoochoose, event.DefaultLimits(time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			sessions := Config{Protocol: Sessions, Windows: 3, Horizon: 5 * day, K: 6, Served: scoring.Amazon2017Prior}
			smallAged := small
			smallAged.HistoryMaxAge, smallAged.AllowedLateness = 12*time.Hour, time.Hour
			cases = append(cases, tc{"sessions with views, small histories", yc[:60000], sessions, small},
				tc{"sessions with views, small histories, 12-hour age", yc[:60000], sessions, smallAged})
		}
	}
	if testing.Short() {
		cases = cases[:1]
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules := scoring.DefaultListRules()
			want, err := Run(context.Background(), c.events, c.cfg, OracleTrainer{Settings: c.set, Rules: rules})
			if err != nil {
				t.Fatal(err)
			}
			got, err := Run(context.Background(), c.events, c.cfg, &StreamTrainer{Settings: c.set, Rules: rules})
			if err != nil {
				t.Fatal(err)
			}
			if want.Customers < 100 || len(want.Results) < 8 {
				t.Fatalf("a degenerate evaluation (%d customers, %d results): pick a larger sample", want.Customers, len(want.Results))
			}
			if !reflect.DeepEqual(got, want) {
				for i := range want.Results {
					if i < len(got.Results) && got.Results[i] != want.Results[i] {
						t.Errorf("streamed %+v\n  oracle %+v", got.Results[i], want.Results[i])
					}
				}
				t.Fatalf("the streamed report differs from the retrained one (%d and %d results)", len(got.Results), len(want.Results))
			}
			t.Logf("%d customers over %d windows, %d results identical; served HR %.4f, items %d", got.Customers, got.Windows, len(got.Results), results(got)[TargetBought][MethodServed].HR, results(got)[TargetBought][MethodServed].Items)
		})
	}
}

// TestStreamTrainerNeedsOneGrowingSlice: a streaming trainer applies only
// what it has not seen, so a slice that does not extend the last one is an
// error rather than a silently wrong state.
func TestStreamTrainerNeedsOneGrowingSlice(t *testing.T) {
	tr := &StreamTrainer{Settings: oracle.Settings{HistorySize: 5, ViewHistorySize: 5}, Rules: scoring.DefaultListRules()}
	evs := []event.Event{buy("c1", "a", 1, 0), buy("c1", "b", 2, 0), buy("c2", "a", 3, 0)}
	if _, err := tr.Train(context.Background(), evs[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Train(context.Background(), evs[:1]); err == nil {
		t.Error("a shorter slice: want an error")
	}
	other := []event.Event{buy("c1", "a", 1, 0), buy("c9", "z", 2, 0), buy("c2", "a", 3, 0)}
	if _, err := tr.Train(context.Background(), other); err == nil {
		t.Error("another slice: want an error")
	}
}

// TestRowOfParsesAsTheStore: the in-memory hashes are parsed as
// store.ParseRow parses the same hashes read back from Redis. The hashes
// come from the consumer's change code on real events, so a field a
// change adds to the rows shows up here.
func TestRowOfParsesAsTheStore(t *testing.T) {
	evs := testenv.Dunnhumby(t)[:5000]
	views := make([]event.Event, 0, 2*len(evs))
	for _, e := range evs { // a view before each purchase fills the view rows and M
		v := e
		v.ID, v.Type = e.ID+"-v", event.View
		views = append(views, v, e)
	}
	tr := &StreamTrainer{Settings: oracle.Settings{HistorySize: 10, ViewHistorySize: 5}, Rules: scoring.DefaultListRules()}
	if _, err := tr.Train(context.Background(), views); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for k, h := range tr.hashes {
		if k.Kind != delta.RowKey && k.Kind != delta.ViewRowKey && k.Kind != delta.ViewedBoughtKey {
			continue
		}
		buyers := tr.hashes[delta.Key{Kind: delta.BuyersKey}]
		if k.Kind == delta.ViewRowKey {
			buyers = tr.hashes[delta.Key{Kind: delta.ViewersKey}]
		}
		stored := make(map[string]string, len(h))
		for f, n := range h {
			if n != 0 { // the apply script deletes a field at zero
				stored[f] = strconv.FormatInt(n, 10)
			}
		}
		parsed, err := store.ParseRow(stored)
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		want := scoring.Row{Item: k.Item, Buyers: buyers[k.Item], Hist: parsed.Hist, Candidates: []scoring.Candidate{}}
		for y, n := range parsed.Co {
			want.Candidates = append(want.Candidates, scoring.Candidate{Item: y, Support: n, Buyers: buyers[y]})
		}
		got, mX := rowOf(k.Item, h, buyers)
		for _, r := range []*scoring.Row{&got, &want} {
			slices.SortFunc(r.Hist, func(a, b scoring.HistBin) int { return int(a.Others - b.Others) })
			slices.SortFunc(r.Candidates, func(a, b scoring.Candidate) int { return strings.Compare(a.Item, b.Item) })
		}
		if !reflect.DeepEqual(got, want) || mX != parsed.ViewedTotal {
			t.Fatalf("%v: rowOf %+v (M_X %d), store.ParseRow %+v (M_X %d)", k, got, mX, want, parsed.ViewedTotal)
		}
		rows++
	}
	if rows < 1000 {
		t.Fatalf("only %d rows compared", rows)
	}
}

// TestRowOfSetsApartWhatIsNoCoCount: the histogram, M_X, zero fields and
// any other counter named with '|' (no item id holds one) are no
// candidates.
func TestRowOfSetsApartWhatIsNoCoCount(t *testing.T) {
	row, mX := rowOf("a", map[string]int64{"b": 2, "c": 0, "h|1": 3, "t|": 4, "p|a": 5, "g|b": 6}, map[string]int64{"a": 7, "b": 9, "c": 1})
	want := scoring.Row{Item: "a", Buyers: 7, Hist: []scoring.HistBin{{Others: 1, Customers: 3}}, Candidates: []scoring.Candidate{{Item: "b", Support: 2, Buyers: 9}}}
	if !reflect.DeepEqual(row, want) || mX != 4 {
		t.Errorf("rowOf: %+v and M_X %d, want %+v and 4", row, mX, want)
	}
}
