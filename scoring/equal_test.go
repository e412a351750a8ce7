package scoring

import (
	"strings"
	"testing"
)

// TestEqualLists: promise 2 compares the oracle's lists with the streamed
// ones. Scores may differ in the last bits, and a one-ulp difference can
// swap two tied items. Anything else is a real difference and must be
// reported.
func TestEqualLists(t *testing.T) {
	const s = 1.25
	tests := []struct {
		name   string
		a, b   []Related
		relTol float64
		want   string // "" = equal; otherwise a substring of the report
	}{
		{"identical", []Related{{"p", 3, 5, 0}, {"q", 2, 4, 0}}, []Related{{"p", 3, 5, 0}, {"q", 2, 4, 0}}, 0, ""},
		{"both empty", nil, []Related{}, 0, ""},
		{"scores within 1e-9", []Related{{"p", 3, 5, 0}}, []Related{{"p", 3 * (1 + 5e-10), 5, 0}}, 0, ""},
		{"tie swapped", []Related{{"p", s, 2, 0}, {"q", s, 2, 0}, {"r", 1, 2, 0}},
			[]Related{{"q", s, 2, 0}, {"p", s, 2, 0}, {"r", 1, 2, 0}}, 0, ""},
		// One side scored q a hair higher, so q moved ahead of p there.
		{"near tie swapped", []Related{{"p", s, 2, 0}, {"q", s * (1 - 1e-12), 2, 0}},
			[]Related{{"q", s * (1 + 1e-12), 2, 0}, {"p", s, 2, 0}}, 0, ""},
		{"three-way tie rotated", []Related{{"a", s, 2, 0}, {"b", s, 2, 0}, {"c", s, 2, 0}},
			[]Related{{"c", s, 2, 0}, {"a", s, 2, 0}, {"b", s, 2, 0}}, 0, ""},

		{"expected differs", []Related{{"p", 3, 5, 1.5}}, []Related{{"p", 3, 5, 1.6}}, 0, "expected 1.5 vs 1.6"},
		{"length differs", []Related{{"p", 3, 5, 0}, {"q", 2, 4, 0}}, []Related{{"p", 3, 5, 0}}, 0, "lengths differ: a has 2 items, b has 1"},
		{"score differs", []Related{{"p", 3, 5, 0}, {"q", 2, 4, 0}}, []Related{{"p", 3, 5, 0}, {"q", 2.001, 4, 0}}, 0,
			`position 1, item "q": score 2 vs 2.001`},
		{"support differs", []Related{{"p", 3, 5, 0}}, []Related{{"p", 3, 6, 0}}, 0, `item "p": support 5 vs 6`},
		{"different item", []Related{{"p", 3, 5, 0}, {"q", 2, 4, 0}}, []Related{{"p", 3, 5, 0}, {"r", 2, 4, 0}}, 0,
			`position 1: item "q" (score 2, support 4) is in a but not in b`},
		{"swap of different scores", []Related{{"p", 3, 5, 0}, {"q", 2, 5, 0}}, []Related{{"q", 2, 5, 0}, {"p", 3, 5, 0}}, 0,
			`position 0: order differs: a has "p" (score 3, support 5), b has "q" (score 2, support 5)`},
		// Equal scores but unequal support: the support tie-break is exact,
		// so this order is wrong.
		{"swap of equal scores, different support", []Related{{"p", s, 5, 0}, {"q", s, 4, 0}}, []Related{{"q", s, 4, 0}, {"p", s, 5, 0}}, 0,
			"order differs"},
		{"swapped item's score also differs", []Related{{"p", s, 2, 0}, {"q", s, 2, 0}}, []Related{{"q", s, 2, 0}, {"p", 2 * s, 2, 0}}, 0,
			`item "p" (a position 0, b position 1): score 1.25 vs 2.5`},
		{"duplicate item", []Related{{"p", 3, 5, 0}, {"p", 3, 5, 0}}, []Related{{"p", 3, 5, 0}, {"q", 3, 5, 0}}, 0,
			`list a holds item "p" twice`},
		{"first difference is reported", []Related{{"p", 3, 5, 0}, {"q", 2, 4, 0}}, []Related{{"p", 3.1, 5, 0}, {"q", 2, 9, 0}}, 0,
			`position 0, item "p"`},
		{"looser tolerance", []Related{{"p", 3, 5, 0}}, []Related{{"p", 3.0003, 5, 0}}, 1e-3, ""},
		{"default tolerance is 1e-9", []Related{{"p", 3, 5, 0}}, []Related{{"p", 3 * (1 + 2e-9), 5, 0}}, 0, "relative difference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := EqualLists(tc.a, tc.b, tc.relTol)
			switch {
			case tc.want == "" && got != "":
				t.Errorf("EqualLists = %q, want equal", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("EqualLists = %q, want a report containing %q", got, tc.want)
			}
			// Equality is symmetric (reports name the lists, so only check ""-ness).
			if back := EqualLists(tc.b, tc.a, tc.relTol); (back == "") != (got == "") {
				t.Errorf("EqualLists(b, a) = %q but EqualLists(a, b) = %q", back, got)
			}
		})
	}
}
