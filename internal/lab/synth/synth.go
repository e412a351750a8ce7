// Package synth generates a realistic stream of purchase and view events,
// deterministic for a seed, so that benchmarks can run at any scale
// instead of only at the size of the sample files.
//
// The stream has the shapes that drive the pipeline's cost: item popularity
// follows a Zipf law (a few best-sellers sit in many histories and receive
// most pair-counter changes), customer activity is heavy-tailed (Pareto: a
// few customers run long, full histories that evict), events come in
// sessions that stay mostly within one category (so co-views concentrate
// the way related items do), about 95% are views, and a purchase is mostly
// of an item viewed earlier in the same session (viewed-then-bought). The
// events are sorted by time, like every loader in package dataset returns
// them.
package synth

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/alsobought/alsobought/event"
)

// Config shapes a stream. Zero fields take the defaults of Defaults.
type Config struct {
	Events int    // events to generate; required, > 0
	Seed   uint64 // same seed, same stream

	Items      int // catalogue size; default Events/20, at least 100
	Customers  int // customers; default Events/12, at least 10
	Categories int // item categories; default 40, at most Items

	PurchaseShare float64 // share of purchases among events; default 0.05
	ItemSkew      float64 // Zipf exponent of item popularity (> 1); default 1.1
	CustomerTail  float64 // Pareto index of customer activity (> 0, smaller is heavier); default 1.2

	Start time.Time // first possible event time; default 2025-01-01T00:00:00Z
	Days  int       // span of event time in days; default 30
}

// Defaults returns cfg with every zero field set to its default.
func (cfg Config) Defaults() Config {
	if cfg.Items == 0 {
		cfg.Items = max(100, cfg.Events/20)
	}
	if cfg.Customers == 0 {
		cfg.Customers = max(10, cfg.Events/12)
	}
	if cfg.Categories == 0 {
		cfg.Categories = 40
	}
	cfg.Categories = min(cfg.Categories, cfg.Items)
	if cfg.PurchaseShare == 0 {
		cfg.PurchaseShare = 0.05
	}
	if cfg.ItemSkew == 0 {
		cfg.ItemSkew = 1.1
	}
	if cfg.CustomerTail == 0 {
		cfg.CustomerTail = 1.2
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.Days == 0 {
		cfg.Days = 30
	}
	return cfg
}

// Validate checks a configuration after Defaults.
func (cfg Config) Validate() error {
	switch {
	case cfg.Events <= 0:
		return errors.New("synthetic stream: the number of events must be positive")
	case cfg.Items < 1 || cfg.Customers < 1 || cfg.Categories < 1:
		return fmt.Errorf("synthetic stream: items %d, customers %d and categories %d must be positive", cfg.Items, cfg.Customers, cfg.Categories)
	case cfg.PurchaseShare < 0 || cfg.PurchaseShare > 1:
		return fmt.Errorf("synthetic stream: purchase share %v must be within [0, 1]", cfg.PurchaseShare)
	case cfg.ItemSkew <= 1:
		return fmt.Errorf("synthetic stream: item skew %v must be above 1 (a Zipf exponent)", cfg.ItemSkew)
	case cfg.CustomerTail <= 0:
		return fmt.Errorf("synthetic stream: customer tail %v must be positive", cfg.CustomerTail)
	case cfg.Days < 1:
		return fmt.Errorf("synthetic stream: days %d must be at least 1", cfg.Days)
	}
	return nil
}

// Session shape: the number of events of a session is 1 + geometric with
// this mean of extra events (YOOCHOOSE sessions hold 3.7 events on
// average), events are this far apart on average, and this share of a
// session's views stay in its category.
const (
	meanExtraEvents   = 3.0
	maxSessionEvents  = 60
	meanEventGap      = 40 * time.Second
	inCategoryShare   = 0.8
	viewedBoughtShare = 0.7 // purchases of an item viewed earlier in the session
	maxCustomerWeight = 500 // caps the Pareto weight: no customer owns the stream
)

// Generate returns cfg.Events events sorted by time (stably, in generation
// order for equal times). Every event passes event.Validate with the
// default limits of any clock later than the stream's end.
func Generate(cfg Config) ([]event.Event, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed5eed))
	g := newWorld(cfg, rng)
	span := time.Duration(cfg.Days) * 24 * time.Hour
	evs := make([]event.Event, 0, cfg.Events)
	var viewed []string // items viewed in the current session
	for len(evs) < cfg.Events {
		customer := g.customer()
		category := g.category[g.item()] // a session's category follows what is popular
		n := min(maxSessionEvents, 1+geometric(rng, meanExtraEvents), cfg.Events-len(evs))
		t := cfg.Start.Add(time.Duration(rng.Int64N(int64(span))))
		viewed = viewed[:0]
		for range n {
			e := event.Event{ID: "e" + strconv.Itoa(len(evs)), CustomerID: customer, Time: t.Truncate(time.Millisecond)}
			if rng.Float64() < cfg.PurchaseShare {
				e.Type = event.Purchase
				if len(viewed) > 0 && rng.Float64() < viewedBoughtShare {
					e.ItemID = viewed[rng.IntN(len(viewed))]
				} else {
					e.ItemID = g.sessionItem(category)
				}
			} else {
				e.Type = event.View
				e.ItemID = g.sessionItem(category)
				viewed = append(viewed, e.ItemID)
			}
			e.Category = g.categoryOf(e.ItemID)
			evs = append(evs, e)
			t = t.Add(time.Duration(rng.ExpFloat64() * float64(meanEventGap)))
		}
	}
	slices.SortStableFunc(evs, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	return evs, nil
}

