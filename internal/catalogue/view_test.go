package catalogue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
)

// changes is a catalogue source in memory: every set is one revision.
type changes struct {
	records map[string]event.Item
	revs    map[string]int64
	rev     int64
	calls   int
}

func (c *changes) set(id string, rec *event.Item) {
	c.rev++
	c.revs[id] = c.rev
	if rec == nil {
		delete(c.records, id)
	} else {
		c.records[id] = *rec
	}
}

func (c *changes) All(context.Context) (map[string]event.Item, int64, error) {
	c.calls++
	out := map[string]event.Item{}
	for k, v := range c.records {
		out[k] = v
	}
	return out, c.rev, nil
}

func (c *changes) Since(_ context.Context, rev int64) (map[string]*event.Item, int64, error) {
	c.calls++
	out := map[string]*event.Item{}
	for id, r := range c.revs {
		if r > rev {
			if rec, ok := c.records[id]; ok {
				out[id] = &rec
			} else {
				out[id] = nil
			}
		}
	}
	return out, c.rev, nil
}

// TestViewFollowsTheCatalogue: a view reads everything once, then only what
// changed; it answers visibility at a given instant and the catalogue's
// category, and an item without a record is visible.
func TestViewFollowsTheCatalogue(t *testing.T) {
	ctx := context.Background()
	src := &changes{records: map[string]event.Item{}, revs: map[string]int64{}}
	launch := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	src.set("hidden", &event.Item{ID: "hidden", Status: event.Hidden})
	src.set("soon", &event.Item{ID: "soon", Status: event.Available, From: launch, Category: "garden"})
	v := NewView(src)
	if changed, err := v.Refresh(ctx); err != nil || len(changed) != 2 {
		t.Fatalf("first refresh: %v, %v", changed, err)
	}
	before, after := launch.Add(-time.Second), launch
	for _, tc := range []struct {
		item    string
		at      time.Time
		visible bool
	}{{"hidden", after, false}, {"soon", before, false}, {"soon", after, true}, {"other", before, true}} {
		if got := v.Visible(tc.item, tc.at); got != tc.visible {
			t.Errorf("Visible(%s, %s) = %v", tc.item, tc.at, got)
		}
	}
	if v.Category("soon") != "garden" || v.Category("other") != "" {
		t.Errorf("categories: %q %q", v.Category("soon"), v.Category("other"))
	}
	if changed, err := v.Refresh(ctx); err != nil || len(changed) != 0 {
		t.Fatalf("a refresh without changes: %v, %v", changed, err)
	}
	src.set("hidden", nil) // a tombstone: available again
	src.set("new", &event.Item{ID: "new", Status: event.Hidden})
	changed, err := v.Refresh(ctx)
	slices.Sort(changed)
	if err != nil || !slices.Equal(changed, []string{"hidden", "new"}) {
		t.Fatalf("refresh after two changes: %v, %v", changed, err)
	}
	if !v.Visible("hidden", after) || v.Visible("new", after) || v.Revision() != 4 {
		t.Errorf("after the changes: hidden visible %v, new visible %v, revision %d", v.Visible("hidden", after), v.Visible("new", after), v.Revision())
	}
}
