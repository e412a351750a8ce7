package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// TestReadRowsKeepsTheCandidatesAListCanUse: rows read with a minimum
// support hold exactly the candidates with at least that many co-buyers,
// each with its B_Y, and the row's own B_X; a row whose co-counts are all
// below it is still counted (its item has state), and its revision is that
// of the full read. Without a minimum every candidate comes back.
func TestReadRowsKeepsTheCandidatesAListCanUse(t *testing.T) {
	testenv.ForEachRedis(t, testReadRowsKeepsTheCandidatesAListCanUse)
}

func testReadRowsKeepsTheCandidatesAListCanUse(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	t0 := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	r := delta.Retention{Purchases: 10, Views: 10}
	b := delta.NewBatch(0)
	off := int64(0)
	buy := func(baskets ...[]string) {
		for _, basket := range baskets {
			var h, v delta.History
			for _, it := range basket {
				b.Purchase(&h, &v, it, t0, off, r)
				off++
			}
		}
	}
	// milk-bread by three customers, milk-tea by one, tea alone once more.
	buy([]string{"milk", "bread"}, []string{"milk", "bread"}, []string{"bread", "milk"}, []string{"milk", "tea"}, []string{"tea"})
	if err := st.Batches.Apply(ctx, b, nil, off-1, -1); err != nil {
		t.Fatal(err)
	}
	items := []string{"milk", "tea", "none"}
	all, err := st.Lists.ReadRows(ctx, store.Bought, items, 0)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := st.Lists.ReadRows(ctx, store.Bought, items, 2)
	if err != nil {
		t.Fatal(err)
	}
	candidates := func(rb store.RowBatch, i int) []scoring.Candidate {
		c := slices.Clone(rb.Rows[i].Candidates)
		slices.SortFunc(c, func(a, b scoring.Candidate) int { return strings.Compare(a.Item, b.Item) })
		return c
	}
	for _, tc := range []struct {
		rb   store.RowBatch
		name string
		i    int
		want []scoring.Candidate
	}{
		{all, "milk, every candidate", 0, []scoring.Candidate{{Item: "bread", Support: 3, Buyers: 3}, {Item: "tea", Support: 1, Buyers: 2}}},
		{cut, "milk, support >= 2", 0, []scoring.Candidate{{Item: "bread", Support: 3, Buyers: 3}}},
		{all, "tea, every candidate", 1, []scoring.Candidate{{Item: "milk", Support: 1, Buyers: 4}}},
		{cut, "tea, support >= 2", 1, nil},
	} {
		if got := candidates(tc.rb, tc.i); !slices.Equal(got, tc.want) {
			t.Errorf("%s: candidates %+v, want %+v", tc.name, got, tc.want)
		}
	}
	for i, it := range items {
		if all.Rows[i].Buyers != cut.Rows[i].Buyers || all.Revisions[i] != cut.Revisions[i] || all.Counted(i) != cut.Counted(i) {
			t.Errorf("%s: B %d/%d, revision %d/%d, counted %v/%v with and without the cut", it,
				all.Rows[i].Buyers, cut.Rows[i].Buyers, all.Revisions[i], cut.Revisions[i], all.Counted(i), cut.Counted(i))
		}
	}
	if cut.Rows[0].Buyers != 4 || !cut.Counted(1) || cut.Counted(2) {
		t.Errorf("B_milk %d (want 4), tea counted %v (want true: it has state), none counted %v (want false)", cut.Rows[0].Buyers, cut.Counted(1), cut.Counted(2))
	}
	if all.Globals != cut.Globals || all.Globals.Total == 0 {
		t.Errorf("totals %+v and %+v", all.Globals, cut.Globals)
	}
}
