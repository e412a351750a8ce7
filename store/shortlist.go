package store

import (
	"context"

	"github.com/alsobought/alsobought/scoring"
)

// Shortlist tells ReadRowsShortlisted which of a row's candidates can be
// listed, so that the others' B is not read.
type Shortlist struct {
	// Floor returns the least support a candidate needs to be listed,
	// given the row with only some of its candidates, those its stored
	// list watches (scoring.ListableSupport).
	Floor func(row scoring.Row, g scoring.Globals) int64
}

// shortlistAtLeast is the fewest candidates that the hinted rows of a
// batch may leave unread for a shortlisted read to judge them: reading
// their hints' B with the rows costs an HMGET per shard (schema.Shards),
// which fewer names left unread do not pay back. A paced re-score reads a
// few rows at a time, and with every batch judged it cost 2–4 more Redis
// commands per Dunnhumby event (docs/BENCHMARKS.md, "Twelfth pass").
const shortlistAtLeast = 1024

// shortlistHints returns which rows a shortlisted read judges by the items
// their stored list watches (watched, read with their indexes' names), or
// nil when none is, or when the rows could leave fewer than
// shortlistAtLeast candidates unread (estimated by their indexes' names).
func shortlistHints(named, watched [][]string) []bool {
	if watched == nil {
		return nil
	}
	hinted := make([]bool, len(watched))
	others := 0
	for i, w := range watched {
		if len(w) > 0 {
			hinted[i] = true
			others += max(len(named[i])-len(w), 0)
		}
	}
	if others < shortlistAtLeast {
		return nil
	}
	return hinted
}

// readShortlisted reads B for the rows of rb under a shortlist
// (ReadRowsShortlisted). firstB holds the B read with the rows: of each
// hinted row's item and of the items its list watches, row after row. A
// hinted row's candidates among those are its first; Floor judges the
// others from them, and the B round trip reads the others at or above
// their row's floor and every candidate of the rows without a hint. The
// candidates whose B was not read are left out of their rows.
func (l *Lists) readShortlisted(ctx context.Context, rb *RowBatch, sl *Shortlist, hinted []bool, watched [][]string, firstB []string) error {
	first := make([][]bool, len(rb.Rows))
	floor := make([]int64, len(rb.Rows))
	buyers := map[string]int64{} // a hinted row's watched items, row after row
	at := 0
	for i := range rb.Rows {
		if !hinted[i] {
			continue
		}
		row := &rb.Rows[i]
		row.Buyers = parseCount(firstB[at])
		at++
		clear(buyers)
		for _, it := range watched[i] {
			buyers[it] = parseCount(firstB[at])
			at++
		}
		first[i] = make([]bool, len(row.Candidates))
		judged := *row
		judged.Candidates = nil
		for j := range row.Candidates {
			if b, ok := buyers[row.Candidates[j].Item]; ok {
				row.Candidates[j].Buyers, first[i][j] = b, true
				judged.Candidates = append(judged.Candidates, row.Candidates[j])
			}
		}
		floor[i] = sl.Floor(judged, rb.Globals)
	}
	// A hinted row keeps its first candidates and those at or above its
	// floor; the B round trip reads the kept ones not read yet.
	keep := func(i, j int) bool { return first[i][j] || rb.Rows[i].Candidates[j].Support >= floor[i] }
	err := l.readBuyers(ctx, rb, func(i int) bool { return !hinted[i] }, func(i, j int) bool {
		return !hinted[i] || !first[i][j] && keep(i, j)
	})
	if err != nil {
		return err
	}
	for i := range rb.Rows {
		if !hinted[i] {
			continue
		}
		kept := rb.Rows[i].Candidates[:0]
		for j, c := range rb.Rows[i].Candidates {
			if keep(i, j) {
				kept = append(kept, c)
			}
		}
		rb.Rows[i].Candidates = kept
	}
	return nil
}
