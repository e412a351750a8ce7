package store_test

import (
	"context"
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
