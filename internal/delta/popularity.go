package delta

import (
	"time"

	"github.com/alsobought/alsobought/store/schema"
)

// Popularity counts events per item and UTC day of event time, so the
// 14 days before any anchor can be summed from 14 buckets, and a replay
// counts the same (the buckets are fenced like every counter hash).
//
// A bucket is the hash Key{Kind: PopularBoughtKey or PopularViewedKey,
// Item: the day "YYYYMMDD"}: field <item> counts the day's events of the
// item, field schema.schema.CategoryField(category, item) those that carried a
// category. The names are in package schema (docs/redis-keys.md).

// Count records one event of item at time t (with an optional category)
// in the purchase or view popularity buckets.
func (b *Batch) Count(purchase bool, item, category string, t time.Time, offset int64) {
	k := Key{Kind: PopularViewedKey, Item: schema.Day(t)}
	if purchase {
		k.Kind = PopularBoughtKey
	}
	b.add(k, offset, item, +1)
	if category != "" {
		b.add(k, offset, schema.CategoryField(category, item), +1)
		if b.Categories == nil {
			b.Categories = map[string]string{}
		}
		b.Categories[item] = category
	}
	if t.After(b.Latest) {
		b.Latest = t
	}
}
