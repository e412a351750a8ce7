// Package eval measures recommendation quality offline (docs/DESIGN.md section
// 7): temporal splits at cutoffs, lists trained only on the events before
// each cutoff, and for every customer (or session) judged after it the
// items recommended by each method, counted against what they bought or
// viewed next.
//
// Every method goes through production code: the lists come from the
// oracle's counters and package scoring (or, with a SnapshotModel, from
// Redis after the real pipeline consumed the events), and every ranking is
// recommend.Merge over a recommend.Plan, as the HTTP API serves it.
package eval

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/recommend"
	"github.com/alsobought/alsobought/scoring"
)

// Protocol is how customers are judged.
type Protocol string

const (
	// Customers: people active before the cutoff and in the window; their
	// stored histories are the recommender's input.
	Customers Protocol = "customer"
	// Sessions: data without customer ids (YOOCHOOSE). Each session
	// starting in the window reveals the first half of its views as
	// context; the rest is what it is judged on.
	Sessions Protocol = "session"
)

// ParseProtocol returns the protocol called s.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(s); p {
	case Customers, Sessions:
		return p, nil
	}
	return "", fmt.Errorf("unknown protocol %q (valid: customer, session)", s)
}

// Target is what a hit is measured against.
type Target string

// Targets.
const (
	TargetBought Target = "bought" // an item bought in the window
	TargetViewed Target = "viewed" // an item viewed in the window
)

// Method names in reports, besides the scoring.Methods.
const (
	MethodPopularity      = "popularity"            // the popularity list of the window's kind, without owned items
	MethodPopularityOwned = "popularity_with_owned" // the same list with owned items
	MethodBuyAgain        = "buy_again"             // customers: own purchases by count, then recency, then popularity
	MethodViewed          = "viewed"                // "viewed also viewed" lists (the served score)
	MethodViewedBought    = "viewed_bought"         // "viewed then bought" lists
	MethodServed          = "served"                // the blend the API serves
	MethodEcho            = "echo"                  // sessions: the revealed items, judged without excluding them
)

// Config is one evaluation.
type Config struct {
	Protocol Protocol
	// Cutoff is the first cutoff; zero places the windows automatically
	// (see Windows).
	Cutoff  time.Time
	Windows int
	Horizon time.Duration
	K       int
	// Served is the scoring method the API's lists use; KeepOwned is the
	// API's -keep-owned.
	Served    scoring.Method
	KeepOwned bool
}

// Result is one method's figures for one target.
type Result struct {
	Method    string  `json:"method"`
	Target    Target  `json:"target"`
	HR        float64 `json:"hr"`       // share of customers with at least one hit
	Recall    float64 `json:"recall"`   // mean over customers of hits / targets
	Coverage  float64 `json:"coverage"` // Items / items seen in training
	Items     int     `json:"items"`    // distinct items recommended
	Hits      int     `json:"hits"`     // customers with at least one hit
	Customers int     `json:"customers"`
	// Discovery: the same with the customer's owned items (bought before
	// the cutoff) removed from the recommendations and from the targets;
	// DiscoveryCustomers are those with a target left.
	DiscoveryHR        float64 `json:"discovery_hr"`
	DiscoveryHits      int     `json:"discovery_hits"`
	DiscoveryCustomers int     `json:"discovery_customers"`
}

// Baseline is the goal's baseline for one target (customer protocol): the
// best HR of popularity, popularity_with_owned and buy_again, and the
// served blend's HR over it.
type Baseline struct {
	Method             string  `json:"method"`
	HR                 float64 `json:"hr"`
	ServedHR           float64 `json:"served_hr"`
	ServedOverBaseline float64 `json:"served_over_baseline"`
}

// BaselineMethods are the methods the goal's baseline is the best of, in
// the order that breaks ties.
var BaselineMethods = []string{MethodPopularity, MethodPopularityOwned, MethodBuyAgain}

// Report is an evaluation's outcome.
type Report struct {
	Dataset     string   `json:"dataset"`
	Protocol    Protocol `json:"protocol"`
	Windows     int      `json:"windows"`
	HorizonDays float64  `json:"horizon_days"`
	K           int      `json:"k"`
	// Customers is how many customers (or sessions) the purchase table
	// judged, summed over windows; ViewCustomers the view table's.
	Customers     int      `json:"customers"`
	ViewCustomers int      `json:"view_customers"`
	Results       []Result `json:"results"`
	// Baseline is the goal's baseline per target (customer protocol only;
	// the sessions' echo row is a diagnostic, not a baseline).
	Baseline map[Target]Baseline `json:"baseline,omitempty"`
	// The split: every window's cutoff and end, and the items seen in
	// training up to the last cutoff (coverage's denominator).
	Cutoffs   []Window `json:"cutoffs"`
	ItemsSeen int      `json:"items_seen"`
	Served    string   `json:"served_method"`
	Trainer   string   `json:"trainer"`
}

