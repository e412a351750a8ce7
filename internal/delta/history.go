// Package delta turns one customer's events into the counter changes they
// cause (docs/DESIGN.md section 4). It is pure: the consumer feeds it the stored
// customer histories and writes the resulting changes to Redis; the batch
// oracle uses only History (the retention rule), never the change code, so
// the equality test checks this package instead of sharing it.
package delta

import (
	"strings"

	"github.com/alsobought/alsobought/store/schema"
)

// History is a customer's retained history: at most a fixed number of
// distinct items, least recent first. A repeat of a held item only refreshes
// its recency; a new item arriving at a full history evicts the least recent.
type History struct {
	Items []string // least recent first
}

// Touch records that item was just used. It reports whether the item is new
// to the history and, when the history was full, which item it evicted.
func (h *History) Touch(item string, capacity int) (added bool, evicted string) {
	for i, it := range h.Items {
		if it == item {
			// Refresh recency: move to the end, keep the others in order.
			copy(h.Items[i:], h.Items[i+1:])
			h.Items[len(h.Items)-1] = item
			return false, ""
		}
	}
	if len(h.Items) >= capacity {
		evicted = h.Items[0]
		copy(h.Items, h.Items[1:])
		h.Items[len(h.Items)-1] = item
		return true, evicted
	}
	h.Items = append(h.Items, item)
	return true, ""
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

// Encode returns the history as stored in Redis: items joined by
// schema.HistorySep, least recent first (the event contract forbids the
// separator in ids, so the encoding is unambiguous).
func (h History) Encode() string { return strings.Join(h.Items, schema.HistorySep) }

// DecodeHistory parses Encode's output.
func DecodeHistory(s string) History {
	if s == "" {
		return History{}
	}
	return History{Items: strings.Split(s, schema.HistorySep)}
}
