package store

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// Row is a stored counter row, split by field kind.
type Row struct {
	Co   map[string]int64  // field Y: N_XY (or co-viewers, or M_XY)
	Hist []scoring.HistBin // fields schema.HistField(n) (purchase and view rows)
	// ViewedTotal is M_X, field schema.FieldViewedTotal (viewed-then-bought
	// rows).
	ViewedTotal int64
	// Rebuy holds the item's own purchase statistics (purchase rows):
	// fields schema.FieldItemPurchases and schema.GapField(b).
	Rebuy Rebuy
}

// Rebuy is an item's own purchase statistics, kept in its purchase row for
// the repeat model (docs/DESIGN.md section 12): the purchase events of the
// item applied, and the repeat purchases among them (of the item held in
// the buyer's purchase history) by the gap since the buyer's previous
// purchase of it, in the log-spaced day buckets of schema.GapBucket.
type Rebuy struct {
	Purchases int64
	Gaps      [schema.GapBuckets]int64
}

// Repeats returns the repeat purchases: the sum of the gap buckets.
func (r Rebuy) Repeats() int64 {
	var n int64
	for _, g := range r.Gaps {
		n += g
	}
	return n
}

// IsZero reports whether nothing was counted.
func (r Rebuy) IsZero() bool { return r == Rebuy{} }

// fields returns the statistics as row fields and values, the zero ones
// left out (bootstrap writes them so).
func (r Rebuy) fields() []any {
	var f []any
	if r.Purchases != 0 {
		f = append(f, schema.FieldItemPurchases, r.Purchases)
	}
	for b, n := range r.Gaps {
		if n != 0 {
			f = append(f, schema.GapField(b), n)
		}
	}
	return f
}

// rebuyFields are the purchase-row fields of Rebuy, in the order rebuyOf
// reads them: P_Y, then the gap buckets.
var rebuyFields = func() []string {
	f := []string{schema.FieldItemPurchases}
	for b := range schema.GapBuckets {
		f = append(f, schema.GapField(b))
	}
	return f
}()

// rebuyOf parses an HMGET of rebuyFields; absent fields count 0.
func rebuyOf(cmd *redis.SliceCmd) Rebuy {
	v := cmd.Val()
	if len(v) != len(rebuyFields) {
		return Rebuy{}
	}
	r := Rebuy{Purchases: toInt(v[0])}
	for b := range r.Gaps {
		r.Gaps[b] = toInt(v[1+b])
	}
	return r
}

// set records field f of the statistics; ok is false for a field that is
// none of them.
func (r *Rebuy) set(f string, n int64) (ok bool) {
	if f == schema.FieldItemPurchases {
		r.Purchases = n
		return true
	}
	if b, ok := schema.ParseGapField(f); ok {
		r.Gaps[b] = n
		return true
	}
	return false
}

// ParseRow splits a stored row hash into its counters, ignoring the fence
// fields (schema.IsFenceField).
func ParseRow(fields map[string]string) (Row, error) {
	co := make(map[string]int64, len(fields))
	r, _, err := parseRow(maps.All(fields), func(y string, n int64) { co[y] = n }, nil)
	r.Co = co
	return r, err
}

