package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

func item(id string, status event.Status) *event.Item {
	return &event.Item{ID: id, Status: status}
}

func changedItems(cs []store.CatalogueChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Item)
	}
	return out
}

// Catalogue records apply once per offset, whoever applies them: a batch
// applied again, or a stale batch of an instance that read the partition
// late, changes nothing; each real change raises the revision and makes
// the item pending until its lists are re-scored.
func TestCatalogueAppliesEachRecordOnce(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		cat := env.Store.Catalogue
		now := time.Now()
		batch := []store.CatalogueRecord{
			{Offset: 0, Item: "a", Record: item("a", event.Hidden)},
			{Offset: 1, Item: "b", Record: item("b", event.Available)},
			{Offset: 2, Item: "a", Record: item("a", event.Hidden)}, // the same record again
		}
		got, err := cat.Apply(ctx, 0, batch, 3, now)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a", "b"}; !slices.Equal(changedItems(got), want) {
			t.Fatalf("changes %v, want %v", changedItems(got), want)
		}
		if again, err := cat.Apply(ctx, 0, batch, 3, now); err != nil || len(again) != 0 {
			t.Fatalf("the batch applied again changed %v (err %v)", again, err)
		}
		// Offsets 1..3: 1 and 2 are below the progress, 3 unhides a.
		later := []store.CatalogueRecord{batch[1], batch[2], {Offset: 3, Item: "a", Record: nil}}
		if got, err := cat.Apply(ctx, 0, later, 4, now); err != nil || !slices.Equal(changedItems(got), []string{"a"}) {
			t.Fatalf("overlapping batch changed %v (err %v), want [a]", changedItems(got), err)
		}
		if prog, err := cat.Progress(ctx); err != nil || prog[0] != 4 {
			t.Fatalf("progress %v (err %v), want partition 0 at 4", prog, err)
		}
		// A batch of dead-lettered records only moves the progress.
		if got, err := cat.Apply(ctx, 2, nil, 9, now); err != nil || len(got) != 0 {
			t.Fatalf("an empty batch changed %v (err %v)", got, err)
		}
		if prog, err := cat.Progress(ctx); err != nil || prog[2] != 9 {
			t.Fatalf("progress %v (err %v), want partition 2 at 9 after a batch of bad records", prog, err)
		}
		if _, ok, err := cat.Read(ctx, "a"); err != nil || ok {
			t.Fatalf("a tombstone left a record (ok %v, err %v)", ok, err)
		}
		if rec, ok, err := cat.Read(ctx, "b"); err != nil || !ok || rec.Status != event.Available {
			t.Fatalf("b: %+v %v %v", rec, ok, err)
		}
		if rev, err := cat.Revision(ctx); err != nil || rev != 3 {
			t.Fatalf("revision %d (err %v), want 3 changes", rev, err)
		}

		// Pending: a once (its latest change), b once, oldest first.
		pending, err := cat.TakePending(ctx, 10)
		if err != nil || !slices.Equal(changedItems(pending), []string{"b", "a"}) {
			t.Fatalf("pending %v (err %v), want [b a]", pending, err)
		}
		// b changes again before its lists are done: it stays pending.
		if _, err := cat.Apply(ctx, 0, []store.CatalogueRecord{{Offset: 4, Item: "b", Record: item("b", event.Hidden)}}, 5, now); err != nil {
			t.Fatal(err)
		}
		if err := cat.DonePending(ctx, pending); err != nil {
			t.Fatal(err)
		}
		if left, err := cat.TakePending(ctx, 10); err != nil || !slices.Equal(changedItems(left), []string{"b"}) {
			t.Fatalf("pending after done %v (err %v), want [b]", left, err)
		}
	})
}

// A reader holding the records of revision r learns every later change
// with Since(r), whatever happened during its full read.
func TestCatalogueReadersFollowChanges(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		cat := env.Store.Catalogue
		now := time.Now()
		if _, err := cat.Apply(ctx, 1, []store.CatalogueRecord{
			{Offset: 10, Item: "x", Record: &event.Item{ID: "x", Status: event.Available, Category: "toys"}},
			{Offset: 11, Item: "y", Record: item("y", event.Hidden)},
		}, 12, now); err != nil {
			t.Fatal(err)
		}
		all, rev, err := cat.All(ctx)
		if err != nil || len(all) != 2 || all["x"].Category != "toys" || all["y"].Status != event.Hidden || rev != 2 {
			t.Fatalf("All: %+v rev %d err %v", all, rev, err)
		}
		if changed, r, err := cat.Since(ctx, rev); err != nil || len(changed) != 0 || r != rev {
			t.Fatalf("Since(current) = %v, %d, %v", changed, r, err)
		}
		if _, err := cat.Apply(ctx, 1, []store.CatalogueRecord{
			{Offset: 12, Item: "y", Record: nil},
			{Offset: 13, Item: "z", Record: item("z", event.Hidden)},
		}, 14, now); err != nil {
			t.Fatal(err)
		}
		changed, r, err := cat.Since(ctx, rev)
		if err != nil || r != 4 || len(changed) != 2 || changed["y"] != nil || changed["z"] == nil || changed["z"].Status != event.Hidden {
			t.Fatalf("Since(%d) = %v, %d, %v", rev, changed, r, err)
		}
	})
}

// Window edges are kept in Redis, so an item launched at 9:00 becomes
// pending at 9:00 even if no record arrives then and whichever instance
// looks; its withdrawal later is scheduled in turn.
func TestCatalogueWindowEdgesBecomePending(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		cat := env.Store.Catalogue
		now := time.UnixMilli(1_800_000_000_000)
		launch, end := now.Add(time.Hour), now.Add(2*time.Hour)
		rec := &event.Item{ID: "w", Status: event.Available, From: launch, Until: end}
		if _, err := cat.Apply(ctx, 0, []store.CatalogueRecord{{Offset: 0, Item: "w", Record: rec},
			{Offset: 1, Item: "h", Record: &event.Item{ID: "h", Status: event.Hidden, From: launch}}}, 2, now); err != nil {
			t.Fatal(err)
		}
		pending, _ := cat.TakePending(ctx, 10)
		if err := cat.DonePending(ctx, pending); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			at   time.Time
			want int
		}{
			{launch.Add(-time.Millisecond), 0}, // before the launch
			{launch, 1},                        // the launch: w (h is hidden: its window changes nothing)
			{launch.Add(time.Minute), 0},       // nothing new
			{end, 1},                           // the withdrawal
			{end.Add(time.Hour), 0},            // no edge left
		} {
			n, err := cat.PromoteDue(ctx, step.at)
			if err != nil || n != step.want {
				t.Fatalf("PromoteDue(%v) = %d, %v; want %d", step.at, n, err, step.want)
			}
			pending, err := cat.TakePending(ctx, 10)
			if err != nil || len(pending) != step.want || step.want == 1 && pending[0].Item != "w" {
				t.Fatalf("pending at %v: %v (err %v)", step.at, pending, err)
			}
			if err := cat.DonePending(ctx, pending); err != nil {
				t.Fatal(err)
			}
		}
	})
}
