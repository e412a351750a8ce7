// Package rescore keeps the related-item lists in step with the counters:
// it re-scores the items the consumer marked dirty within seconds, sweeps
// every row on a schedule (every P_Y drifts a little with T), and rebuilds
// everything on demand.
package rescore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/catalogue"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// The re-scorer's view of the state, one small interface per concept of
// package store, so that each can be replaced on its own.

// Lists reads the rows lists are computed from, and writes the lists.
type Lists interface {
	ReadRowsShortlisted(ctx context.Context, kind store.ListKind, items []string, minSupport int64, sl *store.Shortlist) (store.RowBatch, error)
	Write(ctx context.Context, lists []store.List, outbox bool) (store.Pending, error)
	Scan(ctx context.Context, kind store.ListKind, fn func(items []string) error) error
	Forget(ctx context.Context, items []string, outbox bool) ([]string, store.Pending, error)
}

// Dirty is the set of lists waiting to be re-scored.
type Dirty interface {
	Mark(ctx context.Context, lists []store.ListRef, at time.Time) error
	Claim(ctx context.Context, n int, markedBefore time.Time, owner string, lease time.Duration) ([]store.DirtyItem, error)
	Clear(ctx context.Context, items []store.DirtyItem, readAt time.Time) error
	Backlog(ctx context.Context) (int64, time.Time, error)
}

