package store

import (
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/store/schema"
)

// ListKind names a kind of related list (schema.ListKind): the store's
// callers speak of lists by kind, the contract names them in package schema.
type ListKind = schema.ListKind

// The list kinds (docs/DESIGN.md section 3).
const (
	Bought       = schema.Bought
	Viewed       = schema.Viewed
	ViewedBought = schema.ViewedBought
)

// ListKinds returns every kind, in a fixed order.
func ListKinds() []ListKind { return schema.ListKinds() }

// ParseListKind returns the kind called s.
func ParseListKind(s string) (ListKind, error) { return schema.ParseListKind(s) }

// listKindOfRow returns the list computed from a row kind of package delta.
func listKindOfRow(kind delta.KeyKind) (ListKind, bool) {
	switch kind {
	case delta.RowKey:
		return Bought, true
	case delta.ViewRowKey:
		return Viewed, true
	case delta.ViewedBoughtKey:
		return ViewedBought, true
	}
	return "", false
}
