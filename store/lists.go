package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// ErrNotFound means the item has no list (no co-buyers above the rules yet).
var ErrNotFound = errors.New("not found")

// ListEncodingVersion is the "v" field of a stored list.
const ListEncodingVersion = schema.ListEncodingVersion

// Lists reads and writes the related-item lists, and reads the counter
// rows they are computed from (rows.go).
type Lists struct {
	c       *conn
	outbox  *Outbox
	popular popularCache
	// byIndexOnly: read every row by its index where the state keeps
	// them, never whole (readIndexes); set by tests alone.
	byIndexOnly bool
	shapes      rowShapes // how readIndexes last read each row
}

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
	// Watch are the items whose availability can change the list without
	// a change of its row (docs/DESIGN.md §11): its entries and the hidden
	// candidates passed over for them. Write records the list in each one's
	// Keys.Holders. Watched is what the list stored before watched
	// (RowBatch.Watched), so that only new items cost a write.
	Watch, Watched []string `json:"-"`
}

// Read returns an item's stored list of a kind.
func (l *Lists) Read(ctx context.Context, kind ListKind, item string) (List, error) {
	raw, err := l.c.rdb.Get(ctx, l.c.keys.List(kind, item)).Bytes()
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

// ListRef names a stored list.
type ListRef struct {
	Kind ListKind
	Item string
}

// PopularRef names a stored popularity list.
type PopularRef struct {
	Kind     ListKind
	Category string
}

// Gathered is what ReadMany returns.
type Gathered struct {
	// Related holds the items of each list asked for, in the order asked;
	// a missing list is empty.
	Related [][]scoring.Related
	// Popular is the popularity list asked for (nil when not asked or not
	// stored). It is shared between calls: callers must not modify it.
	Popular *PopularList
	// Repeats are the repeat-purchase counters (read with Popular).
	Repeats Repeats
	// Rebuy holds the purchase statistics of each item asked for, in the
	// order asked; an item without any has the zero Rebuy.
	Rebuy []Rebuy
}

// ReadMany returns, in one round trip, the stored lists of the given items;
// when popular is not nil, the popularity list it names and the
// repeat-purchase counters; and the purchase statistics of the rebuy
// items (the customer's owned items, for the repeat model of
// docs/DESIGN.md section 12: one HMGET of each one's purchase row):
// everything a personal recommendation reads besides the customer.
func (l *Lists) ReadMany(ctx context.Context, want []ListRef, popular *PopularRef, rebuy []string) (Gathered, error) {
	keys := l.c.keys
	var pop *redis.StringCmd
	var popKey string
	var totals func() Repeats
	stats := make([]*redis.SliceCmd, len(rebuy))
	cmds, err := l.c.read(ctx, "read lists", func(p redis.Pipeliner) {
		for _, w := range want {
			p.Get(ctx, keys.List(w.Kind, w.Item))
		}
		if popular != nil {
			popKey = keys.Popular(popular.Kind, popular.Category)
			pop = p.Get(ctx, popKey)
			totals = readRepeats(ctx, p, keys)
		}
		for i, it := range rebuy {
			stats[i] = p.HMGet(ctx, keys.Row(Bought, it), rebuyFields...)
		}
	})
	if err != nil {
		return Gathered{}, err
	}
	out := Gathered{Related: make([][]scoring.Related, len(want))}
	for i, w := range want {
		raw, err := cmds[i].(*redis.StringCmd).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		list, err := decodeList(w.Item, raw)
		if err != nil {
			return Gathered{}, err
		}
		out.Related[i] = list.Items
	}
	if pop != nil {
		if raw, err := pop.Bytes(); err == nil {
			if out.Popular, err = l.popular.decode(popKey, raw); err != nil {
				return Gathered{}, err
			}
		}
	}
	if totals != nil {
		out.Repeats = totals()
	}
	if len(rebuy) > 0 {
		out.Rebuy = make([]Rebuy, len(rebuy))
		for i, c := range stats {
			out.Rebuy[i] = rebuyOf(c)
		}
	}
	return out, nil
}

// Write replaces the lists in one round trip; an empty list deletes the
// key, so only items with related items take memory. Each write is fenced
// by its row revision: a list computed from an older row (a slow or paused
// re-scorer racing a newer one) never replaces one computed from a newer
// row. With outbox, the lists are first marked pending in the change-feed
// outbox, and the Pending returned carries the changes written for the
// caller to publish (then Outbox.Published); lists not written stay
// pending, so the feed ends at what another writer stored.
func (l *Lists) Write(ctx context.Context, lists []List, outbox bool) (Pending, error) {
	bufs := make([]string, len(lists))
	for i, list := range lists {
		if len(list.Items) == 0 {
			continue
		}
		list.Version = ListEncodingVersion
		b, err := json.Marshal(list)
		if err != nil {
			return Pending{}, fmt.Errorf("encode list of %s: %w", list.Item, err)
		}
		bufs[i] = string(b)
	}
	var pending Pending
	if outbox {
		members := make([]string, len(lists))
		for i, list := range lists {
			members[i] = schema.ListMember(list.List, list.Item)
		}
		var err error
		if pending.stamp, err = l.outbox.mark(ctx, members); err != nil {
			return Pending{}, err
		}
	}
	if err := l.recordHolders(ctx, lists); err != nil {
		return Pending{}, err
	}
	var calls []listsCall
	_, err := l.c.write(ctx, "write lists", func(p redis.Pipeliner) {
		calls = l.queueWrites(ctx, p, lists, bufs)
	})
	if err != nil {
		return Pending{}, err
	}
	for _, call := range calls {
		replies, err := call.cmd.Int64Slice()
		if err != nil {
			return Pending{}, fmt.Errorf("write lists: %w", err)
		}
		for j, n := range replies {
			if n == 0 {
				continue // refused: a newer list stands, and stays pending for its writer
			}
			pending.Written++
			if !outbox {
				continue
			}
			i := call.first + j
			list := lists[i]
			pending.members = append(pending.members, schema.ListMember(list.List, list.Item))
			if n == 2 {
				continue // an empty list that did not exist: nothing changed
			}
			ch := ListChange{Key: RelatedFeedKey(list.List, list.Item)}
			if bufs[i] != "" {
				ch.Value = []byte(bufs[i])
			}
			pending.Changes = append(pending.Changes, ch)
		}
	}
	return pending, nil
}

// listsCall is a writeListsScript call: the lists from first on, one
// reply each.
type listsCall struct {
	cmd   *redis.Cmd
	first int
}

// writeListsPerCall and writeListsBytes bound one writeListsScript call,
// as manyCustomersPerCall and manyCustomersBytes bound the customers', so
// that the storefront's reads do not wait long behind it: a list is up
// to a kilobyte or two of JSON, so a call takes 10 to 25 lists, up to
// about 200 µs of Redis (BenchmarkWriteLists: 8 µs a list).
const (
	writeListsPerCall = 25
	writeListsBytes   = 16 << 10
)

// queueWrites queues the writeListsScript calls of lists (encoded in
// bufs, "" to delete): several lists per call on a single Redis (or
// Sentinel's master), one in a cluster, whose items are in slots of their
// own.
func (l *Lists) queueWrites(ctx context.Context, p redis.Pipeliner, lists []List, bufs []string) []listsCall {
	keys := l.c.keys
	perCall := writeListsPerCall
	if l.c.cluster != nil {
		perCall = 1
	}
	var calls []listsCall
	for first := 0; first < len(lists); {
		var scriptKeys []string
		args := []any{schema.FieldListRevision, schema.FieldWatch}
		size, i := 0, first
		for ; i < len(lists) && i-first < perCall && size < writeListsBytes; i++ {
			list := lists[i]
			watch := strings.Join(list.Watch, ",")
			scriptKeys = append(scriptKeys, keys.Row(list.List, list.Item), keys.List(list.List, list.Item), keys.RowIndex(list.List, list.Item))
			args = append(args, list.Revision, bufs[i], watch)
			size += len(bufs[i]) + len(watch)
		}
		calls = append(calls, listsCall{cmd: writeListsScript.EvalSha(ctx, p, scriptKeys, args...), first: first})
		first = i
	}
	return calls
}

// recordHolders adds each list to the holders of the items it watches and
// did not watch before, ahead of the list's write: a list is then always in
// the holders of what it watches, also after a crash between the two. A
// list that stops watching an item stays among its holders (the holders of
// an item only grow): a stale entry costs one needless re-score when the
// item's availability changes, where removing it could race a concurrent
// writer of the list that watches the item again.
//
// The lists of a re-score batch often start to watch the same item (a
// popular item newly bought with many of them), so each item's new holders
// go in one SADD: on the Dunnhumby sample, a paced event's lists cost 2.4
// SADDs when each holder had its own, 1.9 so.
func (l *Lists) recordHolders(ctx context.Context, lists []List) error {
	var items []string            // in the order they first come
	holders := map[string][]any{} // of each of items
	for _, list := range lists {
		for _, y := range list.Watch {
			if slices.Contains(list.Watched, y) {
				continue
			}
			if _, ok := holders[y]; !ok {
				items = append(items, y)
			}
			holders[y] = append(holders[y], schema.DirtyMember(list.List, list.Item))
		}
	}
	if len(items) == 0 {
		return nil
	}
	_, err := l.c.write(ctx, "record list holders", func(p redis.Pipeliner) {
		for _, y := range items {
			p.SAdd(ctx, l.c.keys.Holders(y), holders[y]...)
		}
	})
	return err
}

// Scan calls fn with batches of the items that have a row or a list of a
// kind (an item may come twice, once per key; callers de-duplicate).
func (l *Lists) Scan(ctx context.Context, kind ListKind, fn func(items []string) error) error {
	if err := scanItems(ctx, l.c, l.c.keys.Row(kind, "*"), fn); err != nil {
		return err
	}
	return scanItems(ctx, l.c, l.c.keys.List(kind, "*"), fn)
}

// scanItems calls fn with batches of the item ids of the per-item keys
// matching pattern.
func scanItems(ctx context.Context, c *conn, pattern string, fn func(items []string) error) error {
	return c.scan(ctx, pattern, func(keys []string) error {
		items := make([]string, len(keys))
		for i, k := range keys {
			items[i] = schema.ItemOf(k)
		}
		return fn(items)
	})
}

// popularCache keeps the latest decoded popularity list of each key with
// its JSON. Every request reads the popularity list, which changes only
// when it is recomputed, and decoding its 100 items cost a fifth of the
// serving CPU (docs/BENCHMARKS.md): an unchanged list is now compared, not
// decoded.
type popularCache struct {
	mu      sync.Mutex
	entries map[string]popularEntry
}

type popularEntry struct {
	raw  []byte
	list *PopularList
}

// decode returns the list raw encodes, decoding it only when it differs
// from the last one read under key.
func (c *popularCache) decode(key string, raw []byte) (*PopularList, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.list, nil
	}
	pl := &PopularList{}
	if err := json.Unmarshal(raw, pl); err != nil {
		return nil, fmt.Errorf("decode popular list: %w", err)
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]popularEntry{}
	}
	c.entries[key] = popularEntry{raw: raw, list: pl}
	c.mu.Unlock()
	return pl, nil
}
