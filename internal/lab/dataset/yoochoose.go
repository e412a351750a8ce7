package dataset

import (
	"bufio"

	"github.com/alsobought/alsobought/event"
)

// readYoochoose reads the YOOCHOOSE (RecSys Challenge 2015) clicks and buys
// as one CSV file with a header (names matched case-insensitively, in any
// order), as in ../shared/data/yoochoose-1pct/events.csv.gz:
//
//	session_id,timestamp_ms,timestamp_utc,event_type,item_id,category,price,quantity
//
// Required columns: session_id, timestamp_ms, event_type, item_id; category,
// price and quantity are optional; timestamp_utc and others are ignored.
//
//   - customer = session_id: YOOCHOOSE has no user ids, so each session
//     counts as a customer.
//   - type = event_type, which must be "view" (a click) or "purchase" (a buy).
//   - category: the click's context. Only "1" to "12" are real categories
//     and are kept; "0" (missing), "S" (a special offer), 8-10 digit brand
//     ids and empty cells (all buys) give no category.
//   - price and quantity: an empty cell or 0 is absent. Buys in the original
//     data have Price=0 and Quantity=0 when unknown (6,192 of 11,825 in the
//     1% sample); clicks carry neither.
//
// Time: timestamp_ms is integer epoch milliseconds, UTC; used as is.
// Event ids are derived: "yoochoose:<file>:<line>".
func readYoochoose(br *bufio.Reader, src *source) ([]event.Event, error) {
	c, err := newCSV(br, src)
	if err != nil {
		return nil, err
	}
	idx, err := c.require("session_id", "timestamp_ms", "event_type", "item_id")
	if err != nil {
		return nil, err
	}
	sess, tsCol, typ, item := idx[0], idx[1], idx[2], idx[3]
	catCol, priceCol, qtyCol := c.col("category"), c.col("price"), c.col("quantity")
	var evs []event.Event
	err = c.each(func(rec []string, line int) error {
		e := event.Event{ID: src.id(line), Type: event.Type(rec[typ]), CustomerID: rec[sess], ItemID: rec[item]}
		var err error
		if e.Time, err = parseMillis("timestamp_ms", rec[tsCol]); err != nil {
			return err
		}
		if cat := cell(rec, catCol); yoochooseCategory(cat) {
			e.Category = cat
		}
		if e.Price, err = parseFloat("price", cell(rec, priceCol)); err != nil {
			return err
		}
		if e.Quantity, err = parseFloat("quantity", cell(rec, qtyCol)); err != nil {
			return err
		}
		if e.Price != nil && *e.Price == 0 {
			e.Price = nil
		}
		if e.Quantity != nil && *e.Quantity == 0 {
			e.Quantity = nil
		}
		if err := src.finish(&e, line); err != nil {
			return err
		}
		evs = append(evs, e)
		return nil
	})
	return evs, err
}

// yoochooseCategory reports whether a YOOCHOOSE category cell is a real
// category: "1" to "12".
func yoochooseCategory(s string) bool {
	switch len(s) {
	case 1:
		return s[0] >= '1' && s[0] <= '9'
	case 2:
		return s == "10" || s == "11" || s == "12"
	}
	return false
}
