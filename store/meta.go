package store

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/alsobought/alsobought/delta"
	"github.com/redis/go-redis/v9"
)

// ErrStateMismatch means the state under the prefix was built with other
// state-shaping settings.
var ErrStateMismatch = fmt.Errorf("state was built with other settings")

// EnsureMeta records which schema and settings build the state, or, when
// the state already has a record, checks that they are the same: counters
// built with another K_hist or from another topic cannot be continued.
func (s *Store) EnsureMeta(ctx context.Context, settings map[string]string) error {
	want := map[string]string{"schema": strconv.Itoa(SchemaVersion)}
	for k, v := range settings {
		want[k] = v
	}
	got, err := s.rdb.HGetAll(ctx, s.keys.Meta()).Result()
	if err != nil {
		return fmt.Errorf("read state metadata: %w", err)
	}
	if len(got) == 0 {
		_, err := s.execPipeline(ctx, "record state metadata", func(p redis.Pipeliner) {
			for k, v := range want {
				p.HSetNX(ctx, s.keys.Meta(), k, v)
			}
		})
		if err != nil {
			return err
		}
		if got, err = s.rdb.HGetAll(ctx, s.keys.Meta()).Result(); err != nil {
			return fmt.Errorf("read state metadata: %w", err)
		}
	}
	var diffs []string
	for k, v := range want {
		if got[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: state has %q, configured %q", k, got[k], v))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return fmt.Errorf("%w under Redis key prefix %q (%s); either configure the same settings, "+
			"or start a new state under another prefix (ALSOBOUGHT_REDIS_PREFIX) and replay or bootstrap it",
			ErrStateMismatch, s.keys.Prefix, strings.Join(diffs, "; "))
	}
	return nil
}

// IsEmpty reports whether no counter, customer or list exists under the prefix.
func (s *Store) IsEmpty(ctx context.Context) (bool, error) {
	for _, pattern := range []string{s.keys.Row("*"), s.keys.Customer("*"), s.keys.List("*")} {
		// Follow the cursor to the end: one SCAN page may match nothing even
		// when later pages do.
		iter := s.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		if iter.Next(ctx) {
			return false, nil
		}
		if err := iter.Err(); err != nil {
			return false, fmt.Errorf("scan %s: %w", pattern, err)
		}
	}
	n, err := s.rdb.Exists(ctx, s.keys.Buyers(), s.keys.Totals(), s.keys.Progress()).Result()
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
	for x, co := range st.Co {
		f := make([]any, 0, 2*len(co)+2*len(st.Hist[x]))
		for y, n := range co {
			f = append(f, y, n)
		}
		add(s.keys.Row(x), f)
	}
	for x, h := range st.Hist {
		f := make([]any, 0, 2*len(h))
		for n, c := range h {
			f = append(f, "h|"+strconv.FormatInt(n, 10), c)
		}
		add(s.keys.Row(x), f)
	}
	for c, items := range st.Histories {
		add(s.keys.Customer(c), []any{purchasesField, delta.History{Items: items}.Encode()})
	}
	b := make([]any, 0, 2*len(st.Buyers))
	for x, n := range st.Buyers {
		b = append(b, x, n)
	}
	add(s.keys.Buyers(), b)
	add(s.keys.Totals(), []any{"T", st.Totals.Total, "C", st.Totals.Customers})
	for start := 0; start < len(keys); start += perPipeline {
		end := min(start+perPipeline, len(keys))
		_, err := s.execPipeline(ctx, "write state", func(p redis.Pipeliner) {
			for i := start; i < end; i++ {
				p.HSet(ctx, keys[i], values[i]...)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}
