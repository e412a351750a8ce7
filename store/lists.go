package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/scoring"
)

// ErrNotFound means the item has no list (no co-buyers above the rules yet).
var ErrNotFound = errors.New("not found")

// ListEncodingVersion is the "v" field of a stored list.
const ListEncodingVersion = 1

// List is a related-item list as stored under Keys.List: one JSON string per
// item, so a storefront reads it with one GET and gets the exact order (a
// sorted set could not express the tie rules).
type List struct {
	Version    int               `json:"v"`
	List       ListKind          `json:"list"`
	Item       string            `json:"item"`
	Method     scoring.Method    `json:"method"`
	ComputedAt time.Time         `json:"computed_at"`
	Items      []scoring.Related `json:"items"`
	// Revision of the row the list was computed from (RowBatch.Revisions):
	// the write fence of lists, kept in the row hash; in the JSON so that a
	// change-feed consumer can order two versions of a list.
	Revision int64 `json:"revision"`
}

// ReadList returns an item's stored list of a kind.
func (s *Store) ReadList(ctx context.Context, kind ListKind, item string) (List, error) {
	raw, err := s.rdb.Get(ctx, s.keys.List(kind, item)).Bytes()
	if errors.Is(err, redis.Nil) {
		return List{}, ErrNotFound
	}
	if err != nil {
		return List{}, fmt.Errorf("read list of %s: %w", item, err)
	}
	return decodeList(item, raw)
}

func decodeList(item string, raw []byte) (List, error) {
	var l List
	if err := json.Unmarshal(raw, &l); err != nil {
		return List{}, fmt.Errorf("decode list of %s: %w", item, err)
	}
	return l, nil
}

// WriteLists replaces the lists in one round trip; an empty list deletes
// the key, so only items with related items take memory. Each write is
// fenced by its row revision: a list computed from an older row (a slow or
// paused re-scorer racing a newer one) never replaces one computed from a
// newer row. With outbox, the lists are first marked pending in the
// change-feed outbox, and the Pending returned carries the changes written
// for the caller to publish (then Published); lists not written stay
// pending, so the feed ends at what another writer stored.
func (s *Store) WriteLists(ctx context.Context, lists []List, outbox bool) (Pending, error) {
	bufs := make([]string, len(lists))
	for i, l := range lists {
		if len(l.Items) == 0 {
			continue
		}
		l.Version = ListEncodingVersion
		b, err := json.Marshal(l)
		if err != nil {
			return Pending{}, fmt.Errorf("encode list of %s: %w", l.Item, err)
		}
		bufs[i] = string(b)
	}
	var pending Pending
	if outbox {
		members := make([]string, len(lists))
		for i, l := range lists {
			members[i] = listMember(l.List, l.Item)
		}
		var err error
		if pending.stamp, err = s.markPending(ctx, members); err != nil {
			return Pending{}, err
		}
	}
	cmds, err := s.execWrites(ctx, "write lists", func(p redis.Pipeliner) {
		for i, l := range lists {
			writeListScript.EvalSha(ctx, p, []string{s.keys.Row(l.List, l.Item), s.keys.List(l.List, l.Item)},
				listRevisionField, l.Revision, bufs[i])
		}
	})
	if err != nil {
		return Pending{}, err
	}
	for i, c := range cmds {
		n, _ := c.(*redis.Cmd).Int()
		if n == 0 {
			continue // refused: a newer list stands, and stays pending for its writer
		}
		pending.Written++
		if !outbox {
			continue
		}
		l := lists[i]
		pending.members = append(pending.members, listMember(l.List, l.Item))
		if n == 2 {
			continue // an empty list that did not exist: nothing changed
		}
		ch := ListChange{Key: string(l.List) + ":" + l.Item}
		if bufs[i] != "" {
			ch.Value = []byte(bufs[i])
		}
		pending.Changes = append(pending.Changes, ch)
	}
	return pending, nil
}

// Pending is what a list write left to publish.
type Pending struct {
	Written int          // lists written
	Changes []ListChange // to publish (with outbox only)
	members []string
	stamp   string
}

// Published clears the outbox of changes the broker acknowledged.
func (s *Store) Published(ctx context.Context, p Pending) error {
	stamps := make([]string, len(p.members))
	for i := range stamps {
		stamps[i] = p.stamp
	}
	return s.ClearPending(ctx, p.members, stamps)
}

// listRevisionField holds, in an item's row hash, the revision of the row
// its stored list was computed from. It starts with '#' like the partition
// watermarks, so row readers skip it.
const listRevisionField = "#list"

// rowRevision is a number that grows with every change applied to a row:
// the sum over partitions of (watermark + 1). Each watermark only grows and
// every applied change raises one, so a later read of a row never has a
// smaller revision, and the list fence needs no extra write on the hot path.
func rowRevision(fields map[string]string) int64 {
	var rev int64
	for f, v := range fields {
		if len(f) < 2 || f[0] != '#' || f[1] < '0' || f[1] > '9' {
			continue
		}
		if off, err := strconv.ParseInt(v, 10, 64); err == nil {
			rev += off + 1
		}
	}
	return rev
}

