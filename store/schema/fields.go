package schema

import (
	"strconv"
	"strings"
	"time"
)

// Fields of the totals hashes (Keys.Totals, Keys.ViewTotals).
const (
	// FieldTotal holds T, the sum of history sizes.
	FieldTotal = "T"
	// FieldCustomers holds C, the customers with a non-empty history.
	FieldCustomers = "C"
	// FieldPurchases (purchase totals only) holds P, the purchase events
	// applied, and FieldRepeats R, those of an item already in the
	// customer's retained history (a repeat purchase).
	FieldPurchases = "P"
	FieldRepeats   = "R"
)

// Fields of the counter rows (Keys.Row) besides the co-counts, whose field
// is the other item's id. Item ids cannot contain '|' or start with '#', so
// none of these collides with an id.
const (
	// FieldViewedTotal holds M_X in a viewed-then-bought row.
	FieldViewedTotal = "t|"
	// FieldListRevision holds the revision of the row the stored list was
	// computed from (the list fence). It starts with '#' like the
	// watermarks, so row readers skip it (IsFenceField).
	FieldListRevision = "#list"
	// FieldWatch holds the items whose availability can change the stored
	// list without a change of the row: its entries and the hidden
	// candidates passed over for them, comma-separated (ids hold no comma).
	// It starts with '#' too: row readers skip it.
	FieldWatch = "#watch"
	// FieldIndexedCoCounts holds, in a state whose metadata has
	// MetaRowIndexCounts, the number of co-counts the row's index names
	// (those that reached the index's support and have not fallen to
	// zero); absent when none. While it stays absent the row has no
	// candidate a list can show, and a change of its histogram or M_X
	// leaves its empty list empty: the write does not mark it
	// (docs/DESIGN.md §4, "What marks a list"). It starts with '#': row
	// readers skip it.
	FieldIndexedCoCounts = "#cc"
	// HistFieldPrefix starts every histogram field (HistField).
	HistFieldPrefix = "h|"
)

// HistField is the row field that holds h_X[n].
func HistField(others int) string { return HistFieldPrefix + strconv.Itoa(others) }

// ParseHistField returns the n of a HistField; ok is false for other fields.
func ParseHistField(f string) (others int64, ok bool, err error) {
	rest, ok := strings.CutPrefix(f, HistFieldPrefix)
	if !ok {
		return 0, false, nil
	}
	others, err = strconv.ParseInt(rest, 10, 64)
	return others, true, err
}

// Fields of a purchase row (Keys.Row of Bought) that count item Y's own
// purchases, for the repeat model (docs/DESIGN.md section 12). They are
// anonymous aggregates of the item, like P and R of the totals: they do
// not change the row's list, so they never mark it dirty, and erasure
// leaves them. Row readers tell them from co-counts by IsRebuyField.
const (
	// FieldItemPurchases holds P_Y, the purchase events of Y applied.
	FieldItemPurchases = "p|"
	gapPrefix          = "g|"
)

// GapBuckets is the number of buckets of an item's inter-purchase gaps
// (GapBucket).
const GapBuckets = 9

// GapField is the purchase-row field that holds bucket b of the item's
// repeat-purchase gaps: "g|b".
func GapField(bucket int) string { return gapPrefix + strconv.Itoa(bucket) }

// ParseGapField returns the bucket of a GapField; ok is false for other
// fields (and for a bucket out of range).
func ParseGapField(f string) (bucket int, ok bool) {
	rest, ok := strings.CutPrefix(f, gapPrefix)
	if !ok {
		return 0, false
	}
	b, err := strconv.Atoi(rest)
	if err != nil || b < 0 || b >= GapBuckets || strconv.Itoa(b) != rest {
		return 0, false
	}
	return b, true
}

// IsRebuyField reports whether a row field is one of an item's purchase
// statistics (FieldItemPurchases or a GapField) rather than a co-count, a
// histogram bin or a fence.
func IsRebuyField(f string) bool {
	return f == FieldItemPurchases || strings.HasPrefix(f, gapPrefix)
}

// GapBucket returns the bucket of an inter-purchase gap, log-spaced in
// days: bucket 0 holds [0, 1 day), bucket b from 1 to GapBuckets − 2 holds
// [2^(b−1), 2^b) days, and the last bucket 128 days and more. A negative
// gap (an event older than the entry's time) counts as 0.
func GapBucket(d time.Duration) int {
	const day = 24 * time.Hour
	if d < day {
		return 0
	}
	b, bound := 1, 2*day
	for b < GapBuckets-1 && d >= bound {
		b++
		bound *= 2
	}
	return b
}

