package synth

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/alsobought/alsobought/event"
)

// A churning stream (Config.Churn) is the shape that bounded state is
// measured on (issue 17): a shop whose daily volume stays the same while
// its customers change. Customers arrive at a constant rate, stay for a
// lifetime drawn from a log-normal law, and leave for good; each day's
// events are shared among the customers active that day by their activity
// weight (Pareto, as without churn) times the part of the day they are
// active, so a customer's events are spread over their lifetime.
const (
	// Lifetimes are log-normal with this median and log spread: 11% of
	// customers stay under a week, most weeks to months, 7% over six
	// months and 2% over a year.
	lifetimeMedianDays = 30.0
	lifetimeSigma      = 1.2
	// Customers arrive from this long before the stream starts, so that
	// the first day already has the customers a running shop has (all but
	// the 0.4% who would have arrived even earlier and still be active).
	prefillDays = 730
)

const day = 24 * time.Hour

// life is one customer's stay, in days since Config.Start.
type life struct {
	id       string
	from, to float64
	weight   float64 // activity
}

// overlap is the part of day d the customer is active.
func (l life) overlap(d int) float64 {
	return max(0, min(l.to, float64(d+1))-max(l.from, float64(d)))
}

// lifetime draws a customer's stay in days.
func lifetime(rng *rand.Rand) float64 {
	return lifetimeMedianDays * math.Exp(lifetimeSigma*rng.NormFloat64())
}

// generateChurn returns a churning stream, sorted by time, and the
// customers' stays (for tests: every event lies within its customer's).
func generateChurn(cfg Config) ([]event.Event, []life) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed5eed))
	g := newWorld(cfg, rng)
	g.nextItem = cfg.Items
	lives := arrivals(cfg, g)
	turnover := cfg.ItemTurnover * float64(cfg.Items) // items replaced per day
	evs := make([]event.Event, 0, cfg.Events)
	var active []int // indexes into lives of the customers active today
	var cum []float64
	next := 0
	for d := range cfg.Days {
		g.replaceItems(int(float64(d+1)*turnover) - int(float64(d)*turnover))
		for ; next < len(lives) && lives[next].from < float64(d+1); next++ {
			active = append(active, next)
		}
		active = slices.DeleteFunc(active, func(i int) bool { return lives[i].to <= float64(d) })
		cum = cum[:0]
		sum := 0.0
		for _, i := range active {
			sum += lives[i].weight * lives[i].overlap(d)
			cum = append(cum, sum)
		}
		quota := dayShare(cfg.Events, cfg.Days, d)
		for made := 0; made < quota; {
			k, _ := slices.BinarySearch(cum, rng.Float64()*sum)
			l := lives[active[min(k, len(active)-1)]]
			category := g.category[g.item()]
			n := min(maxSessionEvents, 1+geometric(rng, meanExtraEvents), quota-made)
			from, to := max(l.from, float64(d)), min(l.to, float64(d+1))
			t := cfg.Start.Add(time.Duration((from + rng.Float64()*(to-from)) * float64(day)))
			evs = g.session(evs, l.id, category, n, t)
			made += n
		}
	}
	sortByTime(evs)
	return evs, lives
}

// arrivals are the customers of a churning stream in order of arrival,
// evenly spaced at Customers/Days a day (at least one a day, so that every
// day has an active customer), from prefillDays before the start; those
// gone before the start are left out.
func arrivals(cfg Config, g *world) []life {
	rate := max(1, float64(cfg.Customers)/float64(cfg.Days))
	var lives []life
	for i := 0; ; i++ {
		from := float64(i)/rate - prefillDays
		if from >= float64(cfg.Days) {
			return lives
		}
		to, w := from+lifetime(g.rng), g.activity()
		if to > 0 {
			lives = append(lives, life{id: "c" + strconv.Itoa(len(lives)), from: from, to: to, weight: w})
		}
	}
}

// dayShare is day d's share of n events spread evenly over days days.
func dayShare(n, days, d int) int {
	return int(int64(n)*int64(d+1)/int64(days) - int64(n)*int64(d)/int64(days))
}

// replaceItems discontinues k items chosen at random, whatever their
// popularity, and gives each one's rank to a new item (of a random
// category), so popularity stays Zipf over ranks while the items holding
// the ranks change.
func (g *world) replaceItems(k int) {
	if k <= 0 {
		return
	}
	for range k {
		r := g.rng.IntN(len(g.items))
		delete(g.category, g.items[r])
		item := "i" + strconv.Itoa(g.nextItem)
		g.nextItem++
		g.category[item] = g.rng.IntN(g.cfg.Categories)
		g.items[r] = item
	}
	g.rankCategories()
}