// Leases keep a task to one instance at a time.
type Leases interface {
	Try(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
}

// Outbox holds the list changes not yet published on the change feed.
type Outbox interface {
	Backlog(ctx context.Context) (int64, time.Time, error)
	Published(ctx context.Context, p store.Pending) error
	Pending(ctx context.Context, n int, markedBefore time.Time) ([]store.PendingChange, error)
	Clear(ctx context.Context, changes []store.PendingChange) error
}

// Popularity is the popularity counts and lists.
type Popularity interface {
	Anchor(ctx context.Context) (time.Time, error)
	Version(ctx context.Context) (int64, error)
	Counts(ctx context.Context, kind store.ListKind, anchor time.Time) (store.PopularCounts, error)
	WriteLists(ctx context.Context, kind store.ListKind, lists []store.PopularList, outbox bool) (store.Pending, error)
}

// Catalogue is the catalogue state: the records lists are filtered by,
// and the items whose availability changed.
type Catalogue interface {
	catalogue.Source
	PromoteDue(ctx context.Context, now time.Time) (int, error)
	TakePending(ctx context.Context, n int) ([]store.CatalogueChange, error)
	DonePending(ctx context.Context, done []store.CatalogueChange) error
	Holders(ctx context.Context, items []string) ([]store.ListRef, error)
}

// State is what the re-scorer reads and writes.
type State struct {
	Lists      Lists
	Dirty      Dirty
	Leases     Leases
	Outbox     Outbox
	Popularity Popularity
	Catalogue  Catalogue
}

// StateOf returns the parts of a store the re-scorer uses.
func StateOf(st *store.Store) State {
	return State{Lists: st.Lists, Dirty: st.Dirty, Leases: st.Leases, Outbox: st.Outbox, Popularity: st.Popularity,
		Catalogue: st.Catalogue}
}

// Defaults for Config.
const (
	DefaultBatch         = 200
	DefaultWorkers       = 2
	DefaultPollInterval  = 200 * time.Millisecond
	DefaultSweepInterval = time.Hour
	DefaultMinInterval   = time.Second
	// DefaultPopularInterval is how often, at most, the popularity lists
	// are recomputed while events arrive.
	DefaultPopularInterval = 5 * time.Second
	// DefaultPendingGrace: see Config.PendingGrace.
	DefaultPendingGrace = 5 * time.Second
	// ClaimLease is how long a claim on dirty items keeps other instances
	// off them (store.Dirty.Claim). An instance that dies leaves its claimed
	// items dirty for at most this long.
	ClaimLease = 30 * time.Second
)

// FreshnessBuckets are the bounds of alsobought_freshness_seconds. Between
// 0.1 s and 10 s, where the lists' freshness lives while the pipeline keeps
// up, each bound is less than 10% above the one before, so a quantile is
// known within 10% (a doubling layout left p99 known only within a factor
// of 2); a coarse tail beyond, with the runbook's 30 s objective as a
// bound, shows how far behind a backlog is. 63 buckets: one unlabelled
// histogram, a price worth paying for the product's main promise.
func FreshnessBuckets() []float64 {
	b := []float64{0.025, 0.05}
	b = append(b, prometheus.ExponentialBucketsRange(0.1, 10, 50)...) // ×1.0985 each
	return append(b, 12.5, 15, 20, 25, 30, 45, 60, 90, 120, 300, 600)
}

// Config of the re-scorer.
type Config struct {
	Method scoring.Method    // the served scorer; default scoring.DefaultMethod
	Rules  scoring.ListRules // K_list and min support
	Batch  int               // items re-scored per round trip; default DefaultBatch
	// Workers is how many batches of due lists a poll re-scores at once,
	// each under a claim of its own: one worker's CPU work overlaps
	// another's wait for Redis. Default DefaultWorkers.
	Workers       int
	PollInterval  time.Duration // how often an idle re-scorer looks for dirty items
	SweepInterval time.Duration // full re-score schedule; 0 turns the sweep off
	// MinInterval is how long a change gathers before its list is
	// re-scored (without a Budget, always; with one, once re-scoring takes
	// all of it: gatherFor). A best-seller touched by every basket is then
	// re-scored about once per interval, and a change waits at most this
	// long plus a poll (docs/DESIGN.md §4). Default DefaultMinInterval.
	MinInterval time.Duration
	// Budget is the share of the re-scorer's time re-scoring may take
	// before dirty lists gather their changes: up to half of it a list is
	// re-scored at the next poll, from all of it on a list waits until its
	// first mark is MinInterval old, and in between for a proportional part
	// of MinInterval (docs/DESIGN.md §4); over 1, lists never gather.
	// Default DefaultBudget.
	Budget float64
	// Feed turns the list change feed on: every list change goes through
	// the outbox (store.Lists.Write), and is published by Publisher when
	// there is one, else later by a serve process (see Publish).
	Feed      bool
	Publisher Publisher
	// PendingGrace is how old an outbox entry must be before
	// PublishPending takes it over from the re-scorer that marked it;
	// default DefaultPendingGrace.
	PendingGrace time.Duration
	// Errors counts failed Redis and Kafka calls; nil counts nothing.
	Errors *obs.Errors
	// View is the catalogue the lists are filtered by; the re-scorer
	// refreshes it at every poll and before every batch, so a process that
	// serves answers too can share it. Nil: a view of its own.
	View *catalogue.View
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if _, err := scoring.ParseMethod(string(c.Method)); err != nil {
		return err
	}
	if err := c.Rules.Validate(); err != nil {
		return err
	}
	if c.Batch < 1 || c.Workers < 1 || c.PollInterval <= 0 || c.SweepInterval < 0 || c.MinInterval < 0 || c.Budget < 0 {
		return errors.New("rescore batch and workers must be >= 1, poll interval > 0, sweep and minimum intervals and budget >= 0")
	}
	return nil
}

// Publisher publishes list changes and returns once they are acknowledged.
type Publisher interface {
	Publish(ctx context.Context, changes []store.ListChange) error
}

// Rescorer recomputes lists.
type Rescorer struct {
	cfg     Config
	st      State
	log     zerolog.Logger
	retries zerolog.Logger // rate-limited: a Redis outage fails every poll
	metrics *metrics
	now     func() time.Time
	// view is the catalogue the lists are filtered by, refreshed before
	// every batch of lists is computed.
	view *catalogue.View

	popularVersion int64     // the popularity version last computed from
	popularAt      time.Time // when
	// popularStale: an item's availability changed since the popularity
	// lists were computed; they are recomputed at the next poll.
	popularStale atomic.Bool
	// owner names this re-scorer in claims and leases: several instances
	// share one state.
	owner string

	// busy is the share of the re-scorer's time its polls spent
	// re-scoring lately (busyShare), and gather how old a first mark must
	// be for its list to be due (gatherFor); Run's goroutine alone sets
	// them, before a poll's workers start.
	busy     float64
	gather   time.Duration
	polledAt time.Time // the end of the last poll's re-scoring

	rescored atomic.Uint64 // lists re-scored, for Stats
	// When this re-scorer last finished each kind of background work
	// (unix ns, 0: never), and the feed's failed publications, for Stats.
	popularDone, sweepDone, publishDone atomic.Int64
	mu                                  sync.Mutex
	backlog                             backlog // the last backlog read, for Stats
}

type backlog struct {
	known     bool
	items     int64
	oldestAge float64
	// The outbox (with the feed on): list changes waiting to be published.
	outboxItems int64
	outboxAge   float64
}

// Stats are the re-scorer's figures that the status page shows, read from
// the re-scorer rather than back from the metrics registry.
type Stats struct {
	// Rescored is the lists re-scored since the re-scorer was built
	// (alsobought_items_rescored_total).
	Rescored uint64
	// Errors is the re-scoring rounds that failed and were retried
	// (alsobought_rescore_errors_total).
	Errors uint64
	// Freshness is the histogram of alsobought_freshness_seconds: the time
	// from the oldest change a re-scored list reflects to its write.
	Freshness *dto.Histogram
	// BacklogKnown is false until a poll has read the dirty set; then
	// DirtyItems and OldestAge (seconds) are what it read
	// (alsobought_dirty_items, alsobought_dirty_oldest_age_seconds).
	BacklogKnown bool
	DirtyItems   int64
	OldestAge    float64
	// Background work: when this re-scorer last recomputed the popularity
	// lists, swept every list (SweepInterval apart; only the instance
	// holding the lease sweeps) and published list changes on the feed
	// (zero: never); the feed's failed publications; and, with the feed on
	// (Feed), the list changes waiting in the outbox at the last poll and
	// the age of the oldest (seconds).
	PopularAt, SweptAt, PublishedAt time.Time
	SweepInterval                   time.Duration
	Feed                            bool
	FeedErrors                      uint64
	OutboxItems                     int64
	OutboxOldestAge                 float64
}

// Stats returns the re-scorer's figures now.
func (r *Rescorer) Stats() Stats {
	var m dto.Metric
	_ = r.metrics.freshness.Write(&m) // a histogram's Write does not fail
	r.mu.Lock()
	b := r.backlog
	r.mu.Unlock()
	return Stats{Rescored: r.rescored.Load(), Errors: uint64(obs.CounterValue(r.metrics.errors)), Freshness: m.GetHistogram(), BacklogKnown: b.known,
		DirtyItems: b.items, OldestAge: b.oldestAge,
		PopularAt: unixNano(r.popularDone.Load()), SweptAt: unixNano(r.sweepDone.Load()), PublishedAt: unixNano(r.publishDone.Load()),
		SweepInterval: r.cfg.SweepInterval, Feed: r.cfg.Feed, FeedErrors: uint64(obs.CounterValue(r.metrics.feedErrors)), OutboxItems: b.outboxItems, OutboxOldestAge: b.outboxAge}
}

// unixNano is the time of ns unix nanoseconds, zero for 0.
func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// New builds a Rescorer with defaults filled in.
func New(cfg Config, st State, log zerolog.Logger, reg prometheus.Registerer) (*Rescorer, error) {
	if cfg.Method == "" {
		cfg.Method = scoring.DefaultMethod
	}
	if cfg.Rules == (scoring.ListRules{}) {
		cfg.Rules = scoring.DefaultListRules()
	}
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.PendingGrace == 0 {
		cfg.PendingGrace = DefaultPendingGrace
	}
	if cfg.View == nil {
		cfg.View = catalogue.NewView(st.Catalogue)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log = log.With().Str("component", "rescore").Logger()
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	return &Rescorer{cfg: cfg, st: st, log: log, retries: obs.Repeats(log), metrics: newMetrics(reg), now: time.Now,
		view: cfg.View, owner: hex.EncodeToString(id)}, nil
}

// Rescore recomputes and writes the lists of a kind of the given items.
func (r *Rescorer) Rescore(ctx context.Context, kind store.ListKind, items []string) error {
	if len(items) == 0 {
		return nil
	}
	if _, err := r.view.Refresh(ctx); err != nil {
		return err
	}
	stateless, err := r.rescore(ctx, kind, items)
	if err != nil {
		return err
	}
	return r.forget(ctx, stateless)
}

// rescore is Rescore on the catalogue view as last refreshed, for some
// items, but for forgetting: it returns the items whose row held no
// counter, for the caller to forget once whatever the kinds they came
// from (two kinds' re-scores forgetting one item side by side would both
// count it).
func (r *Rescorer) rescore(ctx context.Context, kind store.ListKind, items []string) ([]string, error) {
	start := r.now()
	at := start.UTC()
	visible := r.view.Filter(at)
	rb, err := r.st.Lists.ReadRowsShortlisted(ctx, kind, items, r.cfg.Rules.MinSupport, r.shortlist(kind, visible))
	if err != nil {
		return nil, err
	}
	lists := make([]store.List, len(rb.Rows))
	var stateless []string // rows without a counter: their items may have no state left
	for i, row := range rb.Rows {
		if !rb.Counted(i) {
			stateless = append(stateless, row.Item)
		}
		entries, passedOver := r.list(rb, i, visible)
		lists[i] = store.List{List: kind, Item: row.Item, Method: r.method(kind), ComputedAt: at,
			Revision: rb.Revisions[i], Items: entries, Watch: watch(entries, passedOver), Watched: rb.Watched[i]}
		r.metrics.listSize.Observe(float64(len(lists[i].Items)))
	}
	pending, err := r.st.Lists.Write(ctx, lists, r.cfg.Feed)
	if err != nil {
		return nil, err
	}
	// A list not written lost to one computed from a newer row by another
	// re-scorer: the newer one stands.
	r.metrics.staleLists.Add(float64(len(lists) - pending.Written))
	if err := r.publish(ctx, pending); err != nil {
		return nil, err
	}
	r.metrics.rescored.Add(float64(len(items)))
	r.rescored.Add(uint64(len(items)))
	r.metrics.seconds.Observe(r.now().Sub(start).Seconds())
	return stateless, nil
}

// forget deletes the keys of the items, among those whose row of one kind
// just turned out to hold no counter, that have no state left of any kind
// (store.Lists.Forget, docs/DESIGN.md §10): their empty lists were deleted
// and announced by the write before, and the rest of their keys go now.
func (r *Rescorer) forget(ctx context.Context, items []string) error {
	gone, pending, err := r.st.Lists.Forget(ctx, items, r.cfg.Feed)
	if err != nil {
		return err
	}
	r.metrics.forgotten.Add(float64(len(gone)))
	return r.publish(ctx, pending)
}

// publish sends what a write left to publish, when this re-scorer has a
// publisher; without one the changes stay in the outbox for a serve
// process's PublishPending. A failed publish (Kafka down) does not fail
// re-scoring, which only needs Redis: the changes stay in the outbox and
// PublishPending retries them.
func (r *Rescorer) publish(ctx context.Context, p store.Pending) error {
	if r.cfg.Publisher == nil {
		return nil
	}
	if len(p.Changes) == 0 {
		return r.st.Outbox.Published(ctx, p) // clear what needed no message
	}
	if err := r.cfg.Publisher.Publish(ctx, p.Changes); err != nil {
		r.metrics.errors.Inc()
		r.metrics.feedErrors.Inc()
		r.cfg.Errors.Kafka()
		r.retries.Warn().Err(err).Int("lists", len(p.Changes)).Msg("publishing list changes failed; they stay in the outbox")
		return nil
	}
	r.publishDone.Store(r.now().UnixNano())
	return r.st.Outbox.Published(ctx, p)
}

// PublishPending publishes the current value of every list left in the
// outbox for longer than Config.PendingGrace (by a crash between the Redis write
// and the publish, or by a process without a publisher), and returns how
// many it published.
func (r *Rescorer) PublishPending(ctx context.Context) (int, error) {
	if r.cfg.Publisher == nil {
		return 0, nil
	}
	total := 0
	for {
		pending, err := r.st.Outbox.Pending(ctx, r.cfg.Batch, r.now().Add(-r.cfg.PendingGrace))
		if err != nil || len(pending) == 0 {
			return total, err
		}
		changes := make([]store.ListChange, len(pending))
		for i, p := range pending {
			changes[i] = p.ListChange
		}
		if err := r.cfg.Publisher.Publish(ctx, changes); err != nil {
			return total, fmt.Errorf("publish %d pending list changes: %w", len(changes), err)
		}
		if err := r.st.Outbox.Clear(ctx, pending); err != nil {
			return total, err
		}
		total += len(pending)
		if len(pending) < r.cfg.Batch {
			return total, nil
		}
	}
}

// method is the score a kind of list is computed with: the configured
// scorer, except for viewed-then-bought lists, which have their own
// (docs/DESIGN.md section 3).
func (r *Rescorer) method(kind store.ListKind) scoring.Method {
	if kind == store.ViewedBought {
		return scoring.ViewedThenBoughtMethod
	}
	return r.cfg.Method
}

// shortlist is what lets a re-score skip B of the candidates that cannot
// be listed (store.Shortlist): under a method whose score a candidate's
// support bounds, the list of the candidates the stored list watches says
// which others can still reach it. nil: every candidate's B is read.
func (r *Rescorer) shortlist(kind store.ListKind, visible scoring.Visible) *store.Shortlist {
	m := r.method(kind)
	if kind == store.ViewedBought || !m.BoundsBySupport() {
		return nil
	}
	return &store.Shortlist{Floor: func(row scoring.Row, g scoring.Globals) int64 {
		partial, _ := scoring.RelatedListVisible(m, row, g, r.cfg.Rules, visible)
		return scoring.ListableSupport(m, partial, r.cfg.Rules)
	}}
}

// list computes the list of row i of a batch over the visible candidates,
// and the hidden ones it passed over.
func (r *Rescorer) list(rb store.RowBatch, i int, visible scoring.Visible) ([]scoring.Related, []string) {
	if rb.Kind == store.ViewedBought {
		return scoring.ViewedBoughtListVisible(rb.Rows[i], rb.ViewedTotals[i], rb.Globals, r.cfg.Rules, visible)
	}
	return scoring.RelatedListVisible(r.cfg.Method, rb.Rows[i], rb.Globals, r.cfg.Rules, visible)
}

// watch is what a list watches (store.List.Watch): its entries and the
// hidden candidates passed over for them.
func watch(entries []scoring.Related, passedOver []string) []string {
	out := make([]string, 0, len(entries)+len(passedOver))
	for _, e := range entries {
		out = append(out, e.Item)
	}
	return append(out, passedOver...)
}

// FollowCatalogue marks dirty the lists that a change of an item's
// availability can change (docs/DESIGN.md §11), for the next drain: it
// refreshes the catalogue view, makes pending the items
// whose window edge has come, marks the lists holding each pending item
// dirty as if marked MinInterval ago (so the next poll takes them however
// busy the re-scorer is), asks for the popularity lists again, and clears
// the pending items. Every step is safe to repeat: a re-scorer that dies
// midway leaves the items pending for the next.
func (r *Rescorer) FollowCatalogue(ctx context.Context) error {
	if _, err := r.view.Refresh(ctx); err != nil {
		return err
	}
	now := r.now()
	if _, err := r.st.Catalogue.PromoteDue(ctx, now); err != nil {
		return err
	}
	for range pollRounds {
		pending, err := r.st.Catalogue.TakePending(ctx, r.cfg.Batch)
		if err != nil || len(pending) == 0 {
			return err
		}
		items := make([]string, len(pending))
		for i, p := range pending {
			items[i] = p.Item
		}
		holders, err := r.st.Catalogue.Holders(ctx, items)
		if err != nil {
			return err
		}
		// Marked as if MinInterval ago: the next poll takes them whatever
		// the gather delay, which is for lists touched by every basket.
		if err := r.st.Dirty.Mark(ctx, holders, now.Add(-r.cfg.MinInterval)); err != nil {
			return err
		}
		r.popularStale.Store(true)
		if err := r.st.Catalogue.DonePending(ctx, pending); err != nil {
			return err
		}
		r.metrics.catalogueChanges.Add(float64(len(pending)))
	}
	return nil
}

// DrainDirty re-scores every dirty item, however recently marked, and
// returns how many it re-scored.
func (r *Rescorer) DrainDirty(ctx context.Context) (int, error) {
	return r.drain(ctx, func() ([]store.DirtyItem, error) {
		return r.st.Dirty.Claim(ctx, r.cfg.Batch, anyMark, r.owner, ClaimLease)
	}, -1)
}

// anyMark is a mark time after every mark: a claim before it takes lists
// however recently marked.
var anyMark = time.Unix(1<<40, 0)

// claimDue claims for owner the dirty lists that are due: first marked
// at least the gather delay ago (Config.Budget). The others wait, still
// dirty.
func (r *Rescorer) claimDue(ctx context.Context, owner string) ([]store.DirtyItem, error) {
	return r.st.Dirty.Claim(ctx, r.cfg.Batch, r.now().Add(-r.gather), owner, ClaimLease)
}

// pollDue re-scores the due lists (drainDue), then updates the busy share
// and the gather delay the next poll's claims use.
func (r *Rescorer) pollDue(ctx context.Context) error {
	start := r.now()
	err := r.drainDue(ctx)
	end := r.now()
	if r.polledAt.IsZero() {
		r.polledAt = start.Add(-r.cfg.PollInterval)
	}
	r.busy = busyShare(r.busy, end.Sub(start), end.Sub(r.polledAt))
	r.polledAt = end
	r.gather = gatherFor(r.busy, r.cfg.Budget, r.cfg.MinInterval)
	r.metrics.busy.Set(r.busy)
	r.metrics.gather.Set(r.gather.Seconds())
	return err
}

// drainDue re-scores the due lists with Config.Workers workers, each for
// at most pollRounds batches. Each claims under an owner of its own (this
// re-scorer's, numbered), so no two re-score one list at a time, and a
// worker's claims left by a failure are its own again at the next poll.
func (r *Rescorer) drainDue(ctx context.Context) error {
	errs := make([]error, r.cfg.Workers)
	var wg sync.WaitGroup
	for w := range r.cfg.Workers {
		owner := r.owner
		if w > 0 {
			owner = fmt.Sprintf("%s/%d", r.owner, w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[w] = r.drain(ctx, func() ([]store.DirtyItem, error) { return r.claimDue(ctx, owner) }, pollRounds)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pollRounds bounds the batches one poll of Run re-scores, so that under a
// steady stream of marks the popularity lists and the outbox get their
// turn too.
const pollRounds = 25

// drain re-scores the dirty items claim returns until it returns none, or
// for at most rounds batches (rounds < 0: no bound).
func (r *Rescorer) drain(ctx context.Context, claim func() ([]store.DirtyItem, error), rounds int) (int, error) {
	total := 0
	for ; rounds != 0; rounds-- {
		readAt := r.now()
		dirty, err := claim()
		if err != nil || len(dirty) == 0 {
			return total, err
		}
		if err := r.rescoreKinds(ctx, dirty); err != nil {
			return total, err
		}
		if err := r.st.Dirty.Clear(ctx, dirty, readAt); err != nil {
			return total, err
		}
		for _, d := range dirty {
			r.metrics.freshness.Observe(r.now().Sub(d.Since).Seconds())
		}
		total += len(dirty)
	}
	return total, nil
}

// rescoreKinds re-scores claimed lists, the kinds at once: each kind's
// re-score is a chain of round trips (rows, B, the write), and under a
// loaded Redis those wait in its queue, so running them side by side
// shortens a round by the waits it overlaps. The catalogue view is
// refreshed once for them all.
func (r *Rescorer) rescoreKinds(ctx context.Context, dirty []store.DirtyItem) error {
	if _, err := r.view.Refresh(ctx); err != nil {
		return err
	}
	byKind := map[store.ListKind][]string{}
	for _, d := range dirty {
		byKind[d.Kind] = append(byKind[d.Kind], d.Item)
	}
	kinds := store.ListKinds()
	errs := make([]error, len(kinds))
	stateless := make([][]string, len(kinds))
	var wg sync.WaitGroup
	for i, kind := range kinds {
		if len(byKind[kind]) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stateless[i], errs[i] = r.rescore(ctx, kind, byKind[kind])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// An item whose rows of several kinds hold no counter is forgotten
	// once, after all of them were re-scored.
	items := slices.Concat(stateless...)
	slices.Sort(items)
	return r.forget(ctx, slices.Compact(items))
}

// RescorePopular recomputes the popularity lists of both kinds from the
// day buckets of the window before the anchor.
func (r *Rescorer) RescorePopular(ctx context.Context) error {
	version, err := r.st.Popularity.Version(ctx)
	if err != nil {
		return err
	}
	anchor, err := r.st.Popularity.Anchor(ctx)
	if err != nil || anchor.IsZero() {
		return err
	}
	at := r.now().UTC()
	r.popularAt = r.now() // also after a failure: retried at the next interval, not every poll
	r.popularStale.Store(false)
	if _, err := r.view.Refresh(ctx); err != nil {
		return err
	}
	for _, kind := range []store.ListKind{store.Bought, store.Viewed} {
		pop, err := r.st.Popularity.Counts(ctx, kind, anchor)
		if err != nil {
			return err
		}
		pending, err := r.st.Popularity.WriteLists(ctx, kind, pop.Catalogued(r.view.Category).Lists(kind, at, r.view.Filter(at)), r.cfg.Feed)
		if err != nil {
			return err
		}
		if err := r.publish(ctx, pending); err != nil {
			return err
		}
	}
	r.popularVersion = version
	r.popularDone.Store(r.now().UnixNano())
	return nil
}

// popularDue reports whether events were counted since the last
// popularity lists and DefaultPopularInterval has passed.
func (r *Rescorer) popularDue(ctx context.Context) bool {
	if r.popularStale.Load() {
		return true
	}
	if r.now().Sub(r.popularAt) < DefaultPopularInterval {
		return false
	}
	v, err := r.st.Popularity.Version(ctx)
	return err == nil && v != r.popularVersion
}

// popularIfDue recomputes the popularity lists when they are due and this
// instance takes the lease. An instance that finds the lease held by
// another waits an interval before it asks again, as if it had computed
// them: the holder does, and asking at every poll cost three round trips.
func (r *Rescorer) popularIfDue(ctx context.Context) {
	if !r.popularDue(ctx) {
		return
	}
	if !r.lease(ctx, "popular", DefaultPopularInterval) {
		r.popularAt = r.now()
		return
	}
	if err := r.RescorePopular(ctx); err != nil && ctx.Err() == nil {
		r.metrics.errors.Inc()
		r.retries.Warn().Err(err).Msg("re-scoring popularity failed; will retry")
	}
}

// RescoreAll recomputes every list of every kind (and removes lists of
// items that lost their row), then drains what became dirty meanwhile. It
// returns the number of lists re-scored.
func (r *Rescorer) RescoreAll(ctx context.Context) (int, error) {
	total := 0
	for _, kind := range store.ListKinds() {
		done := make(map[string]struct{})
		err := r.st.Lists.Scan(ctx, kind, func(items []string) error {
			todo := items[:0:0]
			for _, it := range items {
				if _, ok := done[it]; !ok {
					done[it] = struct{}{}
					todo = append(todo, it)
				}
			}
			for len(todo) > 0 {
				n := min(len(todo), r.cfg.Batch)
				if err := r.Rescore(ctx, kind, todo[:n]); err != nil {
					return err
				}
				todo = todo[n:]
			}
			return nil
		})
		total += len(done)
		if err != nil {
			return total, fmt.Errorf("rescore all %s lists: %w", kind, err)
		}
	}
	if err := r.RescorePopular(ctx); err != nil {
		return total, fmt.Errorf("rescore popularity: %w", err)
	}
	n, err := r.DrainDirty(ctx)
	return total + n, err
}

// Run re-scores dirty items as they appear and sweeps every row on the
// configured schedule, until ctx is cancelled. Errors are logged and
// retried on the next tick: a Redis outage pauses re-scoring, no more.
func (r *Rescorer) Run(ctx context.Context) error {
	poll := time.NewTicker(r.cfg.PollInterval)
	defer poll.Stop()
	var sweep <-chan time.Time
	if r.cfg.SweepInterval > 0 {
		t := time.NewTicker(r.cfg.SweepInterval)
		defer t.Stop()
		sweep = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			if err := r.FollowCatalogue(ctx); err != nil && ctx.Err() == nil {
				r.metrics.errors.Inc()
				r.cfg.Errors.Redis()
				r.retries.Warn().Err(err).Msg("following catalogue changes failed; will retry")
			}
			if err := r.pollDue(ctx); err != nil && ctx.Err() == nil {
				r.metrics.errors.Inc()
				r.cfg.Errors.Redis()
				r.retries.Warn().Err(err).Msg("re-scoring dirty items failed; will retry")
			}
			if n, err := r.PublishPending(ctx); err != nil && ctx.Err() == nil {
				r.metrics.errors.Inc()
				r.retries.Warn().Err(err).Msg("publishing pending list changes failed; will retry")
			} else if n > 0 {
				r.log.Info().Int("lists", n).Msg("published list changes left pending")
			}
			r.popularIfDue(ctx)
			r.observeBacklog(ctx)
		case <-sweep:
			// One instance sweeps per interval; the others' ticks find the
			// lease taken.
			if !r.lease(ctx, "sweep", r.cfg.SweepInterval/2) {
				continue
			}
			n, err := r.RescoreAll(ctx)
			if err != nil && ctx.Err() == nil {
				r.metrics.errors.Inc()
				r.log.Warn().Err(err).Msg("sweep failed; will retry at the next one")
				continue
			}
			r.sweepDone.Store(r.now().UnixNano())
			r.log.Info().Int("items", n).Msg("sweep re-scored every list")
		}
	}
}

// lease reports whether this instance holds (or just took) the named
// lease. An error counts as not holding it: the task waits for its next
// turn.
func (r *Rescorer) lease(ctx context.Context, name string, ttl time.Duration) bool {
	ok, err := r.st.Leases.Try(ctx, name, r.owner, ttl)
	if err != nil && ctx.Err() == nil {
		r.metrics.errors.Inc()
		r.cfg.Errors.Redis()
		r.retries.Warn().Err(err).Str("lease", name).Msg("taking a lease failed; will retry")
	}
	return ok
}

func (r *Rescorer) observeBacklog(ctx context.Context) {
	n, oldest, err := r.st.Dirty.Backlog(ctx)
	if err != nil {
		return
	}
	r.metrics.backlog.Set(float64(n))
	age := 0.0
	if !oldest.IsZero() {
		age = r.now().Sub(oldest).Seconds()
	}
	r.metrics.oldestAge.Set(age)
	b := backlog{known: true, items: n, oldestAge: age}
	if r.cfg.Feed {
		if on, oldest, err := r.st.Outbox.Backlog(ctx); err == nil {
			b.outboxItems = on
			if !oldest.IsZero() {
				b.outboxAge = r.now().Sub(oldest).Seconds()
			}
		}
	}
	r.mu.Lock()
	r.backlog = b
	r.mu.Unlock()
}

type metrics struct {
	rescored   prometheus.Counter
	errors     prometheus.Counter
	feedErrors prometheus.Counter
	seconds    prometheus.Histogram
	listSize   prometheus.Histogram
	staleLists prometheus.Counter
	freshness  prometheus.Histogram
	backlog    prometheus.Gauge
	oldestAge  prometheus.Gauge
	busy       prometheus.Gauge
	gather     prometheus.Gauge
	// catalogueChanges: availability changes whose lists were marked.
	catalogueChanges prometheus.Counter
	forgotten        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns = "alsobought"
	m := &metrics{
		rescored: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "items_rescored_total",
			Help: "Related lists recomputed."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "rescore_errors_total",
			Help: "Re-scoring rounds that failed and will be retried."}),
		feedErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "feed_publish_errors_total",
			Help: "Publications of list changes on the change feed that failed; the changes stay in the outbox and are published later."}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "rescore_batch_duration_seconds",
			Help: "Time to read, score and write one batch of lists.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		listSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "related_list_items",
			Help: "Items per recomputed related list.", Buckets: []float64{0, 1, 2, 5, 10, 20, 50, 100}}),
		staleLists: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "stale_list_writes_total",
			Help: "Recomputed lists not written because a list from a newer revision of the row was already stored."}),
		freshness: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "freshness_seconds",
			Help:    "Time from the Kafka record timestamp of the oldest change a re-scored list reflects to the list's write.",
			Buckets: FreshnessBuckets()}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "dirty_items",
			Help: "Items waiting to be re-scored."}),
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "dirty_oldest_age_seconds",
			Help: "Age of the oldest pending dirty mark."}),
		busy: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "rescore_busy_ratio",
			Help: "Share of the re-scorer's time its polls spent re-scoring lately (a mean over about the last five polls)."}),
		gather: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "rescore_gather_seconds",
			Help: "How old a dirty list's first mark must be before it is re-scored: 0 while re-scoring takes under half its budget, up to the minimum interval."}),
		catalogueChanges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "catalogue_changes_followed_total",
			Help: "Changes of an item's availability (a catalogue record, or a window edge reached) whose lists were marked for re-scoring."}),
		forgotten: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "items_forgotten_total",
			Help: "Items with no state left whose keys were deleted (rows, lists, holders, category)."}),
	}
	if reg != nil {
		reg.MustRegister(m.rescored, m.errors, m.feedErrors, m.seconds, m.listSize, m.staleLists, m.freshness, m.backlog, m.oldestAge, m.busy, m.gather,
			m.catalogueChanges, m.forgotten)
	}
	return m
}