// WatermarkField names the fence watermark of a partition inside a counter
// or customer hash: "#p".
func WatermarkField(partition int) string { return "#" + strconv.Itoa(partition) }

// IsFenceField reports whether a hash field is a fence (a watermark or the
// list revision) rather than data.
func IsFenceField(f string) bool { return strings.HasPrefix(f, "#") }

// IsCoCountField reports whether a row field holds a co-count (its name is
// the other item's id): neither a statistic nor a histogram bin (they hold
// '|') nor a fence.
func IsCoCountField(f string) bool { return !strings.Contains(f, "|") && !IsFenceField(f) }

// ParseWatermarkField returns the partition of a WatermarkField; ok is
// false for other fields (FieldListRevision included).
func ParseWatermarkField(f string) (partition int, ok bool) {
	if len(f) < 2 || f[0] != '#' || f[1] < '0' || f[1] > '9' {
		return 0, false
	}
	p, err := strconv.Atoi(f[1:])
	return p, err == nil
}

// SweepField names the fence of partition p's ageing sweeps inside a
// counter or customer hash: "#sp". Its value is the sequence number of the
// last sweep (or erasure) of that partition applied to the hash: sweeps
// are not Kafka events, so they are fenced by their own sequence, which
// only rises (docs/DESIGN.md section 10).
func SweepField(partition int) string { return "#s" + strconv.Itoa(partition) }

// ParseSweepField returns the partition of a SweepField; ok is false for
// other fields.
func ParseSweepField(f string) (partition int, ok bool) {
	if len(f) < 3 || f[:2] != "#s" || f[2] < '0' || f[2] > '9' {
		return 0, false
	}
	p, err := strconv.Atoi(f[2:])
	return p, err == nil
}

// Fields of the clock hash (Keys.Clock), per partition p.
const (
	// ClockEventTime + p: the newest event time (unix ms) the partition
	// has applied; the watermark is the least of them (docs/DESIGN.md
	// section 10).
	ClockEventTime = "t"
	// ClockAttempted + p: the last offset of the latest events batch that
	// started writing; a sweep waits until the progress reaches it, so that
	// it never changes a customer whose events' counter changes are in but
	// whose state is not (a batch cut short by a crash).
	ClockAttempted = "a"
	// ClockIdle + p: present while the partition has applied everything
	// it holds, so that it does not hold the watermark back.
	ClockIdle = "i"
	// ClockSweep + p: the sequence number of the partition's last
	// completed sweep.
	ClockSweep = "s"
	// ClockPlan + p: the sweep being applied (EncodeSweepPlan), so that
	// the partition's next owner finishes the same sweep after a crash.
	ClockPlan = "plan"
	// ClockWatermark (no partition) holds the watermark of the latest
	// sweep: it only rises, and events older than it are late.
	ClockWatermark = "w"
)

// ClockField is a partition's field of one of the Clock* kinds.
func ClockField(kind string, partition int) string { return kind + strconv.Itoa(partition) }

// PartitionField is a partition's field in the progress and in-flight
// hashes (Keys.Progress, Keys.Inflight): the partition number.
func PartitionField(partition int) string { return strconv.Itoa(partition) }

// Fields of a customer hash (Keys.Customer) besides the watermarks.
const (
	// CustomerPurchases holds the retained purchase history
	// (EncodeHistory).
	CustomerPurchases = "b"
	// CustomerViews holds the retained view history (EncodeHistory);
	// absent while the customer has viewed nothing.
	CustomerViews = "v"
	// CustomerRecent holds the ids of recent events for de-duplication:
	// "id,unixms" entries (RecentIDSep) joined by RecentSep.
	CustomerRecent = "d"
	// CustomerEver holds the items that left the purchase history by the
	// K_hist bound, as a Bloom filter (delta.Ever: "n,newest,bits", n and
	// newest in base 36, bits in unpadded base64, at most about 5,880
	// characters); absent while none has.
	CustomerEver = "e"
)

// Value formats of the customer fields.
const (
	// HistorySep joins the entries of a stored history, least recent
	// first, and HistoryTimeSep separates an entry's item, time and
	// sequence number (EncodeHistory).
	HistorySep     = "|"
	HistoryTimeSep = ","
	// EverSep separates the parts of a stored ever-bought set.
	EverSep = ","
	// RecentSep joins the entries of the recent event ids, and RecentIDSep
	// separates an entry's id from its time.
	RecentSep   = "|"
	RecentIDSep = ","
)

// Fields of the popularity state hash (Keys.PopularityState).
const (
	// FieldAnchor holds the latest event time applied (unix ms).
	FieldAnchor = "anchor"
	// FieldPopularityVersion is raised by every batch that counted events.
	FieldPopularityVersion = "version"
)

