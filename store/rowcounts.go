package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// ErrNoRowIndexes means the state keeps no row indexes (recorded before
// them, started with -row-indexes=false, with exact bins, or returned to
// whole rows by another min support): there is nothing to count.
var ErrNoRowIndexes = errors.New("the state keeps no row indexes")

// countRowsPerCall bounds one countIndexedScript call on a single Redis:
// a row's index can name hundreds of fields, and Redis runs a call whole
// while other clients wait.
const countRowsPerCall = 50

// CountIndexedCoCounts gives the rows of a state whose indexes do not count
// their co-counts (recorded before the rows counted them, issue 19's
// fifteenth pass) the counts (schema.FieldIndexedCoCounts), and then
// records schema.MetaRowIndexCounts: from then on every write keeps them,
// and a row that has no candidate before and after a write is not marked
// by its histogram (docs/DESIGN.md §4). Each row is counted from its index
// in one script call, so a row is never counted half-written; but a serve
// that started before the record does not count, and a row it writes after
// this one counted it keeps a wrong count: every serve must be stopped
// while this runs and started again after it (docs/operations.md, "Row
// indexes after an upgrade"). It returns the rows counted, 0 when the
// state counts already, and ErrNoRowIndexes when it keeps no indexes.
func (m *Meta) CountIndexedCoCounts(ctx context.Context) (int, error) {
	meta, err := m.c.rdb.HGetAll(ctx, m.c.keys.Meta).Result()
	if err != nil {
		return 0, fmt.Errorf("read state metadata: %w", err)
	}
	ix := rowIndexingOf(meta)
	switch {
	case ix == nil:
		return 0, ErrNoRowIndexes
	case ix.counted:
		return 0, nil
	}
	rows := 0
	for _, kind := range ListKinds() {
		err := scanItems(ctx, m.c, m.c.keys.Row(kind, "*"), func(items []string) error {
			n, err := m.countRows(ctx, kind, items)
			rows += n
			return err
		})
		if err != nil {
			return rows, fmt.Errorf("count the indexed co-counts of the %s rows: %w", kind, err)
		}
	}
	if _, err := m.c.write(ctx, "record the rows' counts", func(p redis.Pipeliner) {
		p.HSetNX(ctx, m.c.keys.Meta, schema.MetaRowIndexCounts, "1")
	}); err != nil {
		return rows, err
	}
	ix.counted = true
	m.c.rowIndex.Store(ix)
	return rows, nil
}

// countRows counts the rows of items of a kind: many to a call on a
// single Redis (or Sentinel's master), one to a call in a cluster, where
// each item's keys are in a slot of their own.
func (m *Meta) countRows(ctx context.Context, kind ListKind, items []string) (int, error) {
	per := countRowsPerCall
	if m.c.cluster != nil {
		per = 1
	}
	var calls []*redis.Cmd
	_, err := m.c.write(ctx, "count indexed co-counts", func(p redis.Pipeliner) {
		calls = calls[:0]
		for i := 0; i < len(items); i += per {
			var keys []string
			for _, it := range items[i:min(i+per, len(items))] {
				keys = append(keys, m.c.keys.Row(kind, it), m.c.keys.RowIndex(kind, it))
			}
			calls = append(calls, countIndexedScript.EvalSha(ctx, p, keys))
		}
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range calls {
		counted, err := c.Int()
		if err != nil {
			return n, err
		}
		n += counted
	}
	return n, nil
}
