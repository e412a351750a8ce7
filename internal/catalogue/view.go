// Package catalogue is the shop's catalogue as the service sees it
// (docs/DESIGN.md §11): a View of the item records that re-scorers filter
// lists with and readers filter answers with, kept current from the
// catalogue state in Redis.
package catalogue

import (
	"context"
	"sync"
	"time"

	"github.com/alsobought/alsobought/event"
)

// Source is where a View reads the catalogue (store.Catalogue).
type Source interface {
	// All returns every record and the revision they are at least as new as.
	All(ctx context.Context) (map[string]event.Item, int64, error)
	// Since returns the records changed after a revision (nil: removed)
	// and the revision they bring the reader to.
	Since(ctx context.Context, rev int64) (map[string]*event.Item, int64, error)
}

// View holds every item record in memory. The catalogue is small next to
// the state (one record per item that has one) and read for every
// candidate of every list written, so a lookup must not cost a round trip;
// Refresh brings it up to date with one command when nothing changed.
// Safe for concurrent use.
type View struct {
	src Source

	mu      sync.RWMutex
	records map[string]event.Item
	rev     int64
	loaded  bool
}

// NewView returns a view of src; it reads nothing until Refresh.
func NewView(src Source) *View { return &View{src: src, records: map[string]event.Item{}} }

// Refresh reads what changed since the last refresh (everything, the first
// time) and returns the items whose record changed.
func (v *View) Refresh(ctx context.Context) ([]string, error) {
	v.mu.RLock()
	loaded, rev := v.loaded, v.rev
	v.mu.RUnlock()
	if !loaded {
		all, rev, err := v.src.All(ctx)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = map[string]event.Item{}
		}
		items := make([]string, 0, len(all))
		for it := range all {
			items = append(items, it)
		}
		v.mu.Lock()
		v.records, v.rev, v.loaded = all, rev, true
		v.mu.Unlock()
		return items, nil
	}
	changed, next, err := v.src.Since(ctx, rev)
	if err != nil || len(changed) == 0 {
		return nil, err
	}
	items := make([]string, 0, len(changed))
	v.mu.Lock()
	defer v.mu.Unlock()
	if next <= v.rev { // a concurrent refresh got further
		return nil, nil
	}
	for it, rec := range changed {
		if rec == nil {
			delete(v.records, it)
		} else {
			v.records[it] = *rec
		}
		items = append(items, it)
	}
	v.rev = next
	return items, nil
}

// Visible reports whether an item may be recommended at now: an item
// without a record may.
func (v *View) Visible(item string, now time.Time) bool {
	v.mu.RLock()
	rec, ok := v.records[item]
	v.mu.RUnlock()
	return !ok || rec.VisibleAt(now)
}

// Filter returns Visible at now as a function of the item.
func (v *View) Filter(now time.Time) func(item string) bool {
	return func(item string) bool { return v.Visible(item, now) }
}

// Record returns an item's record; ok is false when it has none.
func (v *View) Record(item string) (rec event.Item, ok bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	rec, ok = v.records[item]
	return rec, ok
}

// Category returns the category the catalogue gives an item, "" when it
// gives none (the item's events then say).
func (v *View) Category(item string) string {
	rec, _ := v.Record(item)
	return rec.Category
}

// Revision is the catalogue revision the view is at.
func (v *View) Revision() int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.rev
}
