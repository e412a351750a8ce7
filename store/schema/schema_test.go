package schema_test

import (
	"slices"
	"testing"
	"time"

	"github.com/alsobought/alsobought/store/schema"
)

// TestKeyNamesAreTheContract pins every key name to the table of
// docs/redis-keys.md: storefronts read these keys directly, so a name
// changes only with a new schema version.
func TestKeyNamesAreTheContract(t *testing.T) {
	k := schema.NewKeys("ab")
	buyers, totals := k.Counters(schema.Bought)
	viewers, vtotals := k.Counters(schema.Viewed)
	mBuyers, mTotals := k.Counters(schema.ViewedBought)
	for got, want := range map[string]string{
		k.Row(schema.Bought, "X"):                         "ab:row:b:{X}",
		k.Row(schema.Viewed, "X"):                         "ab:row:v:{X}",
		k.Row(schema.ViewedBought, "X"):                   "ab:row:vb:{X}",
		k.List(schema.Bought, "X"):                        "ab:rel:b:{X}",
		k.List(schema.Viewed, "X"):                        "ab:rel:v:{X}",
		k.List(schema.ViewedBought, "X"):                  "ab:rel:vb:{X}",
		k.Customer("c"):                                   "ab:cust:{c}",
		k.Popularity(schema.Bought, "20240501"):           "ab:pop:b:{20240501}",
		k.Popularity(schema.Viewed, "20240501"):           "ab:pop:v:{20240501}",
		k.PopularityDays(schema.Viewed):                   "ab:{#}:popdays:v",
		k.Popular(schema.Bought, ""):                      "ab:{#}:popular:b",
		k.Popular(schema.Viewed, "shoes"):                 "ab:{#}:popular:v:shoes",
		k.PopularCategories(schema.Bought):                "ab:{#}:popcats:b",
		k.Lease("sweep"):                                  "ab:{#}:lease:sweep",
		k.Buyers(0) + " " + buyers(1) + " " + mBuyers(31): "ab:{#0.33}:buyers ab:{#1.162}:buyers ab:{#31.12}:buyers",
		k.Totals(0) + " " + totals(1) + " " + mTotals(31): "ab:{#0.33}:totals ab:{#1.162}:totals ab:{#31.12}:totals",
		k.Viewers(0) + " " + viewers(5):                   "ab:{#0.33}:viewers ab:{#5.12}:viewers",
		k.ViewTotals(0) + " " + vtotals(5):                "ab:{#0.33}:vtotals ab:{#5.12}:vtotals",
		k.Dirty(0) + " " + k.DirtyVersions(0):             "ab:{#0.33}:dirty ab:{#0.33}:dirtyver",
		k.DirtyClaims(0) + " " + k.ItemCategories(0):      "ab:{#0.33}:dirtyclaim ab:{#0.33}:itemcat",
		k.Progress + " " + k.Inflight:                     "ab:{#}:progress ab:{#}:inflight",
		k.PopularityState:                                 "ab:{#}:popstate",
		k.Outbox + " " + k.OutboxStamps + " " + k.Meta:    "ab:{#}:outbox ab:{#}:outboxver ab:{#}:meta",
		k.Republished:                                     "ab:{#}:republished",
		k.All():                                           "ab:*",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

// TestFieldNamesAreTheContract pins the field names and value formats of
// docs/redis-keys.md.
func TestFieldNamesAreTheContract(t *testing.T) {
	day := time.Date(2024, 5, 1, 23, 30, 0, 0, time.FixedZone("UTC-2", -2*3600))
	for got, want := range map[string]string{
		schema.FieldTotal + schema.FieldCustomers + schema.FieldPurchases + schema.FieldRepeats: "TCPR",
		schema.FieldViewedTotal:  "t|",
		schema.FieldListRevision: "#list",
		schema.HistField(3):      "h|3",
		schema.FieldItemPurchases + " " + schema.GapField(0) + " " + schema.GapField(8): "p| g|0 g|8",
		schema.WatermarkField(7): "#7",
		schema.PartitionField(7): "7",
		schema.CustomerPurchases + schema.CustomerViews + schema.CustomerRecent + schema.CustomerEver: "bvde",
		schema.EverSep: ",",
		schema.FieldAnchor + " " + schema.FieldPopularityVersion: "anchor version",
		schema.Day(day):                                      "20240502", // the UTC date
		schema.CategoryField("shoes", "X"):                   "c|shoes|X",
		schema.DirtyMember(schema.ViewedBought, "X"):         "vb|X",
		schema.ListMember(schema.Viewed, "X"):                "l|v|X",
		schema.PopularMember(schema.Bought, ""):              "p|b|",
		schema.MetaSchema + " " + schema.MetaPartitionCounts: "schema partition_counts",
	} {
		if got != want {
			t.Errorf("field %q, want %q", got, want)
		}
	}
}

// TestParsersInvertTheNames: every name a reader parses back comes out as
// it went in, and other fields are told apart.
func TestParsersInvertTheNames(t *testing.T) {
	if n, ok, err := schema.ParseHistField(schema.HistField(12)); !ok || err != nil || n != 12 {
		t.Errorf("ParseHistField(h|12) = %d, %v, %v", n, ok, err)
	}
	if _, ok, _ := schema.ParseHistField("item-h|1"); ok {
		t.Error("an item id parsed as a histogram field")
	}
	if p, ok := schema.ParseWatermarkField(schema.WatermarkField(3)); !ok || p != 3 {
		t.Errorf("ParseWatermarkField(#3) = %d, %v", p, ok)
	}
	if _, ok := schema.ParseWatermarkField(schema.FieldListRevision); ok {
		t.Error("the list revision parsed as a watermark")
	}
	if !schema.IsFenceField(schema.FieldListRevision) || !schema.IsFenceField(schema.WatermarkField(0)) || schema.IsFenceField("X") {
		t.Error("IsFenceField does not tell fences from data")
	}
	if c, it, ok := schema.ParseCategoryField(schema.CategoryField("a:b", "X")); !ok || c != "a:b" || it != "X" {
		t.Errorf("ParseCategoryField = %q, %q, %v", c, it, ok)
	}
	if kind, it, ok := schema.ParseDirtyMember(schema.DirtyMember(schema.ViewedBought, "a:b")); !ok || kind != schema.ViewedBought || it != "a:b" {
		t.Errorf("ParseDirtyMember = %q, %q, %v", kind, it, ok)
	}
	if _, _, ok := schema.ParseDirtyMember("x|X"); ok {
		t.Error("a dirty member of an unknown kind parsed")
	}
	for _, m := range []schema.OutboxMember{{Kind: schema.Bought, Name: "X"}, {Popular: true, Kind: schema.Viewed, Name: ""}, {Popular: true, Kind: schema.Bought, Name: "shoes"}} {
		s := schema.ListMember(m.Kind, m.Name)
		if m.Popular {
			s = schema.PopularMember(m.Kind, m.Name)
		}
		if got, ok := schema.ParseOutboxMember(s); !ok || got != m {
			t.Errorf("ParseOutboxMember(%q) = %+v, %v; want %+v", s, got, ok, m)
		}
	}
	for _, bad := range []string{"", "l", "x|b|X", "l|zz|X", "l|b"} {
		if _, ok := schema.ParseOutboxMember(bad); ok {
			t.Errorf("ParseOutboxMember(%q) accepted", bad)
		}
	}
	if got := schema.ItemOf(schema.NewKeys("ab").Row(schema.Bought, "a:b")); got != "a:b" {
		t.Errorf("ItemOf = %q", got)
	}
	k := schema.NewKeys("ab")
	if !k.IsCustomer(k.Customer("c")) || k.IsCustomer(k.Row(schema.Bought, "c")) || !k.IsItem(k.List(schema.ViewedBought, "X")) ||
		!k.IsItem(k.Row(schema.Viewed, "X")) || k.IsItem(k.Customer("c")) || schema.NewKeys("a").IsItem(k.Row(schema.Bought, "X")) {
		t.Error("IsCustomer and IsItem do not tell the keys apart")
	}
	if !schema.IsGlobal(schema.NewKeys("ab").Dirty(3)) || schema.IsGlobal(schema.NewKeys("ab").Customer("c")) {
		t.Error("IsGlobal does not tell the global keys")
	}
}

// TestHistoryEncodingIsTheContract pins the stored form of a history
// (docs/redis-keys.md, customer fields b and v): "item,time,seq,count"
// entries, least recent first, times and entry sequence numbers each the
// first absolute and the others differences from the entry before, in base
// 36, ",count" left out when it is 1 and ",seq" when its difference is 1
// and no count follows.
func TestHistoryEncodingIsTheContract(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e", "f"}
	times := []int64{1_700_000_000_000, 1_700_003_600_000, 1_700_003_600_000, 1_700_003_595_000, 1_700_003_595_000, 1_700_003_595_000}
	seqs := []int64{1, 2, 40, 3, 4, 6}
	counts := []int64{1, 3, 1, 40, 1, 2}
	const want = "a,loyw3v28|b,255s0,1,3|c,0,12|d,-3uw,-11,14|e,0|f,0,2,2"
	if got := schema.EncodeHistory(items, times, seqs, counts); got != want {
		t.Fatalf("EncodeHistory = %q, want %q", got, want)
	}
	gotItems, gotTimes, gotSeqs, gotCounts, err := schema.DecodeHistory(want)
	if err != nil || !slices.Equal(gotItems, items) || !slices.Equal(gotTimes, times) || !slices.Equal(gotSeqs, seqs) || !slices.Equal(gotCounts, counts) {
		t.Fatalf("DecodeHistory = %v, %v, %v, %v, %v", gotItems, gotTimes, gotSeqs, gotCounts, err)
	}
	// nil counts are a count of 1 everywhere: the schema-3 form of the
	// same entries.
	if got := schema.EncodeHistory(items[:1], times[:1], seqs[:1], nil); got != "a,loyw3v28" {
		t.Errorf("EncodeHistory without counts = %q", got)
	}
	if items, times, seqs, counts, err := schema.DecodeHistory(""); err != nil || items != nil || times != nil || seqs != nil || counts != nil {
		t.Fatalf("empty history: %v, %v, %v, %v, %v", items, times, seqs, counts, err)
	}
	// Schema 2 stored bare ids: such a value is an error, not a history of
	// items at time 0. A count below 1 is no count either.
	for _, bad := range []string{"a|b", "a,", ",1", "a,1|b", "a,zz!", "a,1,", "a,1,2,3,4", "a,1,!", "a,1,1,0", "a,1,1,-2", "a,1,1,"} {
		if _, _, _, _, err := schema.DecodeHistory(bad); err == nil {
			t.Errorf("DecodeHistory(%q) accepted", bad)
		}
	}
}

// FuzzHistoryRoundTrip: whatever DecodeHistory accepts, EncodeHistory
// writes back in a form that decodes to the same entries.
func FuzzHistoryRoundTrip(f *testing.F) {
	for _, s := range []string{"a,loyw3v28|b,255s0,1,3|c,0,12", "x,1", "x,1,2,3|y,-1,0,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		items, times, seqs, counts, err := schema.DecodeHistory(s)
		if err != nil {
			return
		}
		enc := schema.EncodeHistory(items, times, seqs, counts)
		i2, t2, s2, c2, err := schema.DecodeHistory(enc)
		if err != nil || !slices.Equal(i2, items) || !slices.Equal(t2, times) || !slices.Equal(s2, seqs) || !slices.Equal(c2, counts) {
			t.Fatalf("%q -> %q -> %v %v %v %v %v", s, enc, i2, t2, s2, c2, err)
		}
	})
}

// TestGapBucket pins the log-spaced day buckets of inter-purchase gaps.
func TestGapBucket(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		gap  time.Duration
		want int
	}{
		{-time.Hour, 0}, {0, 0}, {day - 1, 0}, {day, 1}, {2*day - 1, 1}, {2 * day, 2}, {4*day - 1, 2},
		{4 * day, 3}, {8 * day, 4}, {16 * day, 5}, {31 * day, 5}, {32 * day, 6}, {64*day - 1, 6},
		{64 * day, 7}, {128*day - 1, 7}, {128 * day, 8}, {10000 * day, 8},
	} {
		if got := schema.GapBucket(c.gap); got != c.want {
			t.Errorf("GapBucket(%v) = %d, want %d", c.gap, got, c.want)
		}
	}
	for b := range schema.GapBuckets {
		if got, ok := schema.ParseGapField(schema.GapField(b)); !ok || got != b {
			t.Errorf("ParseGapField(GapField(%d)) = %d, %v", b, got, ok)
		}
		if !schema.IsRebuyField(schema.GapField(b)) {
			t.Errorf("IsRebuyField(%q) = false", schema.GapField(b))
		}
	}
	for _, bad := range []string{"g|9", "g|-1", "g|01", "g|", "p|", "X", "h|1"} {
		if _, ok := schema.ParseGapField(bad); ok {
			t.Errorf("ParseGapField(%q) accepted", bad)
		}
	}
	if !schema.IsRebuyField(schema.FieldItemPurchases) || schema.IsRebuyField("X") || schema.IsRebuyField(schema.HistField(1)) {
		t.Error("IsRebuyField does not tell the purchase statistics from other fields")
	}
}
