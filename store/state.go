package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// State is the whole state under the prefix at once: bootstrap writes one
// into an empty prefix, verification and tests read it back (Snapshot),
// scratch states are deleted. None of it is on the serving path: it walks
// the keyspace.
type State struct {
	c          *conn
	lists      *Lists
	batches    *Batches
	popularity *Popularity
}

// IsEmpty reports whether no counter, customer or list exists under the prefix.
func (s *State) IsEmpty(ctx context.Context) (bool, error) {
	keys := s.c.keys
	patterns := []string{keys.Customer("*")}
	for _, kind := range ListKinds() {
		patterns = append(patterns, keys.Row(kind, "*"), keys.List(kind, "*"))
	}
	errFound := errors.New("found")
	for _, pattern := range patterns {
		// Follow the cursor to the end: one SCAN page may match nothing even
		// when later pages do.
		err := s.c.scan(ctx, pattern, func([]string) error { return errFound })
		if errors.Is(err, errFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	// One EXISTS per key: the shards live in different slots of a cluster.
	cmds, err := s.c.read(ctx, "check global keys", func(p redis.Pipeliner) {
		p.Exists(ctx, keys.Progress)
		for sh := range schema.Shards {
			for _, k := range []string{keys.Buyers(sh), keys.Totals(sh), keys.Viewers(sh), keys.ViewTotals(sh)} {
				p.Exists(ctx, k)
			}
		}
	})
	if err != nil {
		return false, err
	}
	for _, cmd := range cmds {
		if cmd.(*redis.IntCmd).Val() > 0 {
			return false, nil
		}
	}
	return true, nil
}

// Write loads a whole state (counters and histories, as a Snapshot
// carries them) into an empty prefix; bootstrap uses it. It is not fenced:
// the caller checks IsEmpty first. Where the state keeps row indexes
// (Meta.Ensure, called first, found them recorded), each row's index
// names the row's fields that are neither co-counts nor histogram bins,
// and its co-counts at or above the indexes' support.
func (s *State) Write(ctx context.Context, st *Snapshot) error {
	keys := s.c.keys
	const perPipeline = 500
	ix := s.c.rowIndex.Load() // nil: the state keeps no row indexes
	var hashes []string
	var values [][]any
	add := func(key string, fields []any) {
		if len(fields) > 0 {
			hashes = append(hashes, key)
			values = append(values, fields)
		}
	}
	// addRow adds fields to a row and names in its index those a re-score
	// reads (rowIndexOn). Histogram bins go to the row alone (add): the
	// reader names them (rowIndexing).
	// The row counts the co-counts its index names where the state
	// keeps the counts (schema.FieldIndexedCoCounts).
	addRow := func(kind ListKind, x string, fields []any) {
		if ix == nil {
			add(keys.Row(kind, x), fields)
			return
		}
		named := make([]any, 0, len(fields))
		indexedCo := int64(0)
		for i := 0; i < len(fields); i += 2 {
			f := fields[i].(string)
			n, _ := fields[i+1].(int64) // a co-count's, as counts makes them
			co := schema.IsCoCountField(f)
			if !co || n >= ix.support {
				named = append(named, f, "")
				if co {
					indexedCo++
				}
			}
		}
		if ix.counted && indexedCo > 0 {
			fields = append(fields, schema.FieldIndexedCoCounts, indexedCo)
		}
		add(keys.Row(kind, x), fields)
		add(keys.RowIndex(kind, x), named)
	}
	counts := func(m map[string]int64) []any {
		f := make([]any, 0, 2*len(m))
		for y, n := range m {
			f = append(f, y, n)
		}
		return f
	}
	addCounts := func(key string, m map[string]int64) { add(key, counts(m)) }
	for _, kind := range []ListKind{Bought, Viewed} {
		c := st.counters(kind)
		for x, co := range c.Co {
			addRow(kind, x, counts(co))
		}
		for x, h := range c.Hist {
			f := make([]any, 0, 2*len(h))
			for n, cnt := range h {
				f = append(f, schema.HistField(int(n)), cnt)
			}
			add(keys.Row(kind, x), f)
		}
		buyers, totals := keys.Counters(kind)
		var shards [schema.Shards]map[string]int64
		for x, n := range c.Buyers {
			s := schema.ItemShard(x)
			if shards[s] == nil {
				shards[s] = map[string]int64{}
			}
			shards[s][x] = n
		}
		for s, m := range shards {
			addCounts(buyers(s), m)
		}
		// The totals are sums over their shards: a whole state's go to
		// shard 0.
		if c.Totals != (scoring.Globals{}) {
			add(totals(0), []any{schema.FieldTotal, c.Totals.Total, schema.FieldCustomers, c.Totals.Customers})
		}
	}
	for x, r := range st.Rebuy {
		addRow(Bought, x, r.fields())
	}
	if st.Repeats != (Repeats{}) {
		fields := []any{schema.FieldPurchases, st.Repeats.Purchases, schema.FieldRepeats, st.Repeats.Repeats}
		for b, n := range st.Repeats.Gaps {
			if n != 0 {
				fields = append(fields, schema.GapField(b), n)
			}
		}
		add(keys.Totals(0), fields)
	}
	for x, m := range st.ViewedBought {
		addRow(ViewedBought, x, counts(m))
	}
	for x, n := range st.ViewedTotal {
		addRow(ViewedBought, x, []any{schema.FieldViewedTotal, n})
	}
	sets := map[string][]any{} // set key -> members
	for kind, days := range st.PopularBuckets {
		for day, counts := range days {
			addCounts(keys.Popularity(kind, day), counts)
			sets[keys.PopularityDays(kind)] = append(sets[keys.PopularityDays(kind)], day)
		}
	}
	if !st.PopularAnchor.IsZero() {
		add(keys.PopularityState, []any{schema.FieldAnchor, st.PopularAnchor.UnixMilli(), schema.FieldPopularityVersion, 1})
	}
	var cats [schema.Shards][]any
	for it, c := range st.ItemCategories {
		s := schema.ItemShard(it)
		cats[s] = append(cats[s], it, c)
	}
	for s, f := range cats {
		add(keys.ItemCategories(s), f)
	}
	for c, h := range st.Histories {
		f := []any{schema.CustomerPurchases, h.Encode()}
		if e := h.Ever.Encode(); e != "" {
			f = append(f, schema.CustomerEver, e)
		}
		add(keys.Customer(c), f)
	}
	for c, h := range st.ViewHistories {
		add(keys.Customer(c), []any{schema.CustomerViews, h.Encode()})
	}
	for start := 0; start < len(hashes); start += perPipeline {
		end := min(start+perPipeline, len(hashes))
		_, err := s.c.write(ctx, "write state", func(p redis.Pipeliner) {
			for i := start; i < end; i++ {
				p.HSet(ctx, hashes[i], values[i]...)
			}
		})
		if err != nil {
			return err
		}
	}
	_, err := s.c.write(ctx, "write state sets", func(p redis.Pipeliner) {
		for k, members := range sets {
			p.SAdd(ctx, k, members...)
		}
	})
	return err
}

// Delete deletes every key under the prefix and returns how many. It
// is for scratch states (eval -via-kafka, benchmarks), never the serving
// path: it walks the keyspace with SCAN.
func (s *State) Delete(ctx context.Context) (int64, error) {
	prefix := s.c.keys.Prefix
	var n int64
	err := s.c.scan(ctx, s.c.keys.All(), func(keys []string) error {
		// One UNLINK per key: in a cluster the keys live in many slots.
		cmds, err := s.c.read(ctx, "delete state "+prefix, func(p redis.Pipeliner) {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
		})
		for _, c := range cmds {
			n += c.(*redis.IntCmd).Val()
		}
		return err
	})
	return n, err
}

// SetProgress raises the applied offset of partitions (bootstrap sets the
// progress its state was built to).
func (s *State) SetProgress(ctx context.Context, offsets map[int]int64) error {
	for p, off := range offsets {
		_, err := s.c.write(ctx, "record progress", func(pipe redis.Pipeliner) {
			advanceScript.EvalSha(ctx, pipe, []string{s.c.keys.Progress}, schema.PartitionField(p), off)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
