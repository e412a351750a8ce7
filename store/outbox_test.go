package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// TestOutboxKeepsChangesUntilPublished: a list written with the outbox
// stays pending until its change is published; a list another writer
// changed since stays pending for that writer; what is left is read back
// with the list's current value, nil for a deleted list (a tombstone).
func TestOutboxKeepsChangesUntilPublished(t *testing.T) {
	testenv.ForEachRedis(t, testOutboxKeepsChangesUntilPublished)
}

func testOutboxKeepsChangesUntilPublished(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	purchases(t, st, 0, [2]string{"c1", "milk"}, [2]string{"c1", "bread"})
	rows, err := st.Lists.ReadRows(ctx, store.Bought, []string{"milk", "bread"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	list := func(i int, related ...string) store.List {
		l := store.List{List: store.Bought, Item: rows.Rows[i].Item, Method: scoring.Count, Revision: rows.Revisions[i]}
		for _, r := range related {
			l.Items = append(l.Items, scoring.Related{Item: r, Score: 1, Support: 1})
		}
		return l
	}
	write := func(lists ...store.List) store.Pending {
		t.Helper()
		p, err := st.Lists.Write(ctx, lists, true)
		if err != nil || p.Written != len(lists) || len(p.Changes) != len(lists) {
			t.Fatalf("write %d lists: %d written, %d changes, %v", len(lists), p.Written, len(p.Changes), err)
		}
		return p
	}
	pending := func(want ...store.ListChange) {
		t.Helper()
		got, err := st.Outbox.Pending(ctx, 10, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		byKey := map[string][]byte{}
		for _, ch := range got {
			byKey[ch.Key] = ch.Value
		}
		if len(got) != len(want) {
			t.Fatalf("%d changes pending, want %d: %v", len(got), len(want), byKey)
		}
		for _, w := range want {
			if v, ok := byKey[w.Key]; !ok || !bytes.Equal(v, w.Value) {
				t.Errorf("pending %s = %q, want %q", w.Key, v, w.Value)
			}
		}
	}

	first := write(list(0, "eggs"), list(1, "tea"))
	pending(first.Changes...)
	if early, err := st.Outbox.Pending(ctx, 10, time.Now().Add(-time.Hour)); err != nil || len(early) != 0 {
		t.Fatalf("changes marked before an hour ago: %v, %v; want none", early, err)
	}
	second := write(list(0, "butter")) // another writer, after the first wrote
	if err := st.Outbox.Published(ctx, first); err != nil {
		t.Fatal(err)
	}
	pending(second.Changes...) // bread's change is out; milk's newer one waits
	deleted := write(list(0))
	if deleted.Changes[0].Value != nil {
		t.Fatalf("an emptied list's change is %q, want a tombstone", deleted.Changes[0].Value)
	}
	if err := st.Outbox.Published(ctx, second); err != nil {
		t.Fatal(err)
	}
	left, err := st.Outbox.Pending(ctx, 10, time.Now().Add(time.Hour))
	if err != nil || len(left) != 1 || left[0].Key != store.RelatedFeedKey(store.Bought, "milk") || left[0].Value != nil {
		t.Fatalf("left after a deletion: %+v, %v; want milk's tombstone", left, err)
	}
	if err := st.Outbox.Clear(ctx, left); err != nil {
		t.Fatal(err)
	}
	pending()

	// Popularity lists go through the same outbox; a category list no
	// longer given is deleted, and its change is a tombstone.
	popular := func(categories ...string) store.Pending {
		t.Helper()
		var lists []store.PopularList
		for _, c := range categories {
			lists = append(lists, store.PopularList{Version: store.ListEncodingVersion, Kind: store.Bought, Category: c,
				Days: scoring.PopularityDays, Items: []scoring.Popular{{Item: "milk", Count: 2}}, Total: 2, Distinct: 1})
		}
		p, err := st.Popularity.WriteLists(ctx, store.Bought, lists, true)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pending(popular("", "dairy").Changes...)
	p := popular("")
	pending(p.Changes...)
	if len(p.Changes) != 2 || p.Changes[1].Key != store.PopularFeedKey(store.Bought, "dairy") || p.Changes[1].Value != nil {
		t.Fatalf("changes of a popularity write that drops a category: %+v", p.Changes)
	}
	if err := st.Outbox.Published(ctx, p); err != nil {
		t.Fatal(err)
	}
	pending()
}
