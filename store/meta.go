package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
	"github.com/redis/go-redis/v9"
)

// ErrStateMismatch means the state under the prefix was built with other
// state-shaping settings.
var ErrStateMismatch = fmt.Errorf("state was built with other settings")

// EnsureMeta records which schema and settings build the state, or, when
// the state already has a record, checks that they are the same: counters
// built with another K_hist or from another topic cannot be continued, and
// lists built under other list rules would be mixed with new ones. A
// setting the record lacks (state written by an older version) is added.
func (s *Store) EnsureMeta(ctx context.Context, settings map[string]string) error {
	want := map[string]string{"schema": strconv.Itoa(SchemaVersion)}
	for k, v := range settings {
		want[k] = v
	}
	_, err := s.execWrites(ctx, "record state metadata", func(p redis.Pipeliner) {
		for k, v := range want {
			p.HSetNX(ctx, s.keys.Meta(), k, v)
		}
	})
	if err != nil {
		return err
	}
	got, err := s.rdb.HGetAll(ctx, s.keys.Meta()).Result()
	if err != nil {
		return fmt.Errorf("read state metadata: %w", err)
	}
	var diffs []string
	onlyLists := true
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: state has %q, configured %q", k, got[k], v))
			onlyLists = onlyLists && listSetting[k]
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	sort.Strings(diffs)
	what := "either configure the same settings, or start a new state under another prefix " +
		"(ALSOBOUGHT_REDIS_PREFIX) and replay or bootstrap it"
	if onlyLists {
		what = "either configure the same settings, or, to move this state to the new list settings, " +
			"stop `alsobought serve` and run `alsobought rescore -all -adopt-list-settings` with them"
	}
	return fmt.Errorf("%w under Redis key prefix %q (%s); %s", ErrStateMismatch, s.keys.Prefix, strings.Join(diffs, "; "), what)
}

// listSetting marks the settings that shape only the lists, which a full
// re-score can move to new values (AdoptListSettings).
var listSetting = map[string]bool{"list_size": true, "min_support": true, "scorer": true}

// AdoptListSettings records new list settings after every list was
// re-scored under them. Other settings are refused.
func (s *Store) AdoptListSettings(ctx context.Context, settings map[string]string) error {
	args := make([]any, 0, 2*len(settings))
	for k, v := range settings {
		if !listSetting[k] {
			return fmt.Errorf("%s is not a list setting: it shapes the counters and cannot be changed on a built state", k)
		}
		args = append(args, k, v)
	}
	if err := s.rdb.HSet(ctx, s.keys.Meta(), args...).Err(); err != nil {
		return fmt.Errorf("record list settings: %w", err)
	}
	return nil
}

// partitionCountsField lists, in the metadata, every partition count the
// topic has had since the state first saw it ("4" or "4,8").
const partitionCountsField = "partition_counts"

// RecordPartitionCount adds the topic's current partition count to the
// counts recorded in the metadata and returns them all, in the order seen.
// Events keyed before partitions were added sit where the older count put
// them, so the key check accepts any recorded count.
func (s *Store) RecordPartitionCount(ctx context.Context, n int) ([]int, error) {
	v, err := recordPartitionCountScript.Run(ctx, s.rdb, []string{s.keys.Meta()}, partitionCountsField, n).Text()
	if err != nil {
		return nil, fmt.Errorf("record partition count: %w", err)
	}
	var counts []int
	for _, f := range strings.Split(v, ",") {
		c, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("metadata %s=%q is not a list of counts", partitionCountsField, v)
		}
		counts = append(counts, c)
	}
	return counts, nil
}

