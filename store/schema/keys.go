package schema

import (
	"strconv"
	"strings"
)

// GlobalTag is the hash tag of the keys that are not per item, per customer
// or per day. '#' cannot occur in an id, so no item or customer shares it.
const GlobalTag = "{#}"

// Keys names every key under one prefix. Per-item keys carry the item id as
// their hash tag, so an item's row and its list live in the same slot of a
// Redis Cluster; per-customer keys carry the customer id, and popularity
// buckets the day. The global keys that every batch or re-score writes
// are cut into Shards shards, each with its own tag (ShardTag): methods
// taking the shard (Buyers, Totals, Dirty, ...). The other global keys
// share the tag {#}; they depend on the prefix only, so they are fields,
// computed once by NewKeys.
type Keys struct {
	Prefix string

	// Progress holds the applied offset of each partition: field
	// PartitionField(p).
	Progress string
	// Inflight holds, per partition (field PartitionField(p)), the marker
	// of the last written step of the batch being applied (StepMarker).
	Inflight string
	// PopularityState holds the popularity anchor (FieldAnchor) and
	// version (FieldPopularityVersion).
	PopularityState string
	// Outbox is the sorted set of lists whose change is not published yet
	// (members: ListMember, PopularMember), scored by the time (unix ms)
	// they were marked.
	Outbox string
	// OutboxStamps: field member = the stamp of its latest mark.
	OutboxStamps string
	// Clock holds, per partition, the newest event time applied, the idle
	// mark, the last sweep and the sweep in flight (the Clock* fields).
	Clock string
	// Meta records which topic and settings built the state (the Meta*
	// fields).
	Meta string
	// Republished records the dead letters published again to the events
	// topic (`alsobought deadletters republish`): field
	// "<dead-letter topic>/<partition>/<offset>" = when (unix ms), so that
	// none is published twice.
	Republished string

	// Catalogue holds the item records of the catalogue topic: field X =
	// X's record, canonical JSON (docs/events.md, "Catalogue records"); an
	// item without a record is available with the category of its events.
	Catalogue string
	// CatalogueProgress holds the next offset to apply of each catalogue
	// partition: field PartitionField(p).
	CatalogueProgress string
	// CatalogueRevisions is the sorted set of items whose record changed,
	// scored by the catalogue revision of their latest change, so that a
	// reader holding revision r finds what changed since with one range.
	CatalogueRevisions string
	// CatalogueRevision is the catalogue's revision: a counter raised by
	// every change of a record.
	CatalogueRevision string
	// CatalogueDue is the sorted set of items whose visibility changes at
	// a window edge yet to come, scored by that edge (unix ms), so that
	// the lists holding them are re-scored at the edge.
	CatalogueDue string
	// CatalogueEdges holds the window of the items that have one: field X
	// = "<from unix ms>,<until unix ms>" (0: open side).
	CatalogueEdges string
	// CataloguePending is the sorted set of items whose availability
	// changed (a record, or a window edge reached) and whose lists are not
	// re-scored for it yet, scored by the revision of the change.
	CataloguePending string
}

// NewKeys returns the key names under prefix.
func NewKeys(prefix string) Keys {
	g := func(name string) string { return prefix + ":" + GlobalTag + ":" + name }
	return Keys{Prefix: prefix,
		Progress: g("progress"), Inflight: g("inflight"),
		PopularityState: g("popstate"),
		Outbox:          g("outbox"), OutboxStamps: g("outboxver"), Meta: g("meta"), Clock: g("clock"), Republished: g("republished"),
		Catalogue: g("catalogue"), CatalogueProgress: g("catprogress"), CatalogueRevisions: g("catrevs"),
		CatalogueRevision: g("catrev"), CatalogueDue: g("catdue"), CatalogueEdges: g("catedges"),
		CataloguePending: g("catpending")}
}

// shard names a sharded global key: "<prefix>:{#s.n}:<name>".
func (k Keys) shard(s int, name string) string { return k.Prefix + ":" + ShardTag(s) + ":" + name }

// Buyers is shard s of the hash of B: field X = B_X, for the items X of
// the shard (ItemShard).
func (k Keys) Buyers(s int) string { return k.shard(s, "buyers") }

// Totals is shard s of the purchase totals: T, C, P, R and the gap
// buckets (the Field* constants) of the events whose offsets fall in the
// shard (OffsetShard). The totals are the sums over the shards.
func (k Keys) Totals(s int) string { return k.shard(s, "totals") }

// Viewers is shard s of the hash of viewers: field X = customers with X in
// V_c, for the items X of the shard.
func (k Keys) Viewers(s int) string { return k.shard(s, "viewers") }

// ViewTotals is shard s of T and C of the view histories (summed over the
// shards, as Totals).
func (k Keys) ViewTotals(s int) string { return k.shard(s, "vtotals") }

// Dirty is shard s of the lists that must be re-scored: a sorted set of
// the members (DirtyMember) whose item is in the shard, scored by the time
// (unix ms) they were first marked since their last re-score.
func (k Keys) Dirty(s int) string { return k.shard(s, "dirty") }

// DirtyVersions counts the marks of each dirty member of shard s: field
// member = version.
func (k Keys) DirtyVersions(s int) string { return k.shard(s, "dirtyver") }

// DirtyClaims holds the re-scorers' claims on the dirty members of shard
// s: field member, value "<owner>|<expiry unix ms>".
func (k Keys) DirtyClaims(s int) string { return k.shard(s, "dirtyclaim") }

