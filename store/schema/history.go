package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// EncodeHistory returns a customer history as stored (fields
// CustomerPurchases and CustomerViews): entries "item,time" joined by
// HistorySep, least recent first. The first entry's time is its unix ms in
// base 36; every later entry's is the difference from the entry before it,
// in base 36 with a leading '-' when negative. Entries mostly arrive in
// time order, so the differences stay short (the same second: "0"; an hour
// later: "255s0"). times must be as long as items. Ids cannot contain
// either separator (the event contract), so the form is unambiguous.
func EncodeHistory(items []string, times []int64) string {
	var sb strings.Builder
	var prev int64
	var buf [16]byte
	for i, it := range items {
		if i > 0 {
			sb.WriteString(HistorySep)
		}
		sb.WriteString(it)
		sb.WriteString(HistoryTimeSep)
		sb.Write(strconv.AppendInt(buf[:0], times[i]-prev, 36))
		prev = times[i]
	}
	return sb.String()
}

// DecodeHistory parses EncodeHistory's output. An entry without a time
// (the history format of schema version 2) is an error.
func DecodeHistory(s string) (items []string, times []int64, err error) {
	if s == "" {
		return nil, nil, nil
	}
	n := strings.Count(s, HistorySep) + 1
	items, times = make([]string, 0, n), make([]int64, 0, n)
	var prev int64
	for e := range strings.SplitSeq(s, HistorySep) {
		it, t, ok := strings.Cut(e, HistoryTimeSep)
		d, perr := strconv.ParseInt(t, 36, 64)
		if !ok || perr != nil || it == "" {
			return nil, nil, fmt.Errorf("history: bad entry %q (want item%stime, schema version %d)", e, HistoryTimeSep, Version)
		}
		prev += d
		items, times = append(items, it), append(times, prev)
	}
	return items, times, nil
}
