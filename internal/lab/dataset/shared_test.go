package dataset_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/dataset"
	"github.com/alsobought/alsobought/internal/testenv"
)

type stats struct {
	n, purchases, views     int
	customers, items        int
	withCategory, withPrice int
	withQuantity            int
	min, max                time.Time
}

// summarize checks the order (time, then line) and id uniqueness and
// returns counts.
func summarize(t *testing.T, evs []event.Event, prefix string) stats {
	t.Helper()
	s := stats{n: len(evs)}
	cust, items, ids := map[string]bool{}, map[string]bool{}, make(map[string]bool, len(evs))
	prevLine := 0
	for i, e := range evs {
		if ids[e.ID] {
			t.Fatalf("duplicate event id %s", e.ID)
		}
		ids[e.ID] = true
		if !strings.HasPrefix(e.ID, prefix) {
			t.Fatalf("event id %q lacks prefix %q", e.ID, prefix)
		}
		line, err := strconv.Atoi(e.ID[len(prefix):])
		if err != nil {
			t.Fatalf("event id %q: %v", e.ID, err)
		}
		if i > 0 {
			switch c := evs[i-1].Time.Compare(e.Time); {
			case c > 0:
				t.Fatalf("events %d and %d out of time order: %v > %v", i-1, i, evs[i-1].Time, e.Time)
			case c == 0 && prevLine >= line:
				t.Fatalf("events %d and %d have equal times but lines %d >= %d", i-1, i, prevLine, line)
			}
		}
		prevLine = line
		cust[e.CustomerID], items[e.ItemID] = true, true
		switch e.Type {
		case event.Purchase:
			s.purchases++
		case event.View:
			s.views++
		}
		if e.Category != "" {
			s.withCategory++
		}
		if e.Price != nil {
			s.withPrice++
		}
		if e.Quantity != nil {
			s.withQuantity++
		}
	}
	s.customers, s.items = len(cust), len(items)
	if len(evs) > 0 {
		s.min, s.max = evs[0].Time, evs[len(evs)-1].Time
	}
	return s
}

func load(t *testing.T, path string, f dataset.Format) []event.Event {
	t.Helper()
	start := time.Now()
	evs, err := dataset.Load(path, f, event.DefaultLimits(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d events in %v", path, len(evs), time.Since(start).Round(time.Millisecond))
	return evs
}

func checkStats(t *testing.T, got, want stats) {
	t.Helper()
	if !got.min.Equal(want.min) || !got.max.Equal(want.max) {
		t.Errorf("time span %v .. %v, want %v .. %v", got.min, got.max, want.min, want.max)
	}
	got.min, got.max, want.min, want.max = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if got != want {
		t.Errorf("stats\n got %+v\nwant %+v", got, want)
	}
}

// Figures from ../shared/data/*/SOURCE.md, plus the loaders' documented
// rules for optional fields.
var dunnhumbyStats = stats{
	n: 75000, purchases: 75000, customers: 2377, items: 20902,
	withPrice: 75000 - 416, withQuantity: 75000, // 416 lines have quantity 0: no unit price
	min: ts("2017-01-01T12:30:27Z"), // 2017-01-01T07:30:27-05:00
	max: ts("2018-01-01T03:47:38Z"), // 2017-12-31T22:47:38-05:00
}

func TestSharedDunnhumby(t *testing.T) {
	evs := load(t, filepath.Join(testenv.SharedData(t), "dunnhumby-completejourney-sample", "transactions.csv.gz"), dataset.Dunnhumby)
	checkStats(t, summarize(t, evs, "dunnhumby:transactions.csv.gz:"), dunnhumbyStats)
}

func TestBundledDunnhumby(t *testing.T) {
	// testdata/dunnhumby is an unchanged copy of the shared sample.
	evs := load(t, filepath.Join("..", "..", "..", "testdata", "dunnhumby", "transactions.csv.gz"), dataset.Dunnhumby)
	checkStats(t, summarize(t, evs, "dunnhumby:transactions.csv.gz:"), dunnhumbyStats)
}

func TestSharedYoochoose(t *testing.T) {
	evs := load(t, filepath.Join(testenv.SharedData(t), "yoochoose-1pct", "events.csv.gz"), dataset.Yoochoose)
	checkStats(t, summarize(t, evs, "yoochoose:events.csv.gz:"), stats{
		n: 341362, views: 329537, purchases: 11825, customers: 92497, items: 19947,
		withCategory: 57151,        // categories 1-12 only (not 0, S or brand ids)
		withPrice:    11825 - 6192, // buys with Price=0, Quantity=0 are unknown
		withQuantity: 11825 - 6192,
		min:          ts("2014-04-01T03:01:46.083Z"),
		max:          ts("2014-09-30T02:52:21.905Z"),
	})
}

func TestSharedMovieLens(t *testing.T) {
	evs := load(t, filepath.Join(testenv.SharedData(t), "movielens-100k", "u.data.gz"), dataset.MovieLens)
	checkStats(t, summarize(t, evs, "movielens:u.data.gz:"), stats{
		n: 100000, purchases: 100000, customers: 943, items: 1682,
		min: ts("1997-09-20T03:05:10Z"),
		max: ts("1998-04-22T23:10:38Z"),
	})
}
