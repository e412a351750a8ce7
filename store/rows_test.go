package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// TestAShortlistedReadListsWhatAWholeReadLists: a re-score's read with a
// shortlist (amazon2017_prior's bound, as the re-scorer sets it) leaves
// out candidates of a popular row once its list is stored, and never one
// that a list needs: every row's list, and the hidden items it passes
// over, are those of the read of every candidate, and the row keeps every
// candidate that its list's own least support does not rule out.
func TestAShortlistedReadListsWhatAWholeReadLists(t *testing.T) {
	testenv.ForEachRedis(t, testAShortlistedReadListsWhatAWholeReadLists)
}

func testAShortlistedReadListsWhatAWholeReadLists(t *testing.T, env *testenv.Env) {
	st, ctx := env.Store, context.Background()
	const support, historySize = 2, 10
	if err := st.Meta.EnsureWithRowIndexes(ctx, indexedSettings(support, historySize), support); err != nil {
		t.Fatal(err)
	}
	// hot's row is dense, and would be read whole, without the hint of
	// its watched items: read it by its index all the same.
	store.ReadRowsByIndexOnly(st)
	t0 := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	r := delta.Retention{Purchases: historySize, Views: historySize}
	b := delta.NewBatch(0)
	rng := rand.New(rand.NewPCG(3, 4))
	off := int64(0)
	// Half the customers buy "hot", a partner of theirs among 30 and a
	// few of 1,500 tail items; the others buy only tail items. hot's list
	// is of its partners, and its many tail candidates of a co-buyer or
	// two cannot reach it: more than a shortlist reads in one round trip.
	for c := range 3000 {
		var basket []string
		if c%2 == 0 {
			basket = append(basket, "hot", fmt.Sprintf("partner%02d", rng.IntN(30)))
		}
		for range 3 + rng.IntN(3) {
			basket = append(basket, fmt.Sprintf("tail%04d", rng.IntN(1500)))
		}
		var h, v delta.History
		for _, it := range basket {
			b.Purchase(&h, &v, it, t0, off, r)
			off++
		}
	}
	if err := st.Batches.Apply(ctx, b, nil, off-1, -1); err != nil {
		t.Fatal(err)
	}
	m, rules := scoring.Amazon2017Prior, scoring.ListRules{Size: 10, MinSupport: support}
	items := []string{"hot", "tail0001", "tail0042", "none"}
	for i := range 30 {
		items = append(items, fmt.Sprintf("partner%02d", i))
	}
	whole, err := st.Lists.ReadRows(ctx, store.Bought, items, rules.MinSupport)
	if err != nil {
		t.Fatal(err)
	}
	// hot's best partner is hidden: its list passes over it.
	best := scoring.RelatedList(m, whole.Rows[0], whole.Globals, rules)[0].Item
	visible := func(item string) bool { return item != best && item != "tail0042" }
	shortlist := &store.Shortlist{Floor: func(row scoring.Row, g scoring.Globals) int64 {
		partial, _ := scoring.RelatedListVisible(m, row, g, rules, visible)
		return scoring.ListableSupport(m, partial, rules)
	}}
	lists := func(rb store.RowBatch) (out [][]scoring.Related, over [][]string) {
		for _, row := range rb.Rows {
			l, o := scoring.RelatedListVisible(m, row, rb.Globals, rules, visible)
			out, over = append(out, l), append(over, o)
		}
		return out, over
	}
	if n := len(whole.Rows[0].Candidates); n < store.ShortlistAtLeast+rules.Size {
		t.Fatalf("hot has %d candidates: too few for a shortlist to leave any out", n)
	}
	wantLists, wantOver := lists(whole)
	if len(wantLists[0]) != rules.Size || !slices.Equal(wantOver[0], []string{best}) {
		t.Fatalf("hot lists %v, passing over %v: want a full list passing over %s", wantLists[0], wantOver[0], best)
	}
	for round := range 2 {
		short, err := st.Lists.ReadRowsShortlisted(ctx, store.Bought, items, rules.MinSupport, shortlist)
		if err != nil {
			t.Fatal(err)
		}
		gotLists, gotOver := lists(short)
		for i, it := range items {
			if !slices.Equal(gotLists[i], wantLists[i]) || !slices.Equal(gotOver[i], wantOver[i]) {
				t.Errorf("round %d, %s: shortlisted read lists %v (over %v), whole read %v (over %v)", round, it, gotLists[i], gotOver[i], wantLists[i], wantOver[i])
			}
			if short.Rows[i].Buyers != whole.Rows[i].Buyers || short.Revisions[i] != whole.Revisions[i] {
				t.Errorf("round %d, %s: B %d, revision %d; whole read B %d, revision %d", round, it, short.Rows[i].Buyers, short.Revisions[i], whole.Rows[i].Buyers, whole.Revisions[i])
			}
		}
		// The first round has no stored list to judge by; the second
		// leaves out most of hot's tail.
		switch kept, all := len(short.Rows[0].Candidates), len(whole.Rows[0].Candidates); {
		case round == 0 && kept != all:
			t.Errorf("round 0: hot kept %d of its %d candidates, without a stored list to judge them by", kept, all)
		case round == 1 && kept >= all/2:
			t.Errorf("round 1: hot kept %d of its %d candidates: the shortlist left out too few", kept, all)
		}
		// It keeps at least every candidate that the list itself cannot
		// rule out by support.
		for i, it := range items {
			least := scoring.ListableSupport(m, wantLists[i], rules)
			for _, c := range whole.Rows[i].Candidates {
				if c.Support >= least && !slices.Contains(short.Rows[i].Candidates, c) {
					t.Errorf("round %d, %s: left out %+v, at or above the list's own least support %d", round, it, c, least)
				}
			}
		}
		// The second round reads with the stored list watched: the list
		// the first computed, written as the re-scorer writes it.
		var written []store.List
		for i, it := range items {
			written = append(written, store.List{List: store.Bought, Item: it, Method: m, ComputedAt: t0,
				Revision: whole.Revisions[i], Items: gotLists[i], Watch: append(listItems(gotLists[i]), gotOver[i]...)})
		}
		if _, err := st.Lists.Write(ctx, written, false); err != nil {
			t.Fatal(err)
		}
	}
}

func listItems(l []scoring.Related) []string {
	var out []string
	for _, r := range l {
		out = append(out, r.Item)
	}
	return out
}