// Globals reads T and C of the purchase histories (Bought) or of the view
// histories (Viewed).
func (s *Store) Globals(ctx context.Context, kind ListKind) (scoring.Globals, error) {
	_, totals := s.keys.globals(kind)
	vals, err := s.rdb.HMGet(ctx, totals, "T", "C").Result()
	if err != nil {
		return scoring.Globals{}, fmt.Errorf("read totals: %w", err)
	}
	return scoring.Globals{Total: toInt(vals[0]), Customers: toInt(vals[1])}, nil
}

// Repeats returns the repeat-purchase counters (fields P and R of the
// purchase totals).
func (s *Store) Repeats(ctx context.Context) (Repeats, error) {
	vals, err := s.rdb.HMGet(ctx, s.keys.Totals(), delta.FieldPurchases, delta.FieldRepeats).Result()
	if err != nil {
		return Repeats{}, fmt.Errorf("read repeat purchases: %w", err)
	}
	return Repeats{Purchases: toInt(vals[0]), Repeats: toInt(vals[1])}, nil
}

func toInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Row is a stored counter row, split by field kind.
type Row struct {
	Co   map[string]int64  // field Y: N_XY (or co-viewers, or M_XY)
	Hist []scoring.HistBin // fields "h|n" (purchase and view rows)
	// ViewedTotal is M_X, field "t|" (viewed-then-bought rows).
	ViewedTotal int64
}

// ParseRow splits a stored row hash into its counters, ignoring the fence
// fields ("#...").
func ParseRow(fields map[string]string) (Row, error) {
	r := Row{Co: make(map[string]int64, len(fields))}
	for f, v := range fields {
		if strings.HasPrefix(f, "#") {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return Row{}, fmt.Errorf("field %q=%q is not an integer", f, v)
		}
		if f == delta.FieldViewedTotal {
			r.ViewedTotal = n
			continue
		}
		if rest, ok := strings.CutPrefix(f, "h|"); ok {
			others, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				return Row{}, fmt.Errorf("histogram field %q", f)
			}
			r.Hist = append(r.Hist, scoring.HistBin{Others: others, Customers: n})
			continue
		}
		r.Co[f] = n
	}
	return r, nil
}

// RowBatch is what ReadRows returns: the rows, each with its revision (the
// fence of the list computed from it) and, for viewed-then-bought rows,
// M_X; and the totals.
type RowBatch struct {
	Kind         ListKind
	Rows         []scoring.Row
	Revisions    []int64
	ViewedTotals []int64
	Globals      scoring.Globals
}

// ReadRows reads what scoring needs for each item's list of a kind in two
// round trips: the rows, then B of every item and its candidates (viewers
// for Viewed lists), with the totals.
func (s *Store) ReadRows(ctx context.Context, kind ListKind, items []string) (RowBatch, error) {
	cmds, err := s.execPipeline(ctx, "read rows", func(p redis.Pipeliner) {
		for _, it := range items {
			p.HGetAll(ctx, s.keys.Row(kind, it))
		}
	})
	if err != nil {
		return RowBatch{}, err
	}
	rows := make([]scoring.Row, len(items))
	revs := make([]int64, len(items))
	mx := make([]int64, len(items))
	cos := make([]map[string]int64, len(items))
	for i, it := range items {
		fields := cmds[i].(*redis.MapStringStringCmd).Val()
		r, err := ParseRow(fields)
		if err != nil {
			return RowBatch{}, fmt.Errorf("%s row of %s: %w", kind, it, err)
		}
		rows[i] = scoring.Row{Item: it, Hist: r.Hist}
		revs[i] = rowRevision(fields)
		mx[i] = r.ViewedTotal
		cos[i] = r.Co
	}
	buyersKey, totalsKey := s.keys.globals(kind)
	var totals *redis.SliceCmd
	buyers := make([]*redis.SliceCmd, len(items))
	names := make([][]string, len(items))
	_, err = s.execPipeline(ctx, "read buyers", func(p redis.Pipeliner) {
		totals = p.HMGet(ctx, totalsKey, "T", "C")
		for i, it := range items {
			ns := make([]string, 0, len(cos[i])+1)
			ns = append(ns, it)
			for y := range cos[i] {
				ns = append(ns, y)
			}
			names[i] = ns
			buyers[i] = p.HMGet(ctx, buyersKey, ns...)
		}
	})
	if err != nil {
		return RowBatch{}, err
	}
	g := scoring.Globals{Total: toInt(totals.Val()[0]), Customers: toInt(totals.Val()[1])}
	for i := range items {
		b := buyers[i].Val()
		rows[i].Buyers = toInt(b[0])
		rows[i].Candidates = make([]scoring.Candidate, 0, len(names[i])-1)
		for j, y := range names[i][1:] {
			rows[i].Candidates = append(rows[i].Candidates, scoring.Candidate{Item: y, Support: cos[i][y], Buyers: toInt(b[j+1])})
		}
	}
	return RowBatch{Kind: kind, Rows: rows, Revisions: revs, ViewedTotals: mx, Globals: g}, nil
}

