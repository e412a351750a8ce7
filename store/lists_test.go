package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// TestReadManyReusesAnUnchangedPopularList: the popularity list every
// request reads is decoded again only when its stored JSON changed; the
// repeat-purchase counters come in the same round trip.
func TestReadManyReusesAnUnchangedPopularList(t *testing.T) {
	testenv.ForEachRedis(t, testReadManyReusesAnUnchangedPopularList)
}

func testReadManyReusesAnUnchangedPopularList(t *testing.T, env *testenv.Env) {
	ctx := context.Background()
	purchases(t, env.Store, 0, [2]string{"c1", "milk"}, [2]string{"c1", "milk"}, [2]string{"c2", "tea"})
	write := func(items ...scoring.Popular) {
		t.Helper()
		l := store.PopularList{Version: store.ListEncodingVersion, Kind: store.Bought, Days: scoring.PopularityDays,
			ComputedAt: time.Now().UTC(), Items: items, Total: 3, Distinct: 2}
		if _, err := env.Store.Popularity.WriteLists(ctx, store.Bought, []store.PopularList{l}, false); err != nil {
			t.Fatal(err)
		}
	}
	read := func() (*store.PopularList, store.Repeats) {
		t.Helper()
		got, err := env.Store.Lists.ReadMany(ctx, nil, &store.PopularRef{Kind: store.Bought}, nil)
		if err != nil || got.Popular == nil {
			t.Fatalf("read: %v, %v", got.Popular, err)
		}
		return got.Popular, got.Repeats
	}
	write(scoring.Popular{Item: "milk", Count: 2})
	first, rep := read()
	if rep.Purchases != 3 || rep.Repeats != 1 {
		t.Errorf("repeats %+v, want 3 purchases of which 1 repeat", rep)
	}
	if again, _ := read(); again != first {
		t.Error("an unchanged popularity list was decoded again")
	}
	write(scoring.Popular{Item: "milk", Count: 2}, scoring.Popular{Item: "tea", Count: 1})
	if changed, _ := read(); changed == first || len(changed.Items) != 2 || changed.Total != 3 || changed.Distinct != 2 {
		t.Errorf("after a change: %+v (first %p, now %p)", changed, first, changed)
	}
}

// TestEachListOfAManyListWriteKeepsItsOwnFence: a re-score's lists go to
// Redis several to a script call (one in a cluster), and each keeps its
// own outcome: a list computed from a row that changed since is refused,
// an empty list where none was stored changes nothing, the others are
// written, and the change feed gets exactly the lists that changed.
func TestEachListOfAManyListWriteKeepsItsOwnFence(t *testing.T) {
	testenv.ForEachRedis(t, testEachListOfAManyListWriteKeepsItsOwnFence)
}

func testEachListOfAManyListWriteKeepsItsOwnFence(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	const n = 70 // more than one call's lists
	var pairs [][2]string
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("item%02d", i)
		pairs = append(pairs, [2]string{fmt.Sprintf("c%02d", i), "milk"}, [2]string{fmt.Sprintf("c%02d", i), items[i]})
	}
	off := purchases(t, st, 0, pairs...)
	before, err := st.Lists.ReadRows(ctx, store.Bought, items, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Every third row changes after the read, and a list computed from its
	// new revision is stored: the list computed before is stale.
	var later [][2]string
	var stale []string
	for i := 0; i < n; i += 3 {
		later = append(later, [2]string{fmt.Sprintf("d%02d", i), "tea"}, [2]string{fmt.Sprintf("d%02d", i), items[i]})
		stale = append(stale, items[i])
	}
	purchases(t, st, off, later...)
	fresh, err := st.Lists.ReadRows(ctx, store.Bought, stale, 0)
	if err != nil {
		t.Fatal(err)
	}
	var newer []store.List
	for i, it := range stale {
		newer = append(newer, store.List{List: store.Bought, Item: it, Method: scoring.Count, Revision: fresh.Revisions[i],
			Items: []scoring.Related{{Item: "fresh", Score: 1, Support: 1}}})
	}
	if p, err := st.Lists.Write(ctx, newer, false); err != nil || p.Written != len(newer) {
		t.Fatalf("newer lists: %d of %d written, %v", p.Written, len(newer), err)
	}
	lists := make([]store.List, n)
	wantWritten, wantChanges := 0, map[string]bool{}
	for i, it := range items {
		lists[i] = store.List{List: store.Bought, Item: it, Method: scoring.Count, Revision: before.Revisions[i]}
		switch i % 3 {
		case 0: // stale: refused
			lists[i].Items = []scoring.Related{{Item: "stale", Score: 1, Support: 1}}
		case 1:
			lists[i].Items = []scoring.Related{{Item: "milk", Score: float64(i), Support: 1}}
			lists[i].Watch = []string{"milk"}
			wantWritten++
			wantChanges[store.RelatedFeedKey(store.Bought, it)] = true
		case 2: // empty, and none stored: nothing to publish
			wantWritten++
		}
	}
	p, err := st.Lists.Write(ctx, lists, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Written != wantWritten || len(p.Changes) != len(wantChanges) {
		t.Fatalf("%d written and %d changes, want %d and %d", p.Written, len(p.Changes), wantWritten, len(wantChanges))
	}
	for _, ch := range p.Changes {
		if !wantChanges[ch.Key] || len(ch.Value) == 0 {
			t.Errorf("change %s (%d bytes) published, want only the written non-empty lists", ch.Key, len(ch.Value))
		}
	}
	for i, it := range items {
		got, err := st.Lists.Read(ctx, store.Bought, it)
		switch {
		case i%3 == 1 && (err != nil || len(got.Items) != 1 || got.Items[0].Score != float64(i)):
			t.Errorf("list of %s: %+v, %v; want its own entry, score %d", it, got.Items, err, i)
		case i%3 == 0 && (err != nil || len(got.Items) != 1 || got.Items[0].Item != "fresh"):
			t.Errorf("list of %s: %+v, %v; want the newer one kept", it, got.Items, err)
		case i%3 == 2 && !errors.Is(err, store.ErrNotFound):
			t.Errorf("list of %s: %+v, %v; want none", it, got.Items, err)
		}
	}
	// The written lists' watch is recorded with their revision: read back.
	after, err := st.Lists.ReadRows(ctx, store.Bought, items, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wantHolders []string
	for i := 1; i < n; i += 3 {
		if !slices.Equal(after.Watched[i], []string{"milk"}) {
			t.Errorf("%s watches %v, want [milk]", items[i], after.Watched[i])
		}
		wantHolders = append(wantHolders, items[i])
	}
	// So are they among the holders of what they watch (one SADD for all
	// of them): a change of milk's availability re-scores each of them.
	holders, err := st.Catalogue.Holders(ctx, []string{"milk"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range holders {
		if h.Kind == store.Bought {
			got = append(got, h.Item)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, wantHolders) {
		t.Errorf("holders of milk %v, want the %d lists that watch it %v", got, len(wantHolders), wantHolders)
	}
}
