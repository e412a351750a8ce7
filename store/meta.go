package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// Meta is the record of which schema and settings built the state
// (schema.Keys.Meta), so that a state is never continued under settings
// that would mix two meanings.
type Meta struct{ c *conn }

// ErrStateMismatch means the state under the prefix was built with other
// state-shaping settings.
var ErrStateMismatch = errors.New("state was built with other settings")

// ErrOtherSchema means the state under the prefix was written in another
// schema version (docs/redis-keys.md, "Compatibility"): its stored values
// cannot be read as this version's, so nothing may continue it. It wraps
// ErrStateMismatch.
var ErrOtherSchema = fmt.Errorf("%w: another schema version", ErrStateMismatch)

// Ensure records which schema and settings build the state, or, when the
// state already has a record, checks that they are the same: counters
// built with another K_hist or from another topic cannot be continued, and
// lists built under other list rules would be mixed with new ones. A
// setting the record lacks (state written by an older version) is added:
// with its configured value, or, for a setting whose earlier meaning
// differs from its default (schema.MetaBefore), with that meaning, so
// that the check then refuses another configured value.
// The settings are named by the schema.Meta* fields. A new state keeps
// no row indexes (EnsureWithRowIndexes).
func (m *Meta) Ensure(ctx context.Context, settings map[string]string) error {
	return m.EnsureWithRowIndexes(ctx, settings, 0)
}

// EnsureWithRowIndexes is Ensure for a writer that gives a new state row
// indexes (Keys.RowIndex) complete for rowIndexSupport, when that is above
// 0. It is no setting the record is checked against: a state keeps what
// it started with, and its re-scores and writes follow the record.
func (m *Meta) EnsureWithRowIndexes(ctx context.Context, settings map[string]string, rowIndexSupport int64) error {
	key := m.c.keys.Meta
	want := map[string]string{schema.MetaSchema: strconv.Itoa(schema.Version)}
	for k, v := range settings {
		want[k] = v
	}
	// A state of another schema is refused before anything is recorded in
	// it, so that its own version finds its record as it left it.
	recorded := true
	switch v, err := m.c.rdb.HGet(ctx, key, schema.MetaSchema).Result(); {
	case errors.Is(err, redis.Nil):
		recorded = false
	case err != nil:
		return fmt.Errorf("read state metadata: %w", err)
	case v != want[schema.MetaSchema]:
		return m.otherSchema(v)
	}
	_, err := m.c.write(ctx, "record state metadata", func(p redis.Pipeliner) {
		for k, v := range want {
			// A recorded state that lacks a newer setting was built with
			// the setting's earlier meaning, not the configured one.
			if before, ok := schema.MetaBefore[k]; ok && recorded {
				v = before
			}
			p.HSetNX(ctx, key, k, v)
		}
		// Only a state that keeps row indexes from its first write has
		// them complete, and their counts in the rows; one recorded
		// before has none.
		if rowIndexSupport > 0 && !recorded {
			p.HSetNX(ctx, key, schema.MetaRowIndexSupport, rowIndexSupport)
			p.HSetNX(ctx, key, schema.MetaRowIndexCounts, "1")
		}
	})
	if err != nil {
		return err
	}
	got, err := m.c.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("read state metadata: %w", err)
	}
	if v := got[schema.MetaSchema]; v != want[schema.MetaSchema] {
		return m.otherSchema(v)
	}
	m.c.rowIndex.Store(rowIndexingOf(got))
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
	return fmt.Errorf("%w under Redis key prefix %q (%s); %s", ErrStateMismatch, m.c.keys.Prefix, strings.Join(diffs, "; "), what)
}

