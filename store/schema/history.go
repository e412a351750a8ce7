package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// EncodeHistory returns a customer history as stored (fields
// CustomerPurchases and CustomerViews): entries "item,time,seq,count"
// joined by HistorySep, least recent first, where ",count" is left out
// when it is 1, and ",seq" when its difference (below) is 1 and no count
// follows.
//
// time is the entry time: the first entry's is its unix ms in base 36,
// every later entry's the difference from the entry before it, in base 36
// with a leading '-' when negative. Entries mostly arrive in time order, so
// the differences stay short (the same second: "0"; an hour later:
// "255s0").
//
// seq is the entry sequence number (the order in which the customer's
// entries entered either history, docs/DESIGN.md section 3), written the
// same way: the difference from the entry before (the first entry's from
// 0), in base 36. A history whose entries entered one after the other, the
// common case for views, has differences of 1 and so stores no seq at all.
//
// count is how many events of the item the entry has seen since it
// entered (docs/DESIGN.md section 12), in base 36; most entries have seen
// one, and store none (schema version 4).
//
// times and seqs must be as long as items; counts too, or nil for a count
// of 1 everywhere. Ids cannot contain either separator (the event
// contract), so the form is unambiguous.
func EncodeHistory(items []string, times, seqs, counts []int64) string {
	var sb strings.Builder
	var prevTime, prevSeq int64
	var buf [16]byte
	for i, it := range items {
		if i > 0 {
			sb.WriteString(HistorySep)
		}
		sb.WriteString(it)
		sb.WriteString(HistoryTimeSep)
		sb.Write(strconv.AppendInt(buf[:0], times[i]-prevTime, 36))
		count := int64(1)
		if counts != nil {
			count = counts[i]
		}
		if d := seqs[i] - prevSeq; d != 1 || count != 1 {
			sb.WriteString(HistoryTimeSep)
			sb.Write(strconv.AppendInt(buf[:0], d, 36))
		}
		if count != 1 {
			sb.WriteString(HistoryTimeSep)
			sb.Write(strconv.AppendInt(buf[:0], count, 36))
		}
		prevTime, prevSeq = times[i], seqs[i]
	}
	return sb.String()
}

// DecodeHistory parses EncodeHistory's output. An entry without a time
// (the history format of schema version 2) is an error, and so is a count
// below 1.
func DecodeHistory(s string) (items []string, times, seqs, counts []int64, err error) {
	if s == "" {
		return nil, nil, nil, nil, nil
	}
	n := strings.Count(s, HistorySep) + 1
	items, times, seqs, counts = make([]string, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	var prevTime, prevSeq int64
	for e := range strings.SplitSeq(s, HistorySep) {
		bad := func() error {
			return fmt.Errorf("history: bad entry %q (want item%[2]stime, item%[2]stime%[2]sseq or item%[2]stime%[2]sseq%[2]scount, schema version %[3]d)",
				e, HistoryTimeSep, Version)
		}
		it, rest, ok := strings.Cut(e, HistoryTimeSep)
		if !ok || it == "" {
			return nil, nil, nil, nil, bad()
		}
		parts := strings.Split(rest, HistoryTimeSep)
		if len(parts) > 3 {
			return nil, nil, nil, nil, bad()
		}
		num := [3]int64{0, 1, 1} // time difference, seq difference, count
		for j, p := range parts {
			v, perr := strconv.ParseInt(p, 36, 64)
			if perr != nil {
				return nil, nil, nil, nil, bad()
			}
			num[j] = v
		}
		if num[2] < 1 {
			return nil, nil, nil, nil, bad()
		}
		prevTime, prevSeq = prevTime+num[0], prevSeq+num[1]
		items, times, seqs, counts = append(items, it), append(times, prevTime), append(seqs, prevSeq), append(counts, num[2])
	}
	return items, times, seqs, counts, nil
}
