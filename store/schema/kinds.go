package schema

import "fmt"

// ListKind names a kind of related list, and so the counter row it is
// computed from.
type ListKind string

// The list kinds (docs/DESIGN.md section 3).
const (
	// Bought: "customers who bought X also bought", from the purchase row.
	Bought ListKind = "bought"
	// Viewed: "customers who viewed X also viewed", from the view row.
	Viewed ListKind = "viewed"
	// ViewedBought: "customers who viewed X bought", from the M counters.
	ViewedBought ListKind = "viewed_bought"
)

// ListKinds returns every kind, in a fixed order.
func ListKinds() []ListKind { return []ListKind{Bought, Viewed, ViewedBought} }

// ParseListKind returns the kind called s.
func ParseListKind(s string) (ListKind, error) {
	for _, k := range ListKinds() {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown list %q: use bought, viewed or viewed_bought", s)
}

// Code is the kind's short name in keys, dirty-set members and outbox
// members: "b", "v" or "vb".
func (k ListKind) Code() string {
	switch k {
	case Viewed:
		return "v"
	case ViewedBought:
		return "vb"
	}
	return "b"
}

// ListKindOfCode is Code's inverse.
func ListKindOfCode(c string) (ListKind, bool) {
	for _, k := range ListKinds() {
		if k.Code() == c {
			return k, true
		}
	}
	return "", false
}
