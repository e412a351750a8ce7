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
// distinct items, least recent first, each with its entry time and entry
// sequence number. A repeat of a held item only refreshes its recency and
// time; a new item arriving at a full history evicts the least recent; with
// ageing, entries older than an event's time minus the age leave before the
// event is applied (docs/DESIGN.md section 10).
type History struct {
	Items []string // least recent first
	// Times holds each item's entry time (unix ms): the latest event time
	// of the item for this customer. It is as long as Items, or nil in a
	// history built for reading only (recommendations, evaluation).
	Times []int64
	// Seqs holds each item's entry sequence number: the order in which the
	// customer's entries entered either of its two histories as new items
	// (NextSeq). A repeat keeps it; an item that left and comes back gets a
	// new one. Viewed-then-bought counts pair a view with the purchases
	// that entered after it (docs/DESIGN.md section 3). Like Times, it is
	// as long as Items or nil.
	Seqs []int64
	// Counts holds how many events of each item the entry has seen: 1 when
	// it enters, one more for every repeat while it is held; an entry that
	// leaves (evicted, aged) takes its count with it (docs/DESIGN.md
	// section 12). Like Times, it is as long as Items or nil.
	Counts []int64
}

// NextSeq returns the entry sequence number for an item entering one of a
// customer's histories as new: one more than any entry of either history
// holds. Only the order between retained entries matters, so the number is
// derived from them rather than kept in a counter of its own; it restarts
// at 1 when both histories are empty. A nil history holds nothing.
func NextSeq(h, v *History) int64 {
	var top int64
	for _, x := range []*History{h, v} {
		if x != nil {
			for _, s := range x.Seqs {
				top = max(top, s)
			}
		}
	}
	return top + 1
}

// Touch records that item was used by an event at time t (unix ms); seq is
// its entry sequence number if it is new (NextSeq). It reports whether the
// item is new to the history and, when the history was full, which item it
// evicted. A repeat adds 1 to the entry's count.
func (h *History) Touch(item string, t, seq int64, capacity int) (added bool, evicted string) {
	h.fill()
	for i, it := range h.Items {
		if it == item {
			// Refresh recency: move to the end, keep the others in order.
			at, s, n := max(h.Times[i], t), h.Seqs[i], h.Counts[i]+1
			copy(h.Items[i:], h.Items[i+1:])
			copy(h.Times[i:], h.Times[i+1:])
			copy(h.Seqs[i:], h.Seqs[i+1:])
			copy(h.Counts[i:], h.Counts[i+1:])
			last := len(h.Items) - 1
			h.Items[last], h.Times[last], h.Seqs[last], h.Counts[last] = item, at, s, n
			return false, ""
		}
	}
	if len(h.Items) >= capacity {
		evicted = h.Items[0]
		copy(h.Items, h.Items[1:])
		copy(h.Times, h.Times[1:])
		copy(h.Seqs, h.Seqs[1:])
		copy(h.Counts, h.Counts[1:])
		last := len(h.Items) - 1
		h.Items[last], h.Times[last], h.Seqs[last], h.Counts[last] = item, t, seq, 1
		return true, evicted
	}
	h.Items = append(h.Items, item)
	h.Times = append(h.Times, t)
	h.Seqs = append(h.Seqs, seq)
	h.Counts = append(h.Counts, 1)
	return true, ""
}

// fill gives a history built without times, sequence numbers and counts
// (for reading) zero times and sequence numbers and counts of 1, so that
// the mutating methods can rely on len(Times) == len(Seqs) ==
// len(Counts) == len(Items).
func (h *History) fill() {
	for len(h.Times) < len(h.Items) {
		h.Times = append(h.Times, 0)
	}
	for len(h.Seqs) < len(h.Items) {
		h.Seqs = append(h.Seqs, 0)
	}
	for len(h.Counts) < len(h.Items) {
		h.Counts = append(h.Counts, 1)
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
		h.Items[keep], h.Times[keep], h.Seqs[keep], h.Counts[keep] = h.Items[i], h.Times[i], h.Seqs[i], h.Counts[i]
		keep++
	}
	h.Items, h.Times, h.Seqs, h.Counts = h.Items[:keep], h.Times[:keep], h.Seqs[:keep], h.Counts[:keep]
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
func (h *History) Contains(item string) bool { return h.Index(item) >= 0 }

// Index returns the position of item in the history, or -1 when it is not
// held.
func (h *History) Index(item string) int {
	for i, it := range h.Items {
		if it == item {
			return i
		}
	}
	return -1
}

// Clone returns an independent copy.
func (h History) Clone() History {
	h.fill()
	return History{Items: append([]string(nil), h.Items...), Times: append([]int64(nil), h.Times...),
		Seqs: append([]int64(nil), h.Seqs...), Counts: append([]int64(nil), h.Counts...)}
}

// Encode returns the history as stored in Redis (schema.EncodeHistory).
func (h History) Encode() string {
	h.fill()
	return schema.EncodeHistory(h.Items, h.Times, h.Seqs, h.Counts)
}

// DecodeHistory parses Encode's output.
func DecodeHistory(s string) (History, error) {
	items, times, seqs, counts, err := schema.DecodeHistory(s)
	return History{Items: items, Times: times, Seqs: seqs, Counts: counts}, err
}