// IsEmpty reports whether no counter, customer or list exists under the prefix.
func (s *Store) IsEmpty(ctx context.Context) (bool, error) {
	patterns := []string{s.keys.Customer("*")}
	for _, kind := range ListKinds() {
		patterns = append(patterns, s.keys.Row(kind, "*"), s.keys.List(kind, "*"))
	}
	errFound := errors.New("found")
	for _, pattern := range patterns {
		// Follow the cursor to the end: one SCAN page may match nothing even
		// when later pages do.
		err := s.scan(ctx, pattern, func([]string) error { return errFound })
		if errors.Is(err, errFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	n, err := s.rdb.Exists(ctx, s.keys.Buyers(), s.keys.Totals(), s.keys.Viewers(), s.keys.ViewTotals(), s.keys.Progress()).Result()
	if err != nil {
		return false, fmt.Errorf("check global keys: %w", err)
	}
	return n == 0, nil
}

// WriteState loads a whole state (counters and histories, as a Snapshot
// carries them) into an empty prefix; bootstrap uses it. It is not fenced:
// the caller checks IsEmpty first.
func (s *Store) WriteState(ctx context.Context, st *Snapshot) error {
	const perPipeline = 500
	var keys []string
	var values [][]any
	add := func(key string, fields []any) {
		if len(fields) > 0 {
			keys = append(keys, key)
			values = append(values, fields)
		}
	}
	addCounts := func(key string, m map[string]int64) {
		f := make([]any, 0, 2*len(m))
		for y, n := range m {
			f = append(f, y, n)
		}
		add(key, f)
	}
	for _, kind := range []ListKind{Bought, Viewed} {
		c := st.counters(kind)
		for x, co := range c.Co {
			addCounts(s.keys.Row(kind, x), co)
		}
		for x, h := range c.Hist {
			f := make([]any, 0, 2*len(h))
			for n, cnt := range h {
				f = append(f, delta.HistField(int(n)), cnt)
			}
			add(s.keys.Row(kind, x), f)
		}
		buyers, totals := s.keys.globals(kind)
		addCounts(buyers, c.Buyers)
		if c.Totals != (scoring.Globals{}) {
			add(totals, []any{delta.FieldTotal, c.Totals.Total, delta.FieldCustomers, c.Totals.Customers})
		}
	}
	if st.Repeats != (Repeats{}) {
		add(s.keys.Totals(), []any{delta.FieldPurchases, st.Repeats.Purchases, delta.FieldRepeats, st.Repeats.Repeats})
	}
	for x, m := range st.ViewedBought {
		addCounts(s.keys.Row(ViewedBought, x), m)
	}
	for x, n := range st.ViewedTotal {
		add(s.keys.Row(ViewedBought, x), []any{delta.FieldViewedTotal, n})
	}
	sets := map[string][]any{} // set key -> members
	for kind, days := range st.PopularBuckets {
		for day, counts := range days {
			addCounts(s.keys.Popularity(kind, day), counts)
			sets[s.keys.PopularityDays(kind)] = append(sets[s.keys.PopularityDays(kind)], day)
		}
	}
	if !st.PopularAnchor.IsZero() {
		add(s.keys.PopularityState(), []any{popAnchorField, st.PopularAnchor.UnixMilli(), popVersionField, 1})
	}
	cats := make([]any, 0, 2*len(st.ItemCategories))
	for it, c := range st.ItemCategories {
		cats = append(cats, it, c)
	}
	add(s.keys.ItemCategories(), cats)
	for c, items := range st.Histories {
		add(s.keys.Customer(c), []any{purchasesField, delta.History{Items: items}.Encode()})
	}
	for c, items := range st.ViewHistories {
		add(s.keys.Customer(c), []any{viewsField, delta.History{Items: items}.Encode()})
	}
	for start := 0; start < len(keys); start += perPipeline {
		end := min(start+perPipeline, len(keys))
		_, err := s.execWrites(ctx, "write state", func(p redis.Pipeliner) {
			for i := start; i < end; i++ {
				p.HSet(ctx, keys[i], values[i]...)
			}
		})
		if err != nil {
			return err
		}
	}
	_, err := s.execWrites(ctx, "write state sets", func(p redis.Pipeliner) {
		for k, members := range sets {
			p.SAdd(ctx, k, members...)
		}
	})
	return err
}

// DeleteState deletes every key under the prefix and returns how many. It
// is for scratch states (eval -via-kafka, benchmarks), never the serving
// path: it walks the keyspace with SCAN.
func (s *Store) DeleteState(ctx context.Context) (int64, error) {
	var n int64
	err := s.scan(ctx, s.keys.Prefix+":*", func(keys []string) error {
		// One UNLINK per key: in a cluster the keys live in many slots.
		cmds, err := s.execPipeline(ctx, "delete state "+s.keys.Prefix, func(p redis.Pipeliner) {
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