// Day names a popularity bucket (Keys.Popularity): the UTC date of the
// event time, "YYYYMMDD". Such names order as the days do.
func Day(t time.Time) string { return t.UTC().Format("20060102") }

const categoryPrefix = "c|"

// CategoryField is the field of a popularity bucket that counts an item's
// events with a category. Neither ids nor categories can contain '|'.
func CategoryField(category, item string) string { return categoryPrefix + category + "|" + item }

// ParseCategoryField returns the category and item of a CategoryField; ok
// is false for other fields (an item's overall count).
func ParseCategoryField(f string) (category, item string, ok bool) {
	rest, ok := strings.CutPrefix(f, categoryPrefix)
	if !ok {
		return "", "", false
	}
	category, item, _ = strings.Cut(rest, "|")
	return category, item, true
}

// Fields of the metadata hash (Keys.Meta). The settings that shape the
// state are recorded under their own names (MetaTopic ...).
const (
	MetaSchema          = "schema"
	MetaTopic           = "topic"
	MetaCatalogueTopic  = "catalogue_topic"
	MetaHistorySize     = "history_size"
	MetaViewHistorySize = "view_history_size"
	// MetaHistoryMaxAge holds -history-max-age in milliseconds (0: off).
	MetaHistoryMaxAge = "history_max_age_ms"
	// MetaHistogramBins holds the histograms' binning (scoring.Bins). A
	// state recorded before it existed has exact bins (MetaBefore).
	MetaHistogramBins = "histogram_bins"
	MetaListSize      = "list_size"
	MetaMinSupport    = "min_support"
	MetaScorer        = "scorer"
	// MetaPartitionCounts lists every partition count the topic has had
	// since the state first saw it, comma-separated ("4" or "4,8").
	MetaPartitionCounts = "partition_counts"
	// MetaRowIndexSupport holds the min support the row indexes
	// (Keys.RowIndex) of the state are complete for. Only a state that
	// had it from its start has it, and adopting other list settings
	// removes it: a row index kept under another support may lack a
	// candidate. Without it a re-score reads whole rows.
	MetaRowIndexSupport = "row_index_support"
	// MetaRowIndexCounts is present ("1") in a state whose rows have
	// counted their indexed co-counts (FieldIndexedCoCounts) from its
	// start; it comes and goes with MetaRowIndexSupport. A state recorded
	// before it has indexes without the counts, and marks as before.
	MetaRowIndexCounts = "row_index_counts"
	// PartitionCountsSep separates the counts of MetaPartitionCounts.
	PartitionCountsSep = ","
)

// MetaBefore holds the value of each setting recorded since some version
// in the states recorded before it: what those states were built with.
var MetaBefore = map[string]string{MetaHistogramBins: "exact"}

// DirtyMember is the member of a list in the dirty set (Keys.Dirty) and its
// field in the mark versions and claims: "<kind code>|<item>".
func DirtyMember(kind ListKind, item string) string { return kind.Code() + "|" + item }

// ParseDirtyMember is DirtyMember's inverse.
func ParseDirtyMember(m string) (ListKind, string, bool) {
	code, item, ok := strings.Cut(m, "|")
	if !ok {
		return "", "", false
	}
	kind, ok := ListKindOfCode(code)
	return kind, item, ok
}

// Outbox member kinds (Keys.Outbox).
const (
	outboxList    = 'l'
	outboxPopular = 'p'
)

// ListMember is the outbox member of a related list: "l|<code>|<item>".
func ListMember(kind ListKind, item string) string {
	return string(outboxList) + "|" + kind.Code() + "|" + item
}

// PopularMember is the outbox member of a popularity list:
// "p|<code>|<category>" ("" for the overall list).
func PopularMember(kind ListKind, category string) string {
	return string(outboxPopular) + "|" + kind.Code() + "|" + category
}

// OutboxMember is a parsed outbox member: a related list (Popular false,
// Name the item) or a popularity list (Popular true, Name the category).
type OutboxMember struct {
	Popular bool
	Kind    ListKind
	Name    string
}

// ParseOutboxMember is the inverse of ListMember and PopularMember.
func ParseOutboxMember(m string) (OutboxMember, bool) {
	if len(m) < 2 || m[1] != '|' || (m[0] != outboxList && m[0] != outboxPopular) {
		return OutboxMember{}, false
	}
	code, name, ok := strings.Cut(m[2:], "|")
	kind, known := ListKindOfCode(code)
	if !ok || !known {
		return OutboxMember{}, false
	}
	return OutboxMember{Popular: m[0] == outboxPopular, Kind: kind, Name: name}, true
}
