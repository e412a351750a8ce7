package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// EncodeHistory returns a customer history as stored (fields
// CustomerPurchases and CustomerViews): entries "item,time,seq" joined by
// HistorySep, least recent first, where ",seq" is left out when it is 1.
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
// times and seqs must be as long as items. Ids cannot contain either
// separator (the event contract), so the form is unambiguous.
func EncodeHistory(items []string, times, seqs []int64) string {
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
		if d := seqs[i] - prevSeq; d != 1 {
			sb.WriteString(HistoryTimeSep)
			sb.Write(strconv.AppendInt(buf[:0], d, 36))
		}
		prevTime, prevSeq = times[i], seqs[i]
	}
	return sb.String()
}

// DecodeHistory parses EncodeHistory's output. An entry without a time
// (the history format of schema version 2) is an error.
func DecodeHistory(s string) (items []string, times, seqs []int64, err error) {
	if s == "" {
		return nil, nil, nil, nil
	}
	n := strings.Count(s, HistorySep) + 1
	items, times, seqs = make([]string, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	var prevTime, prevSeq int64
	for e := range strings.SplitSeq(s, HistorySep) {
		bad := func() error {
			return fmt.Errorf("history: bad entry %q (want item%stime or item%stime%sseq, schema version %d)",
				e, HistoryTimeSep, HistoryTimeSep, HistoryTimeSep, Version)
		}
		it, rest, ok := strings.Cut(e, HistoryTimeSep)
		if !ok || it == "" {
			return nil, nil, nil, bad()
		}
		t, seq, hasSeq := strings.Cut(rest, HistoryTimeSep)
		dt, perr := strconv.ParseInt(t, 36, 64)
		if perr != nil {
			return nil, nil, nil, bad()
		}
		ds := int64(1)
		if hasSeq {
			if ds, perr = strconv.ParseInt(seq, 36, 64); perr != nil {
				return nil, nil, nil, bad()
			}
		}
		prevTime, prevSeq = prevTime+dt, prevSeq+ds
		items, times, seqs = append(items, it), append(times, prevTime), append(seqs, prevSeq)
	}
	return items, times, seqs, nil
}
