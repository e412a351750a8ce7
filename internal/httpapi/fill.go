package httpapi

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/alsobought/alsobought/store"
)

// Where a short related list is filled from (the fill parameter of GET
// /v1/items/{id}/related), in the order the request names them.
const (
	// FillCategory is the best-sellers of the item's category: its
	// catalogue record's category, else that of its last event that
	// carried one.
	FillCategory = "category"
	// FillPopular is the overall best-sellers.
	FillPopular = "popular"
)

// parseFill reads the fill parameter: FillCategory and FillPopular,
// comma-separated, each at most once; "" fills nothing.
func parseFill(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f != FillCategory && f != FillPopular {
			return nil, fmt.Errorf("fill: unknown source %q: use %s, %s or %s,%s", f, FillCategory, FillPopular, FillCategory, FillPopular)
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("fill: %s given twice", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// fillList fills a related list shorter than k from the popularity lists
// fill names, in its order, read in one round trip: the item's category's
// (when the category is known) and the overall one, of purchases for the
// bought and viewed_bought lists, of views for the viewed list. A filled
// entry is not the item itself, not already on the list and visible now;
// it is marked with where it comes from.
func (s *server) fillList(ctx context.Context, kind store.ListKind, resp RelatedResponse, k int, fill []string) (RelatedResponse, error) {
	var sources, categories []string
	for _, f := range fill {
		switch {
		case f == FillPopular:
			sources, categories = append(sources, f), append(categories, "")
		case f == FillCategory && resp.Category != "":
			sources, categories = append(sources, f), append(categories, resp.Category)
		}
	}
	if len(categories) == 0 {
		return resp, nil // only the category was asked for, and it is unknown
	}
	popKind := store.Bought
	if kind == store.Viewed {
		popKind = store.Viewed
	}
	lists, err := s.st.Popularity.ReadLists(ctx, popKind, categories)
	if err != nil {
		return resp, err
	}
	seen := make(map[string]bool, k)
	seen[resp.Item] = true
	for _, it := range resp.Items {
		seen[it.Item] = true
	}
	visible := s.visibleNow()
	for i, l := range lists {
		if l == nil {
			continue
		}
		for _, it := range l.Items {
			if len(resp.Items) == k {
				return resp, nil
			}
			if !seen[it.Item] && visible(it.Item) {
				seen[it.Item] = true
				resp.Items = append(resp.Items, RelatedItem{Item: it.Item, Fill: sources[i]})
			}
		}
	}
	return resp, nil
}
