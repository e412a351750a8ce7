package scoring

import "strings"

// PopularityDays is the window of popularity (docs/DESIGN.md section 3): the 14
// days of event time before the anchor.
const PopularityDays = 14

// Popular is one entry of a popularity list.
type Popular struct {
	Item  string `json:"item"`
	Count int64  `json:"count"` // events in the window
}

// TopPopular returns the n items with the most events, ties by count then
// item id ascending (byte order), so the order is total. Items with no
// events are left out. The result is never nil.
func TopPopular(counts map[string]int64, n int) []Popular {
	top := make([]Popular, 0, min(n, len(counts)))
	worse := func(a, b Popular) bool { // a ranks below b
		return a.Count < b.Count || a.Count == b.Count && strings.Compare(a.Item, b.Item) > 0
	}
	for item, c := range counts {
		if c <= 0 || n < 1 {
			continue
		}
		p := Popular{Item: item, Count: c}
		if len(top) == n {
			if !worse(top[n-1], p) {
				continue
			}
			top = top[:n-1]
		}
		// Insert in order: lists are short (the stored top is 100).
		i := len(top)
		top = append(top, p)
		for i > 0 && worse(top[i-1], p) {
			top[i] = top[i-1]
			i--
		}
		top[i] = p
	}
	return top
}