// otherSchema is the refusal of a state of schema version v, naming the
// upgrade path of docs/operations.md ("Upgrading the state's schema").
func (m *Meta) otherSchema(v string) error {
	prefix := m.c.keys.Prefix
	if n, err := strconv.Atoi(v); err == nil && n > schema.Version {
		return fmt.Errorf("%w: the state under Redis key prefix %q has schema version %s, newer than this alsobought's %d: run the alsobought that wrote it",
			ErrOtherSchema, prefix, v, schema.Version)
	}
	return fmt.Errorf("%w: the state under Redis key prefix %q has schema version %s and this alsobought reads and writes version %d "+
		"(the customer state changed: entry times in version 3, the ever-bought set in version 4, docs/redis-keys.md), so it cannot continue it. Build a state of version %d under a new prefix: "+
		"`alsobought bootstrap -prefix NEW -data FILE` from an export of the events, or `alsobought serve -prefix NEW`, which starts "+
		"at each partition's first offset, while the topic still holds every event; then move readers to NEW and delete the keys %s:* "+
		"(docs/operations.md, \"Upgrading the state's schema\")",
		ErrOtherSchema, prefix, v, schema.Version, schema.Version, prefix)
}

// listSetting marks the settings that shape only the lists, which a full
// re-score can move to new values (AdoptListSettings).
var listSetting = map[string]bool{schema.MetaListSize: true, schema.MetaMinSupport: true, schema.MetaScorer: true}

// AdoptListSettings records new list settings after every list was
// re-scored under them. Other settings are refused.
func (m *Meta) AdoptListSettings(ctx context.Context, settings map[string]string) error {
	args := make([]any, 0, 2*len(settings))
	for k, v := range settings {
		if !listSetting[k] {
			return fmt.Errorf("%s is not a list setting: it shapes the counters and cannot be changed on a built state", k)
		}
		args = append(args, k, v)
	}
	// The row indexes hold the candidates that reached the support they
	// were kept under: under another min support they may lack some, and
	// re-scores read whole rows from then on.
	if support, ok := settings[schema.MetaMinSupport]; ok {
		indexed, err := m.c.rdb.HGet(ctx, m.c.keys.Meta, schema.MetaRowIndexSupport).Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return fmt.Errorf("read state metadata: %w", err)
		case indexed != support:
			if err := m.c.rdb.HDel(ctx, m.c.keys.Meta, schema.MetaRowIndexSupport, schema.MetaRowIndexCounts).Err(); err != nil {
				return fmt.Errorf("stop using the row indexes: %w", err)
			}
			m.c.rowIndex.Store(nil)
		}
	}
	if err := m.c.rdb.HSet(ctx, m.c.keys.Meta, args...).Err(); err != nil {
		return fmt.Errorf("record list settings: %w", err)
	}
	return nil
}

// rowIndexing is how a re-score reads a state's row indexes
// (Keys.RowIndex): the min support they are complete for, and per list
// kind the histogram fields its rows can have. The indexes leave those
// out, because bins empty and fill all the time and naming each again
// cost Redis a command per row and batch; the reader names them itself,
// from the recorded binning and history sizes: a few dozen with log bins.
type rowIndexing struct {
	support int64
	hist    map[ListKind][]string
	// counted: the rows count their indexed co-counts
	// (schema.FieldIndexedCoCounts), so a write can tell a row that has
	// no candidate at the support.
	counted bool
}

// rowIndexingOf reads a state's metadata: nil, for whole rows, unless the
// state records its indexes' support and log histogram bins (exact bins
// would have the reader name a field per history position).
func rowIndexingOf(meta map[string]string) *rowIndexing {
	support, err := strconv.ParseInt(meta[schema.MetaRowIndexSupport], 10, 64)
	if err != nil || support < 1 || scoring.Bins(meta[schema.MetaHistogramBins]) != scoring.LogBins {
		return nil
	}
	ix := &rowIndexing{support: support, hist: map[ListKind][]string{}, counted: meta[schema.MetaRowIndexCounts] == "1"}
	for kind, field := range map[ListKind]string{Bought: schema.MetaHistorySize, Viewed: schema.MetaViewHistorySize} {
		k, err := strconv.Atoi(meta[field])
		if err != nil || k < 0 {
			return nil
		}
		names := make([]string, 0, k)
		for n := range int64(k) {
			names = append(names, schema.HistField(int(scoring.LogBins.Of(n))))
		}
		ix.hist[kind] = slices.Compact(names) // a bin's counts are adjacent
	}
	return ix
}
