package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/store/schema"
)

// Customers reads customers' stored states (the consumer writes them with
// Batches.Apply).
type Customers struct{ c *conn }

// Customer is a customer's stored state.
type Customer struct {
	// Purchases carries the ever-bought set (History.Ever, field
	// schema.CustomerEver) with the purchase history it extends.
	Purchases  delta.History
	Views      delta.History
	Recent     delta.Recent  // ids of recent events, for de-duplication
	Watermarks map[int]int64 // partition -> offset of the last applied event
	Swept      map[int]int64 // partition -> sequence of the last sweep applied
}

// SweptBy reports whether the sweep of a partition with sequence seq is
// applied to the customer already.
func (c Customer) SweptBy(partition int, seq int64) bool {
	s, ok := c.Swept[partition]
	return ok && s >= seq
}

// Watermark returns the offset of the last event applied from a partition,
// or -1.
func (c Customer) Watermark(partition int) int64 {
	if w, ok := c.Watermarks[partition]; ok {
		return w
	}
	return -1
}

// Load reads the state of the given customers in one round trip. Unknown
// customers are returned with an empty state.
func (cs *Customers) Load(ctx context.Context, ids []string) (map[string]Customer, error) {
	bs, err := loadBatchState(ctx, cs.c, -1, ids)
	return bs.Customers, err
}

func parseCustomer(fields map[string]string) (Customer, error) {
	recent, err := delta.DecodeRecent(fields[schema.CustomerRecent])
	if err != nil {
		return Customer{}, err
	}
	purchases, err := delta.DecodeHistory(fields[schema.CustomerPurchases])
	if err != nil {
		return Customer{}, fmt.Errorf("purchase %w", err)
	}
	if purchases.Ever, err = delta.DecodeEver(fields[schema.CustomerEver]); err != nil {
		return Customer{}, err
	}
	views, err := delta.DecodeHistory(fields[schema.CustomerViews])
	if err != nil {
		return Customer{}, fmt.Errorf("view %w", err)
	}
	c := Customer{Purchases: purchases, Views: views, Recent: recent}
	for f, v := range fields {
		if !schema.IsFenceField(f) {
			continue
		}
		fences := &c.Watermarks
		p, ok := schema.ParseWatermarkField(f)
		if !ok {
			if p, ok = schema.ParseSweepField(f); !ok {
				return c, fmt.Errorf("customer fence field %q is neither #<partition> nor #s<partition>", f)
			}
			fences = &c.Swept
		}
		off, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return c, fmt.Errorf("customer fence %q=%q: %w", f, v, err)
		}
		if *fences == nil {
			*fences = make(map[int]int64)
		}
		(*fences)[p] = off
	}
	return c, nil
}