// world is the catalogue and the customers of one stream.
type world struct {
	rng        *rand.Rand
	items      []string       // by popularity rank: items[0] is the best-seller
	itemZipf   *rand.Zipf     // rank over items
	category   map[string]int // item -> category
	byCategory [][]string     // category -> its items by popularity rank
	catZipf    []*rand.Zipf   // rank within a category (nil: a single item)
	catNames   []string       // category -> its name in events
	customers  []string
	cumWeight  []float64 // cumulative activity weight of customers
}

func newWorld(cfg Config, rng *rand.Rand) *world {
	g := &world{rng: rng, category: make(map[string]int, cfg.Items), byCategory: make([][]string, cfg.Categories)}
	// Item ids are a shuffled numbering, so an id says nothing about its
	// popularity (as in real catalogues).
	ids := rng.Perm(cfg.Items)
	g.items = make([]string, cfg.Items)
	for rank, id := range ids {
		item := "i" + strconv.Itoa(id)
		g.items[rank] = item
		c := rng.IntN(cfg.Categories)
		g.category[item] = c
		g.byCategory[c] = append(g.byCategory[c], item)
	}
	g.itemZipf = rand.NewZipf(rng, cfg.ItemSkew, 1, uint64(cfg.Items-1))
	g.catZipf = make([]*rand.Zipf, cfg.Categories)
	for c, items := range g.byCategory {
		if len(items) > 1 {
			g.catZipf[c] = rand.NewZipf(rng, cfg.ItemSkew, 1, uint64(len(items)-1))
		}
	}
	g.catNames = make([]string, cfg.Categories)
	for c := range g.catNames {
		g.catNames[c] = "cat" + strconv.Itoa(c)
	}
	// Customer activity: Pareto weights (x_m = 1), capped so that the
	// heaviest customer stays a customer and not a crawler.
	g.customers = make([]string, cfg.Customers)
	g.cumWeight = make([]float64, cfg.Customers)
	sum := 0.0
	for i := range g.customers {
		g.customers[i] = "c" + strconv.Itoa(i)
		w := math.Min(maxCustomerWeight, math.Pow(1-rng.Float64(), -1/cfg.CustomerTail))
		sum += w
		g.cumWeight[i] = sum
	}
	return g
}

// customer draws a customer in proportion to its activity weight.
func (g *world) customer() string {
	x := g.rng.Float64() * g.cumWeight[len(g.cumWeight)-1]
	i, _ := slices.BinarySearch(g.cumWeight, x)
	return g.customers[min(i, len(g.customers)-1)]
}

// item draws an item from the whole catalogue by popularity.
func (g *world) item() string { return g.items[g.itemZipf.Uint64()] }

// sessionItem draws an item of the session's category, or now and then
// one from the whole catalogue.
func (g *world) sessionItem(category int) string {
	items := g.byCategory[category]
	if len(items) == 0 || g.rng.Float64() >= inCategoryShare {
		return g.item()
	}
	if z := g.catZipf[category]; z != nil {
		return items[z.Uint64()]
	}
	return items[0]
}

func (g *world) categoryOf(item string) string { return g.catNames[g.category[item]] }

// geometric draws a geometric number of failures with the given mean.
func geometric(rng *rand.Rand, mean float64) int {
	p := 1 / (1 + mean)
	return int(math.Floor(math.Log(1-rng.Float64()) / math.Log(1-p)))
}
