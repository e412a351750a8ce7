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
//
// By default one fixed set of customers is active over the whole span. With
// Config.Churn, customers keep arriving and leaving at a constant daily
// volume, as in a shop that runs for years (churn.go): the stream that
// bounded state is measured on.
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

	// Churn makes customers come and go as in a shop that runs for years
	// (churn.go): every day has the same number of events, customers
	// arrive every day at the rate Customers/Days (those already active
	// when the stream starts come on top), and each is active for a
	// lifetime of weeks to months, a few for years. About half of those
	// who arrive have too little activity or too short a stay to send any
	// event. Without Churn, the same Customers are active over the whole
	// span.
	Churn bool
	// ItemTurnover, with Churn, is the share of the catalogue replaced
	// each day: items chosen at random leave, and new items take their
	// popularity ranks. Default 0: a fixed catalogue.
	ItemTurnover float64
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
	case cfg.ItemTurnover < 0 || cfg.ItemTurnover >= 1:
		return fmt.Errorf("synthetic stream: item turnover %v must be within [0, 1)", cfg.ItemTurnover)
	case cfg.ItemTurnover > 0 && !cfg.Churn:
		return errors.New("synthetic stream: item turnover needs churn (the catalogue changes day by day)")
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
	if cfg.Churn {
		evs, _ := generateChurn(cfg)
		return evs, nil
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed5eed))
	g := newWorld(cfg, rng)
	g.weighCustomers()
	span := time.Duration(cfg.Days) * 24 * time.Hour
	evs := make([]event.Event, 0, cfg.Events)
	for len(evs) < cfg.Events {
		customer := g.customer()
		category := g.category[g.item()] // a session's category follows what is popular
		n := min(maxSessionEvents, 1+geometric(rng, meanExtraEvents), cfg.Events-len(evs))
		t := cfg.Start.Add(time.Duration(rng.Int64N(int64(span))))
		evs = g.session(evs, customer, category, n, t)
	}
	sortByTime(evs)
	return evs, nil
}

// sortByTime sorts events by time, stably (generation order for equal times).
func sortByTime(evs []event.Event) {
	slices.SortStableFunc(evs, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
}

// session appends to evs a session of n events of customer from time t,
// most of them in category.
func (g *world) session(evs []event.Event, customer string, category, n int, t time.Time) []event.Event {
	rng := g.rng
	g.viewed = g.viewed[:0]
	for range n {
		e := event.Event{ID: "e" + strconv.Itoa(len(evs)), CustomerID: customer, Time: t.Truncate(time.Millisecond)}
		if rng.Float64() < g.cfg.PurchaseShare {
			e.Type = event.Purchase
			if len(g.viewed) > 0 && rng.Float64() < viewedBoughtShare {
				e.ItemID = g.viewed[rng.IntN(len(g.viewed))]
			} else {
				e.ItemID = g.sessionItem(category)
			}
		} else {
			e.Type = event.View
			e.ItemID = g.sessionItem(category)
			g.viewed = append(g.viewed, e.ItemID)
		}
		e.Category = g.categoryOf(e.ItemID)
		evs = append(evs, e)
		t = t.Add(time.Duration(rng.ExpFloat64() * float64(meanEventGap)))
	}
	return evs
}

// world is the catalogue and the customers of one stream.
type world struct {
	rng           *rand.Rand
	cfg           Config
	purchaseShare float64
	viewed        []string       // items viewed in the current session
	items         []string       // by popularity rank: items[0] is the best-seller
	itemZipf      *rand.Zipf     // rank over items
	category      map[string]int // item -> category
	byCategory    [][]string     // category -> its items by popularity rank
	catZipf       []*rand.Zipf   // rank within a category (nil: a single item)
	catNames      []string       // category -> its name in events
	customers     []string
	cumWeight     []float64 // cumulative activity weight of customers
	nextItem      int       // the number of the next new item (churn)
}

func newWorld(cfg Config, rng *rand.Rand) *world {
	g := &world{rng: rng, cfg: cfg, category: make(map[string]int, cfg.Items)}
	// Item ids are a shuffled numbering, so an id says nothing about its
	// popularity (as in real catalogues).
	ids := rng.Perm(cfg.Items)
	g.items = make([]string, cfg.Items)
	for rank, id := range ids {
		item := "i" + strconv.Itoa(id)
		g.items[rank] = item
		g.category[item] = rng.IntN(cfg.Categories)
	}
	g.itemZipf = rand.NewZipf(rng, cfg.ItemSkew, 1, uint64(cfg.Items-1))
	g.rankCategories()
	g.catNames = make([]string, cfg.Categories)
	for c := range g.catNames {
		g.catNames[c] = "cat" + strconv.Itoa(c)
	}
	return g
}

// rankCategories sorts the catalogue's items into their categories, each
// by popularity rank.
func (g *world) rankCategories() {
	g.byCategory = make([][]string, g.cfg.Categories)
	for _, item := range g.items {
		c := g.category[item]
		g.byCategory[c] = append(g.byCategory[c], item)
	}
	g.catZipf = make([]*rand.Zipf, g.cfg.Categories)
	for c, items := range g.byCategory {
		if len(items) > 1 {
			g.catZipf[c] = rand.NewZipf(g.rng, g.cfg.ItemSkew, 1, uint64(len(items)-1))
		}
	}
}

// weighCustomers gives the fixed customers of a stream without churn their
// activity weights.
func (g *world) weighCustomers() {
	g.customers = make([]string, g.cfg.Customers)
	g.cumWeight = make([]float64, g.cfg.Customers)
	sum := 0.0
	for i := range g.customers {
		g.customers[i] = "c" + strconv.Itoa(i)
		sum += g.activity()
		g.cumWeight[i] = sum
	}
}

// activity draws a customer's activity weight: Pareto (x_m = 1), capped so
// that the heaviest customer stays a customer and not a crawler.
func (g *world) activity() float64 {
	return math.Min(maxCustomerWeight, math.Pow(1-g.rng.Float64(), -1/g.cfg.CustomerTail))
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