// Run evaluates events (sorted by time, as dataset.Load returns them).
func Run(ctx context.Context, events []event.Event, cfg Config, t Trainer) (*Report, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("no events to evaluate")
	}
	if cfg.K < 1 {
		return nil, fmt.Errorf("k must be at least 1, got %d", cfg.K)
	}
	ws, err := Windows(events[0].Time, events[len(events)-1].Time, cfg.Cutoff, cfg.Windows, cfg.Horizon)
	if err != nil {
		return nil, err
	}
	hasViews := slices.ContainsFunc(events, func(e event.Event) bool { return e.Type == event.View })
	methods := methodsFor(cfg, hasViews)
	tally := newTally()
	itemsSeen := map[string]bool{}
	trained := 0 // events[:trained] are seen by the trainer and counted in itemsSeen
	for _, w := range ws {
		before := sort.Search(len(events), func(i int) bool { return !events[i].Time.Before(w.Cutoff) })
		after := sort.Search(len(events), func(i int) bool { return !events[i].Time.Before(w.End) })
		for _, e := range events[trained:before] {
			itemsSeen[e.ItemID] = true
		}
		trained = before
		model, err := t.Train(ctx, events[:before])
		if err != nil {
			return nil, fmt.Errorf("train on the events before %s: %w", w.Cutoff.Format(time.RFC3339), err)
		}
		var cases []judged
		if cfg.Protocol == Sessions {
			cases = sessionCases(events, w)
		} else {
			cases = customerCases(events[before:after], model)
		}
		served := recommend.New(recommend.Config{KeepOwned: cfg.KeepOwned}, modelStore{model: model, served: cfg.Served}.parts())
		// The "discover something new" row: the same blend with no owned item.
		discover := recommend.New(recommend.Config{KeepOwned: cfg.KeepOwned, BuyAgain: recommend.NoOwned}, modelStore{model: model, served: cfg.Served}.parts())
		for _, c := range cases {
			q := c.query
			q.KeepOwned = cfg.KeepOwned
			plan := recommend.NewPlan(q) // once per customer, for every method
			c.owned = ownedSet(q, model.PurchaseCounts(c.customer))
			for _, m := range methods {
				recs, err := recommendFor(ctx, m, c, plan, model, served, cfg)
				if err != nil {
					return nil, fmt.Errorf("method %s: %w", m, err)
				}
				// Discovery judges what the method offers when asked for new
				// items only: the blend without buy-again, and the rows that
				// keep owned items replaced by the one that leaves them out.
				fresh := recs
				switch m {
				case MethodServed:
					fresh, err = recommendFor(ctx, m, c, plan, model, discover, cfg)
				case MethodPopularityOwned, MethodBuyAgain:
					fresh, err = recommendFor(ctx, MethodPopularity, c, plan, model, served, cfg)
				}
				if err != nil {
					return nil, fmt.Errorf("method %s, new items only: %w", m, err)
				}
				tally.add(m, c, recs, fresh)
			}
		}
	}
	r := &Report{Protocol: cfg.Protocol, Windows: len(ws), K: cfg.K, Cutoffs: ws, ItemsSeen: len(itemsSeen),
		Served: string(cfg.Served), HorizonDays: ws[0].End.Sub(ws[0].Cutoff).Hours() / 24}
	for _, target := range []Target{TargetBought, TargetViewed} {
		for _, m := range methods {
			res, ok := tally.result(m, target, len(itemsSeen))
			if !ok {
				continue
			}
			r.Results = append(r.Results, res)
			if target == TargetBought {
				r.Customers = res.Customers
			} else {
				r.ViewCustomers = res.Customers
			}
		}
	}
	if cfg.Protocol == Customers {
		r.Baseline = baselines(r.Results)
	}
	return r, nil
}

// ownedSet is what discovery leaves out: every item the customer bought
// before the cutoff, those the retained history has forgotten included
// (the counts cover every event trained on), and whatever the plan counts
// as owned (Plan.Owned, also under -keep-owned).
func ownedSet(q recommend.Query, purchases map[string]int64) map[string]bool {
	q.KeepOwned = false
	owned := recommend.NewPlan(q).Owned
	for item := range purchases {
		owned[item] = true
	}
	return owned
}

