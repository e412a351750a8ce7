// Package delta turns one customer's events into the counter changes they
// cause (docs/DESIGN.md section 4). It is pure: the consumer feeds it the stored
// customer histories and writes the resulting changes to Redis; the batch
// oracle uses only History (the retention rule), never the change code, so
// the equality test checks this package instead of sharing it.
package delta

import (
	"time"

	"github.com/alsobought/alsobought/store/schema"
)

// History is a customer's retained history: at most a fixed number of
// distinct items, least recent first, each with its entry time. A repeat of
// a held item only refreshes its recency and time; a new item arriving at a
// full history evicts the least recent; with ageing, entries older than an
// event's time minus the age leave before the event is applied
// (docs/DESIGN.md section 10).
type History struct {
	Items []string // least recent first
	// Times holds each item's entry time (unix ms): the latest event time
	// of the item for this customer. It is as long as Items, or nil in a
	// history built for reading only (recommendations, evaluation).
	Times []int64
}

// Touch records that item was used by an event at time t (unix ms). It
// reports whether the item is new to the history and, when the history was
// full, which item it evicted.
func (h *History) Touch(item string, t int64, capacity int) (added bool, evicted string) {
	h.fill()
	for i, it := range h.Items {
		if it == item {
			// Refresh recency: move to the end, keep the others in order.
			at := max(h.Times[i], t)
			copy(h.Items[i:], h.Items[i+1:])
			copy(h.Times[i:], h.Times[i+1:])
			h.Items[len(h.Items)-1], h.Times[len(h.Times)-1] = item, at
			return false, ""
		}
	}
	if len(h.Items) >= capacity {
		evicted = h.Items[0]
		copy(h.Items, h.Items[1:])
		copy(h.Times, h.Times[1:])
		h.Items[len(h.Items)-1], h.Times[len(h.Times)-1] = item, t
		return true, evicted
	}
	h.Items = append(h.Items, item)
	h.Times = append(h.Times, t)
	return true, ""
}

// fill gives a history built without times (for reading) time 0 entries,
// so that the mutating methods can rely on len(Times) == len(Items).
func (h *History) fill() {
	for len(h.Times) < len(h.Items) {
		h.Times = append(h.Times, 0)
	}
}

// Aged returns the indexes of the entries that an event at time at no
// longer holds: those whose time is before at − age (docs/DESIGN.md
// section 10). None when age is 0 (ageing off).
func (h *History) Aged(at time.Time, age time.Duration) []int {
	if age <= 0 {
		return nil
	}
	return h.Before(at.UnixMilli() - age.Milliseconds())
}

// Before returns the indexes of the entries whose time is before cut
// (unix ms).
func (h *History) Before(cut int64) []int {
	h.fill()
	var out []int
	for i, t := range h.Times {
		if t < cut {
			out = append(out, i)
		}
	}
	return out
}

// Remove drops the entries at the given ascending indexes, keeping the
// order of the others.
func (h *History) Remove(idx []int) {
	if len(idx) == 0 {
		return
	}
	h.fill()
	keep, j := 0, 0
	for i := range h.Items {
		if j < len(idx) && idx[j] == i {
			j++
			continue
		}
		h.Items[keep], h.Times[keep] = h.Items[i], h.Times[i]
		keep++
	}
	h.Items, h.Times = h.Items[:keep], h.Times[:keep]
}

// Age removes the entries an event at time at no longer holds and returns
// the removed items (the oracle's form of the rule; Batch also retracts
// their counters).
func (h *History) Age(at time.Time, age time.Duration) []string {
	idx := h.Aged(at, age)
	out := make([]string, len(idx))
	for i, x := range idx {
		out[i] = h.Items[x]
	}
	h.Remove(idx)
	return out
}

// Contains reports whether item is held.
func (h *History) Contains(item string) bool {
	for _, it := range h.Items {
		if it == item {
			return true
		}
	}
	return false
}

// Clone returns an independent copy.
func (h History) Clone() History {
	h.fill()
	return History{Items: append([]string(nil), h.Items...), Times: append([]int64(nil), h.Times...)}
}

// Encode returns the history as stored in Redis (schema.EncodeHistory).
func (h History) Encode() string {
	h.fill()
	return schema.EncodeHistory(h.Items, h.Times)
}

// DecodeHistory parses Encode's output.
func DecodeHistory(s string) (History, error) {
	items, times, err := schema.DecodeHistory(s)
	return History{Items: items, Times: times}, err
}