// ItemCategories is shard s of the map of items to the category of their
// latest event that carried one: field X = category.
func (k Keys) ItemCategories(s int) string { return k.shard(s, "itemcat") }

// The parts of the per-item and per-customer key names after the prefix.
const (
	rowPart      = ":row:"
	rowIndexPart = ":rowix:"
	listPart     = ":rel:"
	holdersPart  = ":in:"
	customerPart = ":cust:{"
)

// Row is item X's counter row of a list kind. Bought: field Y = N_XY,
// field HistField(n) = h_X[n]; Viewed: the same over view histories;
// ViewedBought: field Y = M_XY, field FieldViewedTotal = M_X. In every row,
// WatermarkField(p) is the fence watermark of partition p and
// FieldListRevision the list fence.
func (k Keys) Row(kind ListKind, item string) string {
	return k.Prefix + rowPart + kind.Code() + ":{" + item + "}"
}

// RowIndex is the index of item X's row of a kind: a hash whose fields
// (values empty) name the row fields a list is computed from, so that a
// re-score reads those and not the whole row (docs/DESIGN.md §4, "Reading
// a row by its index"). It holds every row field that is not a co-count
// (fences, histogram bins, statistics) and every co-count that reached
// the min support; a co-count leaves it when it falls to zero. Same hash
// tag as the row.
func (k Keys) RowIndex(kind ListKind, item string) string {
	return k.Prefix + rowIndexPart + kind.Code() + ":{" + item + "}"
}

// List is item X's related list of a kind (a JSON string).
func (k Keys) List(kind ListKind, item string) string {
	return k.Prefix + listPart + kind.Code() + ":{" + item + "}"
}

// Holders is the set of the lists whose unfiltered top entries hold item
// Y (members: DirtyMember), so that a change of Y's availability re-scores
// exactly them. Tagged with Y, like Y's row and lists.
func (k Keys) Holders(item string) string { return k.Prefix + holdersPart + "{" + item + "}" }

// Customer is a customer's state: the Field* customer fields and
// WatermarkField(p).
func (k Keys) Customer(id string) string { return k.Prefix + customerPart + id + "}" }

// Counters returns the shards of the B hash and of the totals that a list
// kind's scores normalise by: viewed lists use the view counters, the
// others (viewed then bought included: E = M_X * P_Y) the purchase
// counters.
func (k Keys) Counters(kind ListKind) (buyers, totals func(shard int) string) {
	if kind == Viewed {
		return k.Viewers, k.ViewTotals
	}
	return k.Buyers, k.Totals
}

// Lease is a named lease one of several instances holds for a while (a
// string: the owner, with a TTL), e.g. "sweep".
func (k Keys) Lease(name string) string { return k.Prefix + ":" + GlobalTag + ":lease:" + name }

// Popularity is a day's popularity bucket of a kind (Bought or Viewed):
// field X = events of X that day, field CategoryField(category, X) = those
// with the category. The day (Day) is the hash tag.
func (k Keys) Popularity(kind ListKind, day string) string {
	return k.Prefix + ":pop:" + kind.Code() + ":{" + day + "}"
}

// Popular is a kind's stored popularity list (a JSON string), overall
// (category "") or within a category.
func (k Keys) Popular(kind ListKind, category string) string {
	key := k.Prefix + ":" + GlobalTag + ":popular:" + kind.Code()
	if category != "" {
		key += ":" + category
	}
	return key
}

// PopularityDays is the set of days with a popularity bucket of a kind,
// so old buckets are found and deleted without a scan.
func (k Keys) PopularityDays(kind ListKind) string {
	return k.Prefix + ":" + GlobalTag + ":popdays:" + kind.Code()
}

// PopularCategories is the set of categories with a stored popularity list
// of a kind.
func (k Keys) PopularCategories(kind ListKind) string {
	return k.Prefix + ":" + GlobalTag + ":popcats:" + kind.Code()
}

// AgeIndex is partition p's index of the customers it holds for ageing:
// a sorted set of customer ids scored by the time (unix ms) of their oldest
// history entry, so that the sweep finds who has entries to age without a
// scan. One key per partition, each with its own hash tag, so that the
// index spreads over a cluster's slots instead of being one hot key.
func (k Keys) AgeIndex(partition int) string {
	return k.Prefix + ":{#" + strconv.Itoa(partition) + "}:aged"
}

// Erasures is partition p's set of the customer ids whose erasure was
// requested and not done yet (same hash tag as AgeIndex).
func (k Keys) Erasures(partition int) string {
	return k.Prefix + ":{#" + strconv.Itoa(partition) + "}:erase"
}

// IsCustomer reports whether key is a customer's hash under the prefix.
func (k Keys) IsCustomer(key string) bool { return strings.HasPrefix(key, k.Prefix+customerPart) }

// IsItem reports whether key is an item's row or list under the prefix.
func (k Keys) IsItem(key string) bool {
	return strings.HasPrefix(key, k.Prefix+rowPart) || strings.HasPrefix(key, k.Prefix+listPart) ||
		strings.HasPrefix(key, k.Prefix+holdersPart) || strings.HasPrefix(key, k.Prefix+rowIndexPart)
}

// All is the pattern of every key under the prefix.
func (k Keys) All() string { return k.Prefix + ":*" }

// IsGlobal reports whether a key carries a global hash tag: {#}, a
// shard's (ShardTag) or a partition's (AgeIndex).
func IsGlobal(key string) bool { return strings.Contains(key, ":{#") }

// ItemOf returns the id between the braces of a per-item (or per-customer,
// per-day) key, "" when it has none.
func ItemOf(key string) string {
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