// baselines picks each target's baseline among the results.
func baselines(results []Result) map[Target]Baseline {
	out := map[Target]Baseline{}
	served := map[Target]float64{}
	for _, res := range results {
		if res.Method == MethodServed {
			served[res.Target] = res.HR
		}
	}
	for _, m := range BaselineMethods {
		for _, res := range results {
			if b, ok := out[res.Target]; res.Method == m && (!ok || res.HR > b.HR) {
				out[res.Target] = Baseline{Method: m, HR: res.HR}
			}
		}
	}
	for target, b := range out {
		b.ServedHR = served[target]
		if b.HR > 0 {
			b.ServedOverBaseline = b.ServedHR / b.HR
		}
		out[target] = b
	}
	return out
}

// judged is one customer (or session) in one window.
type judged struct {
	customer string // customers only
	query    recommend.Query
	// owned is what the customer bought before the cutoff (ownedSet):
	// discovery leaves it out.
	owned map[string]bool
	// targets per kind; echoTargets are the targets before the revealed
	// items were removed (sessions only).
	targets, echoTargets map[Target]map[string]bool
	revealed             []string // sessions: context views, most recent first
}

// customerCases returns the customers with history before the cutoff and
// events in the window (docs/DESIGN.md section 7): their targets are the items
// they bought, and viewed, in the window.
func customerCases(window []event.Event, model Model) []judged {
	byCustomer := map[string]*judged{}
	var order []string
	for _, e := range window {
		c := byCustomer[e.CustomerID]
		if c == nil {
			bought, viewed := model.History(e.CustomerID)
			if len(bought) == 0 && len(viewed) == 0 {
				byCustomer[e.CustomerID] = &judged{} // not active before: never judged
				continue
			}
			h := model.Purchases(e.CustomerID)
			c = &judged{customer: e.CustomerID, query: recommend.Query{HistoryBought: bought, HistoryViewed: viewed, HistoryCounts: h.Counts, HistoryTimes: h.Times, Ever: model.EverBought(e.CustomerID)},
				targets: map[Target]map[string]bool{TargetBought: {}, TargetViewed: {}}}
			byCustomer[e.CustomerID] = c
			order = append(order, e.CustomerID)
		}
		if c.targets == nil {
			continue
		}
		c.targets[targetOf(e)][e.ItemID] = true
	}
	out := make([]judged, 0, len(order))
	for _, id := range order {
		out = append(out, *byCustomer[id])
	}
	return out
}

// sessionCases returns the sessions that start in the window. Each reveals
// the first half (rounded up) of its views as context; the targets are the
// session's purchases and later views, without the revealed items. Events
// must be sorted by time; sessions run past the window's end.
func sessionCases(events []event.Event, w Window) []judged {
	type session struct {
		start  time.Time
		events []event.Event
	}
	sessions := map[string]*session{}
	var order []string
	for _, e := range events {
		s := sessions[e.CustomerID]
		if s == nil {
			s = &session{start: e.Time}
			sessions[e.CustomerID] = s
			if !e.Time.Before(w.Cutoff) && e.Time.Before(w.End) {
				order = append(order, e.CustomerID)
			}
		}
		s.events = append(s.events, e)
	}
	var out []judged
	for _, id := range order {
		s := sessions[id]
		views := 0
		for _, e := range s.events {
			if e.Type == event.View {
				views++
			}
		}
		reveal := (views + 1) / 2
		if reveal == 0 {
			continue // no context to recommend from
		}
		c := judged{targets: map[Target]map[string]bool{TargetBought: {}, TargetViewed: {}},
			echoTargets: map[Target]map[string]bool{TargetBought: {}, TargetViewed: {}}}
		revealedSet := map[string]bool{}
		seenViews := 0
		for _, e := range s.events {
			if e.Type == event.View && seenViews < reveal {
				seenViews++
				if !revealedSet[e.ItemID] {
					revealedSet[e.ItemID] = true
					c.revealed = append(c.revealed, e.ItemID)
				}
				continue
			}
			c.echoTargets[targetOf(e)][e.ItemID] = true
		}
		for target, items := range c.echoTargets {
			for it := range items {
				if !revealedSet[it] {
					c.targets[target][it] = true
				}
			}
		}
		slices.Reverse(c.revealed)
		c.query = recommend.Query{ContextViewed: c.revealed}
		out = append(out, c)
	}
	return out
}

func targetOf(e event.Event) Target {
	if e.Type == event.Purchase {
		return TargetBought
	}
	return TargetViewed
}