// DirtyItem is an item whose list of a kind waits to be re-scored.
type DirtyItem struct {
	Kind    ListKind
	Item    string
	Version string    // mark version as read; the mark is cleared only if unchanged
	Since   time.Time // first mark since the last re-score
}

// ClaimDirty claims up to n dirty items first marked before markedBefore,
// oldest first, for owner, for the lease duration (claimDirtyScript):
// items another owner claimed less than lease ago are left to it.
func (s *Store) ClaimDirty(ctx context.Context, n int, markedBefore time.Time, owner string, lease time.Duration) ([]DirtyItem, error) {
	cmds, err := s.execWrites(ctx, "claim dirty items", func(p redis.Pipeliner) {
		claimDirtyScript.EvalSha(ctx, p, []string{s.keys.Dirty(), s.keys.DirtyVersions(), s.keys.DirtyClaims()},
			markedBefore.UnixMilli(), n, owner, lease.Milliseconds())
	})
	if err != nil {
		return nil, err
	}
	vals, err := cmds[0].(*redis.Cmd).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim dirty items: %w", err)
	}
	out := make([]DirtyItem, 0, len(vals)/3)
	for i := 0; i+2 < len(vals); i += 3 {
		code, item, _ := strings.Cut(vals[i], "|")
		kind, ok := listKindOfCode(code)
		if !ok {
			return nil, fmt.Errorf("dirty set member %q is not <list>|<item>", vals[i])
		}
		since, err := strconv.ParseInt(vals[i+1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dirty set member %q: mark time %q", vals[i], vals[i+1])
		}
		out = append(out, DirtyItem{Kind: kind, Item: item, Version: vals[i+2], Since: time.UnixMilli(since)})
	}
	return out, nil
}

// TryLease takes the named lease for owner for ttl unless another owner
// holds it, and reports whether owner holds it now. Leases are not
// released: they expire, so a task guarded by one runs at most once per
// ttl across every instance.
func (s *Store) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	// One round trip: SET NX GET (Redis 7) takes the lease when it is free
	// and returns the holder when it is not.
	holder, err := s.rdb.SetArgs(ctx, s.keys.Lease(name), owner, redis.SetArgs{Mode: "NX", TTL: ttl, Get: true}).Result()
	if errors.Is(err, redis.Nil) {
		return true, nil // it was free: taken
	}
	if err != nil {
		return false, fmt.Errorf("take lease %s: %w", name, err)
	}
	return holder == owner, nil
}

// ClearDirty removes the items whose mark has not moved since they were
// read at readAt, and makes readAt the first-mark time of those that were
// marked again meanwhile (clearDirtyScript).
func (s *Store) ClearDirty(ctx context.Context, items []DirtyItem, readAt time.Time) error {
	if len(items) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*len(items))
	args = append(args, readAt.UnixMilli())
	for _, d := range items {
		args = append(args, dirtyMember(d.Kind, d.Item), d.Version)
	}
	_, err := s.execWrites(ctx, "clear dirty marks", func(p redis.Pipeliner) {
		clearDirtyScript.EvalSha(ctx, p, []string{s.keys.Dirty(), s.keys.DirtyVersions(), s.keys.DirtyClaims()}, args...)
	})
	return err
}

// DirtyBacklog returns the number of dirty items and the first-mark time of
// the oldest (zero when none).
func (s *Store) DirtyBacklog(ctx context.Context) (int64, time.Time, error) {
	n, err := s.rdb.ZCard(ctx, s.keys.Dirty()).Result()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read dirty backlog: %w", err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	zs, err := s.rdb.ZRangeWithScores(ctx, s.keys.Dirty(), 0, 0).Result()
	if err != nil || len(zs) == 0 {
		return n, time.Time{}, err
	}
	return n, time.UnixMilli(int64(zs[0].Score)), nil
}

// ScanItems calls fn with batches of the items that have a row or a list
// of a kind (an item may come twice, once per key; callers de-duplicate).
func (s *Store) ScanItems(ctx context.Context, kind ListKind, fn func(items []string) error) error {
	if err := s.ScanItemsOf(ctx, s.keys.Row(kind, "*"), fn); err != nil {
		return err
	}
	return s.ScanItemsOf(ctx, s.keys.List(kind, "*"), fn)
}

// ScanItemsOf calls fn with batches of the item ids of the per-item keys
// matching pattern.
func (s *Store) ScanItemsOf(ctx context.Context, pattern string, fn func(items []string) error) error {
	return s.scan(ctx, pattern, func(keys []string) error {
		items := make([]string, len(keys))
		for i, k := range keys {
			items[i] = itemOf(k)
		}
		return fn(items)
	})
}
