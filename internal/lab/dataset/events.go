package dataset

import (
	"bufio"
	"bytes"
	"strconv"
	"time"

	"github.com/alsobought/alsobought/event"
)

// readEvents reads the project's own replay format, in one of two forms,
// told apart by the first byte that is not white space:
//
// '{' (or no such byte: an empty file has no events): JSON lines. Each non-blank line is one event of the contract
// (docs/events.md), decoded by event.DecodeDefaultID: same fields, same
// checks, same limits (MaxPayloadBytes applies to each line). event_id may
// be absent or null; the event then gets the derived id
// "events:<file>:<line>".
//
// anything else: CSV with a header naming at least customer_id, item_id,
// type and ts, and optionally event_id, quantity, price and category, in
// any order (names matched case-insensitively; other columns are ignored).
// Empty cells are absent values; an empty event_id gets the derived id.
// Cells are used as they are: an id with surrounding spaces is rejected.
//
// Time (both forms): ts is integer epoch milliseconds (UTC) or an RFC 3339
// string with any offset, converted to UTC; digits finer than a millisecond
// are truncated. In CSV, a ts cell of only digits (with an optional '-') is
// epoch milliseconds; anything else is parsed as RFC 3339.
func readEvents(br *bufio.Reader, src *source) ([]event.Event, error) {
	switch firstNonSpace(br) {
	case '{', 0: // 0: nothing but white space, no events
		return readJSONLines(br, src)
	}
	return readEventsCSV(br, src)
}

// firstNonSpace returns the first byte of br that is not white space, or 0,
// without consuming anything. It looks at most one buffer ahead.
func firstNonSpace(br *bufio.Reader) byte {
	for n := 64; ; n *= 4 {
		b, err := br.Peek(n)
		if i := bytes.IndexFunc(b, func(r rune) bool { return r != ' ' && r != '\t' && r != '\r' && r != '\n' }); i >= 0 {
			return b[i]
		}
		if err != nil || n >= br.Size() {
			return 0
		}
	}
}

func readJSONLines(br *bufio.Reader, src *source) ([]event.Event, error) {
	var evs []event.Event
	err := eachLine(br, src, func(b []byte, line int) error {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil
		}
		e, err := event.DecodeDefaultID(b, src.lim, src.id(line))
		if err != nil {
			return err
		}
		evs = append(evs, e)
		return nil
	})
	return evs, err
}

func readEventsCSV(br *bufio.Reader, src *source) ([]event.Event, error) {
	c, err := newCSV(br, src)
	if err != nil {
		return nil, err
	}
	idx, err := c.require("customer_id", "item_id", "type", "ts")
	if err != nil {
		return nil, err
	}
	cust, item, typ, ts := idx[0], idx[1], idx[2], idx[3]
	idCol, qtyCol, priceCol, catCol := c.col("event_id"), c.col("quantity"), c.col("price"), c.col("category")
	var evs []event.Event
	err = c.each(func(rec []string, line int) error {
		e := event.Event{ID: cell(rec, idCol), Type: event.Type(rec[typ]), CustomerID: rec[cust], ItemID: rec[item],
			Category: cell(rec, catCol)}
		if e.ID == "" {
			e.ID = src.id(line)
		}
		var err error
		if e.Time, err = parseTS(rec[ts]); err != nil {
			return err
		}
		if e.Quantity, err = parseFloat("quantity", cell(rec, qtyCol)); err != nil {
			return err
		}
		if e.Price, err = parseFloat("price", cell(rec, priceCol)); err != nil {
			return err
		}
		if err := src.finish(&e, line); err != nil {
			return err
		}
		evs = append(evs, e)
		return nil
	})
	return evs, err
}

// parseTS parses a CSV ts cell: epoch milliseconds or RFC 3339. An empty
// cell stays the zero time, which Validate reports as a missing ts.
func parseTS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if isInteger(s) {
		return parseMillis("ts", s)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, &event.Error{Reason: event.ReasonBadTimestamp, Field: "ts",
			Detail: "want epoch milliseconds or RFC 3339, got " + strconv.Quote(s)}
	}
	return ms(t), nil
}
