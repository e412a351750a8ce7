package eval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/recommend"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// Model is what lists trained on the events before a cutoff can answer.
type Model interface {
	// History returns a customer's retained purchases and views, least
	// recent first, as stored.
	History(customer string) (bought, viewed []string)
	// Purchases returns a customer's retained purchase history whole:
	// least recent first, with each entry's last purchase time and count
	// (what the repeat model reads, docs/DESIGN.md section 12).
	Purchases(customer string) delta.History
	// Rebuy returns an item's own purchase statistics (its purchases and
	// its repeat purchases by gap).
	Rebuy(item string) store.Rebuy
	// List returns item's related list of a kind scored by m (m is ignored
	// for ViewedBought lists, which have their own score). Never nil.
	List(kind store.ListKind, m scoring.Method, item string) []scoring.Related
	// Popular returns the overall popularity list of a kind, as the API
	// serves it.
	Popular(kind store.ListKind) store.PopularList
	// Repeats returns the repeat-purchase counters.
	Repeats() store.Repeats
}

// Trainer trains models. Run calls Train once per window, in cutoff order,
// with growing prefixes of one event slice, as a stream grows: a streaming
// trainer only needs to apply what it has not seen yet.
type Trainer interface {
	Train(ctx context.Context, before []event.Event) (Model, error)
}

// OracleTrainer trains with the batch oracle: the same counters, scoring
// and list rules as production, computed in memory.
type OracleTrainer struct {
	Settings oracle.Settings
	Rules    scoring.ListRules
}

// Train builds the oracle state of the events.
func (t OracleTrainer) Train(_ context.Context, before []event.Event) (Model, error) {
	s := oracle.Build(before, t.Settings)
	pop := map[store.ListKind]store.PopularList{}
	for kind, p := range s.Popular {
		pop[kind] = p.Lists(kind, time.Time{}, nil)[0] // the overall list comes first
	}
	return newCountersModel(s, t.Rules, pop), nil
}

// countersModel computes lists on demand from counters, once per item.
type countersModel struct {
	state   *oracle.State
	rules   scoring.ListRules
	popular map[store.ListKind]store.PopularList
	lists   map[listKey][]scoring.Related
}

type listKey struct {
	kind   store.ListKind
	method scoring.Method
	item   string
}

func newCountersModel(s *oracle.State, rules scoring.ListRules, popular map[store.ListKind]store.PopularList) *countersModel {
	return &countersModel{state: s, rules: rules, popular: popular, lists: map[listKey][]scoring.Related{}}
}

func (m *countersModel) History(c string) (bought, viewed []string) {
	if h := m.state.Histories[c]; h != nil {
		bought = h.Items
	}
	if h := m.state.ViewHistories[c]; h != nil {
		viewed = h.Items
	}
	return bought, viewed
}

func (m *countersModel) Purchases(c string) delta.History {
	if h := m.state.Histories[c]; h != nil {
		return *h
	}
	return delta.History{}
}

func (m *countersModel) Rebuy(item string) store.Rebuy { return m.state.Rebuy[item] }

func (m *countersModel) List(kind store.ListKind, method scoring.Method, item string) []scoring.Related {
	if kind == store.ViewedBought {
		method = scoring.ViewedThenBoughtMethod
	}
	k := listKey{kind, method, item}
	l, ok := m.lists[k]
	if !ok {
		l = m.state.List(kind, item, method, m.rules)
		m.lists[k] = l
	}
	return l
}

func (m *countersModel) Popular(kind store.ListKind) store.PopularList { return m.popular[kind] }

func (m *countersModel) Repeats() store.Repeats { return m.state.Repeats }

// SnapshotModel is a model read back from Redis after the real pipeline
// consumed the training events (`eval -via-kafka`): the served method's
// lists and the popularity lists are the stored ones, as the API reads
// them; the other methods' lists are computed from the stored counters.
func SnapshotModel(snap *store.Snapshot, served scoring.Method, set oracle.Settings, rules scoring.ListRules) Model {
	pop := map[store.ListKind]store.PopularList{}
	for kind, lists := range snap.Popular {
		pop[kind] = lists[""]
	}
	return &snapshotModel{countersModel: newCountersModel(oracle.FromSnapshot(snap, set), rules, pop), snap: snap, served: served}
}

type snapshotModel struct {
	*countersModel
	snap   *store.Snapshot
	served scoring.Method
}

func (m *snapshotModel) List(kind store.ListKind, method scoring.Method, item string) []scoring.Related {
	if kind == store.ViewedBought || method == m.served {
		if l, ok := m.snap.Lists[kind][item]; ok && l.Items != nil {
			return l.Items
		}
		return []scoring.Related{}
	}
	return m.countersModel.List(kind, method, item)
}

// modelStore lets a recommend.Recommender read a model as the API's one
// reads Redis: the customers' histories, the served method's lists, the
// overall popularity list, the repeat counters and the items' purchase
// statistics.
type modelStore struct {
	model  Model
	served scoring.Method
}

// parts gives a Recommender the model as every part of its store.
func (s modelStore) parts() recommend.Store {
	return recommend.Store{Customers: s, Lists: s, Categories: s}
}

func (s modelStore) Load(_ context.Context, ids []string) (map[string]store.Customer, error) {
	out := make(map[string]store.Customer, len(ids))
	for _, id := range ids {
		_, viewed := s.model.History(id)
		out[id] = store.Customer{Purchases: s.model.Purchases(id), Views: delta.History{Items: viewed}}
	}
	return out, nil
}

func (s modelStore) ReadMany(_ context.Context, want []store.ListRef, popular *store.PopularRef, rebuy []string) (store.Gathered, error) {
	out := store.Gathered{Related: make([][]scoring.Related, len(want))}
	for _, it := range rebuy {
		out.Rebuy = append(out.Rebuy, s.model.Rebuy(it))
	}
	for i, w := range want {
		out.Related[i] = s.model.List(w.Kind, s.served, w.Item)
	}
	if popular != nil {
		if popular.Category != "" {
			return store.Gathered{}, fmt.Errorf("popularity of category %q: the evaluation models keep only the overall lists", popular.Category)
		}
		pl := s.model.Popular(popular.Kind)
		out.Popular, out.Repeats = &pl, s.model.Repeats()
	}
	return out, nil
}

func (s modelStore) ItemCategories(context.Context, []string) ([]string, error) {
	return nil, errors.New("item categories: the evaluation models keep none")
}