// parseRow splits a stored row hash's fields in one pass: it passes each
// co-count to co, and each fence field (the watch field too) to fence when
// it is not nil, and returns the other counters (Co left nil) with the
// row's revision (the sum of fenceRevision over its fields).
func parseRow(fields iter.Seq2[string, string], co func(y string, n int64), fence func(f, v string)) (r Row, revision int64, err error) {
	for f, v := range fields {
		if schema.IsFenceField(f) {
			revision += fenceRevision(f, v)
			if fence != nil {
				fence(f, v)
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Row{}, 0, fmt.Errorf("field %q=%q is not an integer", f, v)
		}
		if f == schema.FieldViewedTotal {
			r.ViewedTotal = n
			continue
		}
		if schema.IsRebuyField(f) {
			if !r.Rebuy.set(f, n) {
				return Row{}, 0, fmt.Errorf("purchase statistics field %q", f)
			}
			continue
		}
		if others, ok, err := schema.ParseHistField(f); ok {
			if err != nil {
				return Row{}, 0, fmt.Errorf("histogram field %q", f)
			}
			r.Hist = append(r.Hist, scoring.HistBin{Others: others, Customers: n})
			continue
		}
		co(f, n)
	}
	return r, revision, nil
}

// fenceRevision is field f's part of a row's revision, the number that
// grows with every change applied to the row: the sum over partitions of
// (watermark + 1) and of their sweep fences. Each fence only grows and
// every applied change raises one, so a later read of a row never has a
// smaller revision, and the list fence needs no extra write on the hot
// path. It is f's value + 1 for an event watermark or a sweep fence, 0 for
// any other field.
func fenceRevision(f, v string) int64 {
	_, event := schema.ParseWatermarkField(f)
	_, sweep := schema.ParseSweepField(f)
	if !event && !sweep {
		return 0
	}
	if off, err := strconv.ParseInt(v, 10, 64); err == nil {
		return off + 1
	}
	return 0
}

// RowBatch is what ReadRows returns: the rows, each with its revision (the
// fence of the list computed from it) and, for viewed-then-bought rows,
// M_X; and the totals.
type RowBatch struct {
	Kind         ListKind
	Rows         []scoring.Row
	Revisions    []int64
	ViewedTotals []int64
	// Watched are the items the stored list of each row watches
	// (List.Watch as last written).
	Watched [][]string
	Globals scoring.Globals
	counted []bool // see Counted
}

// ReadRows reads what scoring needs for each item's list of a kind in two
// round trips: the rows, with the totals, then B of every item and of its
// candidates (viewers for Viewed lists). Only the candidates with a count
// of at least minSupport are kept and have B read: no list rule lists the
// others (scoring.ListRules.MinSupport), and in a sparse row they are most
// of the candidates, so reading their B was most of a re-score's cost.
// minSupport below 1 keeps every candidate.
//
// Where the state keeps row indexes complete for minSupport
// (schema.MetaRowIndexSupport), each row is read by its index, in a round
// trip before: the fields it names, not the whole row (docs/DESIGN.md §4,
// "Reading a row by its index").
func (l *Lists) ReadRows(ctx context.Context, kind ListKind, items []string, minSupport int64) (RowBatch, error) {
	return l.ReadRowsShortlisted(ctx, kind, items, minSupport, nil)
}

// ReadRowsShortlisted is ReadRows that, with a shortlist, reads B of
// fewer candidates: on a popular row most candidates have a few co-buyers
// and cannot reach a list of stronger pairs, and reading their B was half
// of a re-score's read (docs/DESIGN.md §4, "Reading B only for the
// candidates that can be listed"). A row read by its index has its stored
// list's watched items read with the index's names; the rows' round trip
// reads their B and the row's own B, the shortlist's Floor tells from the
// list of those candidates the least support any other needs, and the B
// round trip reads only the candidates at or above it. The rest are left
// out of the row. Rows without such a hint have every candidate's B read,
// and so does a batch whose hinted rows leave fewer than shortlistAtLeast
// candidates to judge. A nil shortlist reads every candidate's B.
func (l *Lists) ReadRowsShortlisted(ctx context.Context, kind ListKind, items []string, minSupport int64, sl *Shortlist) (RowBatch, error) {
	keys := l.c.keys
	var named, watched [][]string // by each row's index, when the state keeps them; nil: read whole
	if ix := l.c.rowIndex.Load(); ix != nil && minSupport >= ix.support {
		var err error
		if named, watched, err = l.readIndexes(ctx, kind, items, ix.hist[kind], sl != nil); err != nil {
			return RowBatch{}, err
		}
	}
	hinted := shortlistHints(named, watched)
	var totals func() scoring.Globals
	var firstBuyers func() []string
	var firstNames []string // hinted rows' items and watched items, row after row
	cmds, err := l.c.read(ctx, "read rows", func(p redis.Pipeliner) {
		for i, it := range items {
			switch {
			case named == nil || named[i] == nil:
				p.HGetAll(ctx, keys.Row(kind, it))
			case len(named[i]) > 0:
				_ = p.Process(ctx, hmgetStrings(ctx, keys.Row(kind, it), named[i])) // queued: the error is the pipeline's
			}
		}
		// After the rows, which cmds answers first.
		totals = readGlobals(ctx, p, keys, kind)
		if hinted != nil {
			firstNames = firstNames[:0]
			for i, it := range items {
				if hinted[i] {
					firstNames = append(append(firstNames, it), watched[i]...)
				}
			}
			buyersKey, _ := keys.Counters(kind)
			firstBuyers = shardedGet(ctx, p, buyersKey, firstNames)
		}
	})
	if err != nil {
		return RowBatch{}, err
	}
	rb := RowBatch{Kind: kind, Rows: make([]scoring.Row, len(items)), Revisions: make([]int64, len(items)),
		ViewedTotals: make([]int64, len(items)), Watched: make([][]string, len(items)), counted: make([]bool, len(items))}
	for i, it := range items {
		// fields, and room for about as many candidates as the row holds:
		// most of what its index names, or half of a row read whole (its
		// index names more than half of it). Growing the slice instead
		// was 4% of serve's CPU over the incremental day.
		var fields iter.Seq2[string, string]
		var size int
		switch {
		case named == nil || named[i] == nil:
			whole := cmds[0].(*redis.MapStringStringCmd).Val()
			fields, cmds, size = maps.All(whole), cmds[1:], len(whole)/2
		case len(named[i]) > 0:
			fields, cmds, size = namedFields(named[i], cmds[0].(*redis.StringSliceCmd).Val()), cmds[1:], len(named[i])
		default: // nothing to read: a viewed-then-bought row without an index
			fields = maps.All(map[string]string(nil))
		}
		candidates := make([]scoring.Candidate, 0, size)
		cos := 0
		r, rev, err := parseRow(fields, func(y string, n int64) {
			cos++
			if n >= minSupport {
				candidates = append(candidates, scoring.Candidate{Item: y, Support: n})
			}
		}, func(f, v string) {
			if f == schema.FieldWatch && v != "" {
				rb.Watched[i] = strings.Split(v, ",")
			}
		})
		if err != nil {
			return RowBatch{}, fmt.Errorf("%s row of %s: %w", kind, it, err)
		}
		rb.Rows[i] = scoring.Row{Item: it, Hist: r.Hist, Candidates: candidates}
		rb.Revisions[i], rb.ViewedTotals[i] = rev, r.ViewedTotal
		rb.counted[i] = cos > 0 || len(r.Hist) > 0 || r.ViewedTotal != 0
	}
	rb.Globals = totals()
	if hinted == nil {
		return rb, l.readBuyers(ctx, &rb, func(int) bool { return true }, func(int, int) bool { return true })
	}
	return rb, l.readShortlisted(ctx, &rb, sl, hinted, watched, firstBuyers())
}

// readBuyers reads, in one round trip, B of the items of the rows item
// takes and of the candidates pick takes: one HMGET per shard for the
// whole batch, so a candidate of several rows is read once.
func (l *Lists) readBuyers(ctx context.Context, rb *RowBatch, item func(row int) bool, pick func(row, candidate int) bool) error {
	// names holds the items and candidates taken, row after row: the B
	// read answers them in this order.
	var names []string
	for i, row := range rb.Rows {
		if item(i) {
			names = append(names, row.Item)
		}
		for j, c := range row.Candidates {
			if pick(i, j) {
				names = append(names, c.Item)
			}
		}
	}
	buyersKey, _ := l.c.keys.Counters(rb.Kind)
	var buyers func() []string
	if _, err := l.c.read(ctx, "read buyers", func(p redis.Pipeliner) { buyers = shardedGet(ctx, p, buyersKey, names) }); err != nil {
		return err
	}
	b, at := buyers(), 0
	for i := range rb.Rows {
		row := &rb.Rows[i]
		if item(i) {
			row.Buyers = parseCount(b[at])
			at++
		}
		for j := range row.Candidates {
			if pick(i, j) {
				row.Candidates[j].Buyers = parseCount(b[at])
				at++
			}
		}
	}
	return nil
}

// parseCount is a counter as read as a string (hmgetStrings,
// shardedGet): "" (an absent field: none yet) is 0.
func parseCount(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// readIndexes reads the names in each item's row index, to which it adds
// hist, the histogram fields a row of the kind can have. Their values are
// read in the next round trip: a script doing both at once cost Redis
// more than the whole row for any but the longest rows (the values pass
// through Lua). A write between the two round trips costs nothing: a name
// it adds is missing from this read, but the write marks the list, after
// the counters, and the mark keeps it dirty for its next re-score (the
// same as a write landing between the rows and the B read below).
//
// A row whose index names more than half its fields is left nil, to be
// read whole: by its names its fields would cross the network once more
// (HMGET's arguments) than HGETALL's, and on the Dunnhumby sample's state,
// where most co-counts reach the support, reading every row by its index
// cost half as much again as reading it whole (BenchmarkReadRows). The
// row's length comes in the same round trip as the names: deciding in one
// before cost freshness (docs/BENCHMARKS.md, "Sixth pass"). A row read
// whole is remembered for a while (rowShapes), and read whole at once; a
// row read by its index is remembered too, and its length not asked again.
func (l *Lists) readIndexes(ctx context.Context, kind ListKind, items []string, hist []string, watch bool) (named, watched [][]string, err error) {
	named = make([][]string, len(items))
	if watch {
		watched = make([][]string, len(items))
	}
	// The rows read whole last time go whole again, without their index's
	// names and length, and those read by their index go by it again,
	// without their length (rowShapes).
	// A row's watch field is asked only where it can pay (hintAtLeast).
	var ask []int
	var askLen, askWatch []bool
	now := time.Now()
	for i, it := range items {
		known := l.shapes.of(l.c.keys.Row(kind, it), now)
		if l.byIndexOnly || known.shape != denseRow {
			ask = append(ask, i)
			askLen = append(askLen, !l.byIndexOnly && known.shape == unknownRow)
			askWatch = append(askWatch, watch && (known.shape == unknownRow || known.names >= hintAtLeast))
		}
	}
	if len(ask) == 0 {
		return named, watched, nil
	}
	var names []*redis.StringSliceCmd
	lengths := make([]*redis.IntCmd, len(ask))
	watches := make([]*redis.StringCmd, len(ask))
	_, err = l.c.read(ctx, "read row indexes", func(p redis.Pipeliner) {
		names = names[:0]
		for j, i := range ask {
			names = append(names, p.HKeys(ctx, l.c.keys.RowIndex(kind, items[i])))
			if askLen[j] {
				lengths[j] = p.HLen(ctx, l.c.keys.Row(kind, items[i]))
			}
			if askWatch[j] {
				watches[j] = p.HGet(ctx, l.c.keys.Row(kind, items[i]), schema.FieldWatch)
			}
		}
	})
	if err != nil { // read takes a row without a watch field (redis.Nil) as read
		return nil, nil, err
	}
	for j, i := range ask {
		if w := watches[j]; w != nil && w.Val() != "" {
			watched[i] = strings.Split(w.Val(), ",")
		}
		index := names[j].Val()
		n := int64(len(index) + len(hist))
		if lengths[j] != nil {
			row := l.c.keys.Row(kind, items[i])
			switch fields := lengths[j].Val(); {
			case 2*n <= fields:
				l.shapes.add(row, knownShape{shape: sparseRow, names: n}, now)
			case fields > 0:
				l.shapes.add(row, knownShape{shape: denseRow}, now)
				continue
			default:
				continue // no row: read whole, which costs nothing
			}
		}
		named[i] = append(append(make([]string, 0, n), index...), hist...)
	}
	return named, watched, nil
}

// rowShapes remembers, for a while, how readIndexes found each row: read
// whole (dense: its index names most of its fields) or by its index
// (sparse). A dense row's next re-scores read it whole at once: on a state
// where most co-counts reach the support (the Dunnhumby sample's) that is
// most rows, and each cost an HKEYS of its index (up to hundreds of names)
// and an HLEN before its HGETALL, a round trip of their own
// (docs/BENCHMARKS.md, "Ninth pass"). A sparse row's next re-scores read
// its index without the row's length (an HLEN per row and re-score). A
// row's shape is known for rowShapesFor, then asked again: a row can fill
// up or thin out (histories age, items are forgotten), and reading it the
// other way is correct, only dearer. At most rowShapesKept rows are kept;
// past that the memory starts afresh. A sparse row's names are
// remembered with it: a row whose index names few cannot leave enough
// candidates unread for a shortlist (shortlistAtLeast) to pay for asking
// its stored list's watched items at every re-score (hintAtLeast).
type rowShapes struct {
	mu    sync.Mutex
	known map[string]knownShape
}

type rowShape uint8

const (
	unknownRow rowShape = iota
	denseRow
	sparseRow
)

type knownShape struct {
	shape rowShape
	names int64 // a sparse row's: its index's names and histogram fields
	until time.Time
}

const (
	rowShapesFor  = time.Minute
	rowShapesKept = 1 << 15
)

// hintAtLeast is the fewest names a sparse row's index must have had for a
// re-score to ask its watch field (the shortlist's hint, an HGET per row):
// a row of fewer leaves few candidates unread. On the Dunnhumby sample's
// paced events the HGET of every row read by its index was about 2
// commands per event, and no batch was judged.
const hintAtLeast = 64

func (r *rowShapes) of(row string, now time.Time) knownShape {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.known[row]
	if !ok || !now.Before(k.until) {
		return knownShape{}
	}
	return k
}

func (r *rowShapes) add(row string, k knownShape, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known == nil || len(r.known) >= rowShapesKept {
		r.known = make(map[string]knownShape)
	}
	k.until = now.Add(rowShapesFor)
	r.known[row] = k
}

// hmgetStrings is HMGET of fields, its values read as strings, "" for a
// field the hash lacks: go-redis's HMGet boxes each value in an interface,
// an allocation per field of every row a re-score reads.
func hmgetStrings(ctx context.Context, key string, fields []string) *redis.StringSliceCmd {
	args := make([]any, 0, 2+len(fields))
	args = append(args, "hmget", key)
	for _, f := range fields {
		args = append(args, f)
	}
	return redis.NewStringSliceCmd(ctx, args...)
}

// namedFields pairs a row's named fields with the values HMGET read
// (hmgetStrings), leaving out the fields the row no longer holds: no row
// field holds "" (an empty watch list is deleted, writeListScript).
func namedFields(names []string, values []string) iter.Seq2[string, string] {
	return func(yield func(f, v string) bool) {
		for j, v := range values {
			if v != "" && !yield(names[j], v) {
				return
			}
		}
	}
}

// Globals reads T and C of the purchase histories (Bought) or of the view
// histories (Viewed).
func (l *Lists) Globals(ctx context.Context, kind ListKind) (scoring.Globals, error) {
	var totals func() scoring.Globals
	if _, err := l.c.read(ctx, "read totals", func(p redis.Pipeliner) { totals = readGlobals(ctx, p, l.c.keys, kind) }); err != nil {
		return scoring.Globals{}, err
	}
	return totals(), nil
}

// Repeats returns the repeat-purchase counters (P and R of the purchase
// totals).
func (l *Lists) Repeats(ctx context.Context) (Repeats, error) {
	var totals func() Repeats
	if _, err := l.c.read(ctx, "read repeat purchases", func(p redis.Pipeliner) { totals = readRepeats(ctx, p, l.c.keys) }); err != nil {
		return Repeats{}, err
	}
	return totals(), nil
}

// readGlobals queues the read of a kind's T and C (sums over the shards of
// the totals), and returns the function that gives them once the pipeline
// ran.
func readGlobals(ctx context.Context, p redis.Pipeliner, keys schema.Keys, kind ListKind) func() scoring.Globals {
	_, totals := keys.Counters(kind)
	sum := shardedSum(ctx, p, totals, schema.FieldTotal, schema.FieldCustomers)
	return func() scoring.Globals {
		v := sum()
		return scoring.Globals{Total: v[0], Customers: v[1]}
	}
}

// readRepeats queues the read of P and R and the gap buckets (sums over
// the shards of the totals), and returns the function that gives them
// once the pipeline ran.
func readRepeats(ctx context.Context, p redis.Pipeliner, keys schema.Keys) func() Repeats {
	// P and R, then the gap buckets: the same fields as an item's, after its P_Y.
	sum := shardedSum(ctx, p, keys.Totals, append([]string{schema.FieldPurchases, schema.FieldRepeats}, rebuyFields[1:]...)...)
	return func() Repeats {
		v := sum()
		r := Repeats{Purchases: v[0], Repeats: v[1]}
		for b := range r.Gaps {
			r.Gaps[b] = v[2+b]
		}
		return r
	}
}

func toInt(v any) int64 {
	s, _ := v.(string)
	return parseCount(s)
}
