package store

import (
	"context"

	"github.com/alsobought/alsobought/scoring"
)

// Shortlist tells ReadRowsShortlisted which of a row's candidates can be
// listed, so that the others' B is not read.
type Shortlist struct {
	// First is how many of a row's candidates, those of the highest
	// support (all of those tied with the last), have their B read first.
	First int
	// Floor returns the least support a candidate needs to be listed,
	// given the row with only its first candidates (scoring.ListableSupport).
	Floor func(row scoring.Row, g scoring.Globals) int64
}

// readShortlisted reads B for the rows of rb under a shortlist
// (ReadRowsShortlisted), and leaves out of each row the candidates whose B
// it did not read.
func (l *Lists) readShortlisted(ctx context.Context, rb *RowBatch, sl *Shortlist) error {
	// The first candidates of each row: those its stored list watches,
	// which a re-score mostly lists again, and those at or above its
	// First-th highest support.
	first := make([][]bool, len(rb.Rows))
	var scratch []int64
	watched := map[string]bool{} // row after row
	others := 0
	for i, row := range rb.Rows {
		var least int64
		least, scratch = nthHighestSupport(row.Candidates, sl.First, scratch)
		clear(watched)
		for _, it := range rb.Watched[i] {
			watched[it] = true
		}
		first[i] = make([]bool, len(row.Candidates))
		for j, c := range row.Candidates {
			first[i][j] = c.Support >= least || watched[c.Item]
			if !first[i][j] {
				others++
			}
		}
	}
	if others < shortlistAtLeast {
		return l.readBuyers(ctx, rb, true, func(int, int) bool { return true })
	}
	if err := l.readBuyers(ctx, rb, true, func(i, j int) bool { return first[i][j] }); err != nil {
		return err
	}
	floor := make([]int64, len(rb.Rows))
	more := false
	for i, row := range rb.Rows {
		read := row
		read.Candidates = nil
		for j, c := range row.Candidates {
			if first[i][j] {
				read.Candidates = append(read.Candidates, c)
			}
		}
		floor[i] = sl.Floor(read, rb.Globals)
		for j, c := range row.Candidates {
			more = more || (!first[i][j] && c.Support >= floor[i])
		}
	}
	if more {
		if err := l.readBuyers(ctx, rb, false, func(i, j int) bool { return !first[i][j] && rb.Rows[i].Candidates[j].Support >= floor[i] }); err != nil {
			return err
		}
	}
	for i := range rb.Rows {
		kept := rb.Rows[i].Candidates[:0]
		for j, c := range rb.Rows[i].Candidates {
			if first[i][j] || c.Support >= floor[i] {
				kept = append(kept, c)
			}
		}
		rb.Rows[i].Candidates = kept
	}
	return nil
}

// shortlistAtLeast is the fewest candidates outside the first ones for
// which a shortlisted read reads B in two round trips: the second costs
// an HMGET per shard (schema.Shards) and the re-score's wait for it,
// which fewer names left unread do not pay back. A paced Dunnhumby
// re-score reads a few small rows at a time, and with every batch in two
// round trips it cost 2–4 more Redis commands per event
// (docs/BENCHMARKS.md, "Twelfth pass").
const shortlistAtLeast = 1024

// nthHighestSupport returns the n-th highest support among candidates
// (the lowest when there are fewer than n; 0, which every candidate
// reaches, when n < 1 or there is none), with a min-heap of n supports
// kept in scratch, which it returns for reuse.
func nthHighestSupport(candidates []scoring.Candidate, n int, scratch []int64) (int64, []int64) {
	h := scratch[:0]
	if n < 1 {
		return 0, h
	}
	for _, c := range candidates {
		v := c.Support
		if len(h) < n {
			h = append(h, v)
			for j := len(h) - 1; j > 0 && h[(j-1)/2] > h[j]; j = (j - 1) / 2 {
				h[j], h[(j-1)/2] = h[(j-1)/2], h[j]
			}
			continue
		}
		if v <= h[0] {
			continue
		}
		h[0] = v
		for j := 0; ; {
			l, r, m := 2*j+1, 2*j+2, j
			if l < len(h) && h[l] < h[m] {
				m = l
			}
			if r < len(h) && h[r] < h[m] {
				m = r
			}
			if m == j {
				break
			}
			h[j], h[m] = h[m], h[j]
			j = m
		}
	}
	if len(h) == 0 {
		return 0, h
	}
	return h[0], h
}
