// Package store keeps alsobought's state in Redis: the counters, the
// customers' histories, the related-item lists, the dirty set and the
// consumer's progress. The key layout is a versioned contract that
// storefronts read directly (docs/redis-keys.md).
package store

import (
	"fmt"
	"regexp"
)

// SchemaVersion is the version of the key contract and of the state's
// encoding. It changes only with a migration note in docs/redis-keys.md.
const SchemaVersion = 2

// globalTag is the hash tag of the keys that are not per item or per
// customer. '#' cannot occur in an id, so no item or customer shares it.
const globalTag = "{#}"

var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// ValidatePrefix checks a key prefix.
func ValidatePrefix(p string) error {
	if !prefixPattern.MatchString(p) {
		return fmt.Errorf("redis key prefix %q: use 1-32 characters of A-Z a-z 0-9 _ . -", p)
	}
	return nil
}

// Keys builds every key under one prefix. Per-item keys carry the item id as
// their hash tag, so an item's row and its list live in the same slot of a
// Redis Cluster; per-customer keys carry the customer id.
type Keys struct{ Prefix string }

// Row is item X's counter row of a list kind. Bought: field Y = N_XY,
// field "h|n" = h_X[n]; Viewed: the same over view histories; ViewedBought:
// field Y = M_XY, field "t|" = M_X. In every row, field "#p" is the fence
// watermark for partition p and "#list" the list fence.
func (k Keys) Row(kind ListKind, item string) string {
	return k.Prefix + ":row:" + kind.code() + ":{" + item + "}"
}

// List is item X's related list of a kind (a JSON string).
func (k Keys) List(kind ListKind, item string) string {
	return k.Prefix + ":rel:" + kind.code() + ":{" + item + "}"
}

// Customer is a customer's state: field "b" = purchase history, "v" = view
// history, "d" = recent event ids, "#p" = watermark.
func (k Keys) Customer(id string) string { return k.Prefix + ":cust:{" + id + "}" }

// Buyers is the hash of B: field X = B_X.
func (k Keys) Buyers() string { return k.Prefix + ":" + globalTag + ":buyers" }

// Totals holds T and C.
func (k Keys) Totals() string { return k.Prefix + ":" + globalTag + ":totals" }

// Viewers is the hash of viewers: field X = customers with X in V_c.
func (k Keys) Viewers() string { return k.Prefix + ":" + globalTag + ":viewers" }

// ViewTotals holds T and C of the view histories.
func (k Keys) ViewTotals() string { return k.Prefix + ":" + globalTag + ":vtotals" }

// globals returns the B hash and the totals hash that a list kind's scores
// normalise by: viewed lists use the view counters, the others (viewed
// then bought included: E = M_X * P_Y) the purchase counters.
func (k Keys) globals(kind ListKind) (buyers, totals string) {
	if kind == Viewed {
		return k.Viewers(), k.ViewTotals()
	}
	return k.Buyers(), k.Totals()
}

// Dirty is the sorted set of items whose list must be re-scored, scored by
// the time (unix ms) they were first marked since their last re-score.
func (k Keys) Dirty() string { return k.Prefix + ":" + globalTag + ":dirty" }

// DirtyVersions counts the marks of each dirty item: field X = version.
func (k Keys) DirtyVersions() string { return k.Prefix + ":" + globalTag + ":dirtyver" }

// DirtyClaims holds the re-scorers' claims on dirty items: field
// "<list code>|<item>", value "<owner>|<expiry unix ms>".
func (k Keys) DirtyClaims() string { return k.Prefix + ":" + globalTag + ":dirtyclaim" }

// Lease is a named lease one of several instances holds for a while (a
// string: the owner, with a TTL), e.g. "sweep".
func (k Keys) Lease(name string) string { return k.Prefix + ":" + globalTag + ":lease:" + name }

// Progress holds the applied offset of each partition: field p.
func (k Keys) Progress() string { return k.Prefix + ":" + globalTag + ":progress" }

// Popularity is a day's popularity bucket of a kind (Bought or Viewed):
// field X = events of X that day, field "c|<category>|X" = those with the
// category. The day ("YYYYMMDD", UTC) is the hash tag.
func (k Keys) Popularity(kind ListKind, day string) string {
	return k.Prefix + ":pop:" + kind.code() + ":{" + day + "}"
}

// PopularityState holds the popularity anchor (field "anchor", the latest
// event time applied, unix ms) and a version that changes with every batch
// that counted events (field "version").
func (k Keys) PopularityState() string { return k.Prefix + ":" + globalTag + ":popstate" }

// Popular is a kind's stored popularity list (a JSON string), overall
// (category "") or within a category.
func (k Keys) Popular(kind ListKind, category string) string {
	key := k.Prefix + ":" + globalTag + ":popular:" + kind.code()
	if category != "" {
		key += ":" + category
	}
	return key
}

// PopularityDays is the set of days with a popularity bucket of a kind,
// so old buckets are found and deleted without a scan.
func (k Keys) PopularityDays(kind ListKind) string {
	return k.Prefix + ":" + globalTag + ":popdays:" + kind.code()
}

// PopularCategories is the set of categories with a stored popularity list
// of a kind.
func (k Keys) PopularCategories(kind ListKind) string {
	return k.Prefix + ":" + globalTag + ":popcats:" + kind.code()
}

// ItemCategories maps items to the category of their latest event that
// carried one: field X = category.
func (k Keys) ItemCategories() string { return k.Prefix + ":" + globalTag + ":itemcat" }

// Outbox is the sorted set of lists whose change is not published yet,
// scored by the time (unix ms) they were marked; OutboxStamps holds each
// member's mark stamp.
func (k Keys) Outbox() string { return k.Prefix + ":" + globalTag + ":outbox" }

// OutboxStamps: field member = the stamp of its latest mark.
func (k Keys) OutboxStamps() string { return k.Prefix + ":" + globalTag + ":outboxver" }

// Inflight holds, per partition (field p), the marker of the last written
// step of the batch being applied (Store.ApplyBatch).
func (k Keys) Inflight() string { return k.Prefix + ":" + globalTag + ":inflight" }

// Meta records which topic and settings built the state.
func (k Keys) Meta() string { return k.Prefix + ":" + globalTag + ":meta" }

// itemOf extracts the id between the braces of a per-item key.
func itemOf(key string) string {
	open, close := -1, -1
	for i := 0; i < len(key); i++ {
		if key[i] == '{' && open < 0 {
			open = i
		} else if key[i] == '}' && open >= 0 {
			close = i
			break
		}
	}
	if open < 0 || close < 0 {
		return ""
	}
	return key[open+1 : close]
}
