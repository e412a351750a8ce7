package dataset

import (
	"bufio"
	"strconv"
	"time"

	"github.com/alsobought/alsobought/event"
)

// DunnhumbyTimeLayout is the layout of transaction_timestamp in the
// completejourney transactions table, e.g. "2017-01-28T14:06:53-0500": local
// time with a numeric offset without a colon, which is not RFC 3339.
const DunnhumbyTimeLayout = "2006-01-02T15:04:05-0700"

// readDunnhumby reads the transactions table of the completejourney R
// package (84.51° "The Complete Journey", CC0), a CSV file with a header
// whose names are matched case-insensitively, in any order:
//
//	household_id,store_id,basket_id,product_id,quantity,sales_value,
//	retail_disc,coupon_disc,coupon_match_disc,week,transaction_timestamp
//
// Each line is a purchase: customer = household_id, item = product_id,
// quantity = quantity, price = sales_value / quantity (the unit price paid,
// after discounts) when quantity > 0 and absent otherwise, no category.
// Required columns: household_id, product_id, quantity, sales_value,
// transaction_timestamp; the others are ignored.
//
// Time: transaction_timestamp is America/New_York local time written with
// its offset ("-0500", "-0400" in summer), parsed with DunnhumbyTimeLayout
// (RFC 3339 is accepted too) and converted to UTC; it has whole seconds.
// Event ids are derived: "dunnhumby:<file>:<line>".
func readDunnhumby(br *bufio.Reader, src *source) ([]event.Event, error) {
	c, err := newCSV(br, src)
	if err != nil {
		return nil, err
	}
	idx, err := c.require("household_id", "product_id", "quantity", "sales_value", "transaction_timestamp")
	if err != nil {
		return nil, err
	}
	hh, prod, qty, sales, ts := idx[0], idx[1], idx[2], idx[3], idx[4]
	var evs []event.Event
	err = c.each(func(rec []string, line int) error {
		e := event.Event{ID: src.id(line), Type: event.Purchase, CustomerID: rec[hh], ItemID: rec[prod]}
		t, err := time.Parse(DunnhumbyTimeLayout, rec[ts])
		if err != nil {
			if t, err = time.Parse(time.RFC3339, rec[ts]); err != nil {
				return &event.Error{Reason: event.ReasonBadTimestamp, Field: "transaction_timestamp",
					Detail: "want " + DunnhumbyTimeLayout + ", got " + strconv.Quote(rec[ts])}
			}
		}
		e.Time = ms(t)
		if e.Quantity, err = parseFloat("quantity", rec[qty]); err != nil {
			return err
		}
		sv, err := parseFloat("sales_value", rec[sales])
		if err != nil {
			return err
		}
		if e.Quantity != nil && *e.Quantity > 0 && sv != nil {
			p := *sv / *e.Quantity
			e.Price = &p
		}
		if err := src.finish(&e, line); err != nil {
			return err
		}
		evs = append(evs, e)
		return nil
	})
	return evs, err
}
