package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/store/schema"
)

// Catalogue keeps the catalogue state (docs/DESIGN.md §11): the item
// records applied from the catalogue topic with each partition's progress,
// and what tells the re-scorers which lists a record changes: a revision
// per change, the items whose lists must be re-scored (pending), and the
// window edges yet to come (due).
//
// Every key is global ({#}), so one script applies a batch of records,
// raises the progress and records the changes atomically: several
// instances may apply the same partition at once (each reads the whole
// catalogue), and the progress decides which of them writes a record.
type Catalogue struct{ c *conn }

// CatalogueRecord is one message of the catalogue topic, decoded.
type CatalogueRecord struct {
	Offset int64
	Item   string
	// Record is the item's record; nil for a tombstone, which removes it.
	Record *event.Item
}

// CatalogueChange is an item whose record changed, at a catalogue revision.
type CatalogueChange struct {
	Item     string
	Revision int64
}

// Apply applies the valid records of a batch of one partition, in offset
// order, and raises the partition's progress to next, the offset after the
// batch (its invalid records included: they went to the dead-letter
// topic). A record below the partition's progress was applied already (by
// this instance before a restart, or by a zombie) and is skipped; a record
// equal to the item's current one changes nothing. Each change raises the
// catalogue's revision and makes the item pending, so that the lists
// holding it are re-scored even if this process dies right after
// (TakePending). now decides which window edges are still to come. It
// returns the changes.
func (c *Catalogue) Apply(ctx context.Context, partition int, recs []CatalogueRecord, next int64, now time.Time) ([]CatalogueChange, error) {
	keys := c.c.keys
	args := make([]any, 0, 3+5*len(recs))
	args = append(args, schema.PartitionField(partition), now.UnixMilli(), next)
	for _, r := range recs {
		rec, from, until := "", int64(0), int64(0)
		if r.Record != nil {
			rec = string(event.EncodeItem(*r.Record))
			if r.Record.Status != event.Hidden { // a hidden item's window changes nothing
				from, until = unixMilliOrZero(r.Record.From), unixMilliOrZero(r.Record.Until)
			}
		}
		args = append(args, r.Offset, r.Item, rec, from, until)
	}
	cmds, err := c.c.write(ctx, "apply catalogue records", func(p redis.Pipeliner) {
		applyCatalogueScript.EvalSha(ctx, p, []string{keys.Catalogue, keys.CatalogueProgress, keys.CatalogueRevisions,
			keys.CatalogueRevision, keys.CatalogueDue, keys.CatalogueEdges, keys.CataloguePending}, args...)
	})
	if err != nil {
		return nil, err
	}
	return changesOf(cmds[0], "apply catalogue records")
}

func unixMilliOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// changesOf reads a script's reply of (item, revision) pairs.
func changesOf(cmd redis.Cmder, what string) ([]CatalogueChange, error) {
	vals, err := cmd.(*redis.Cmd).Slice()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := make([]CatalogueChange, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		item, _ := vals[i].(string)
		rev, _ := vals[i+1].(int64)
		out = append(out, CatalogueChange{Item: item, Revision: rev})
	}
	return out, nil
}

// Progress returns the next offset to apply of each catalogue partition
// that has one.
func (c *Catalogue) Progress(ctx context.Context) (map[int]int64, error) {
	return readOffsets(ctx, c.c, c.c.keys.CatalogueProgress, "catalogue progress")
}

// Read returns an item's record; ok is false when it has none (it is
// available, with the category of its events).
func (c *Catalogue) Read(ctx context.Context, item string) (rec event.Item, ok bool, err error) {
	raw, err := c.c.rdb.HGet(ctx, c.c.keys.Catalogue, item).Bytes()
	if errors.Is(err, redis.Nil) {
		return event.Item{}, false, nil
	}
	if err != nil {
		return event.Item{}, false, fmt.Errorf("read the catalogue record of %s: %w", item, err)
	}
	rec, err = decodeRecord(item, raw)
	return rec, err == nil, err
}

func decodeRecord(item string, raw []byte) (event.Item, error) {
	// The records were validated before they were stored; limits that
	// were in force then are no concern of a reader.
	rec, err := event.DecodeItem(raw, event.Limits{MaxPayloadBytes: 1 << 20, MaxIDLen: 1 << 10, MaxCategoryLen: 1 << 10})
	if err != nil {
		return event.Item{}, fmt.Errorf("catalogue record of %s: %w", item, err)
	}
	return rec, nil
}

// Revision returns the catalogue's revision: 0 before its first change.
func (c *Catalogue) Revision(ctx context.Context) (int64, error) {
	n, err := c.c.rdb.Get(ctx, c.c.keys.CatalogueRevision).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the catalogue revision: %w", err)
	}
	return n, nil
}

// All returns every record and the revision they are at least as new as:
// the revision is read first, so a change made during the scan is also
// returned by a later Since(revision).
func (c *Catalogue) All(ctx context.Context) (map[string]event.Item, int64, error) {
	rev, err := c.Revision(ctx)
	if err != nil {
		return nil, 0, err
	}
	out := map[string]event.Item{}
	var cursor uint64
	for {
		kv, next, err := c.c.rdb.HScan(ctx, c.c.keys.Catalogue, cursor, "", 1000).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("read the catalogue: %w", err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			rec, err := decodeRecord(kv[i], []byte(kv[i+1]))
			if err != nil {
				return nil, 0, err
			}
			out[kv[i]] = rec
		}
		if cursor = next; cursor == 0 {
			return out, rev, nil
		}
	}
}

// Since returns the items whose record changed after revision rev, with
// their records now (nil: the item has none), and the revision they bring
// the reader to. One command when nothing changed: re-scorers ask before
// every round.
func (c *Catalogue) Since(ctx context.Context, rev int64) (map[string]*event.Item, int64, error) {
	zs, err := c.c.rdb.ZRangeByScoreWithScores(ctx, c.c.keys.CatalogueRevisions,
		&redis.ZRangeBy{Min: "(" + strconv.FormatInt(rev, 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, rev, fmt.Errorf("read catalogue changes: %w", err)
	}
	if len(zs) == 0 {
		return nil, rev, nil
	}
	items := make([]string, len(zs))
	for i, z := range zs {
		items[i] = z.Member.(string)
		if r := int64(z.Score); r > rev {
			rev = r
		}
	}
	vals, err := c.c.rdb.HMGet(ctx, c.c.keys.Catalogue, items...).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("read changed catalogue records: %w", err)
	}
	out := make(map[string]*event.Item, len(items))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			out[items[i]] = nil
			continue
		}
		rec, err := decodeRecord(items[i], []byte(s))
		if err != nil {
			return nil, 0, err
		}
		out[items[i]] = &rec
	}
	return out, rev, nil
}

// PromoteDue makes pending every item whose window edge is at or before
// now, and schedules its next edge, if any; it returns how many.
func (c *Catalogue) PromoteDue(ctx context.Context, now time.Time) (int, error) {
	keys := c.c.keys
	cmds, err := c.c.write(ctx, "promote due catalogue items", func(p redis.Pipeliner) {
		promoteDueScript.EvalSha(ctx, p, []string{keys.CatalogueDue, keys.CatalogueEdges, keys.CatalogueRevisions,
			keys.CatalogueRevision, keys.CataloguePending}, now.UnixMilli())
	})
	if err != nil {
		return 0, err
	}
	n, err := cmds[0].(*redis.Cmd).Int()
	if err != nil {
		return 0, fmt.Errorf("promote due catalogue items: %w", err)
	}
	return n, nil
}

// TakePending returns up to n items whose availability changed and whose
// lists are not re-scored for it yet, oldest first. They stay pending until
// DonePending, so a re-scorer that dies between the two leaves them to the
// next.
func (c *Catalogue) TakePending(ctx context.Context, n int) ([]CatalogueChange, error) {
	zs, err := c.c.rdb.ZRangeWithScores(ctx, c.c.keys.CataloguePending, 0, int64(n)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("read pending catalogue items: %w", err)
	}
	out := make([]CatalogueChange, len(zs))
	for i, z := range zs {
		out[i] = CatalogueChange{Item: z.Member.(string), Revision: int64(z.Score)}
	}
	return out, nil
}

// DonePending removes pending items whose revision has not moved since
// TakePending read them: an item changed again meanwhile stays pending.
func (c *Catalogue) DonePending(ctx context.Context, done []CatalogueChange) error {
	if len(done) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(done))
	for _, d := range done {
		args = append(args, d.Item, d.Revision)
	}
	_, err := c.c.write(ctx, "clear pending catalogue items", func(p redis.Pipeliner) {
		donePendingScript.EvalSha(ctx, p, []string{c.c.keys.CataloguePending}, args...)
	})
	return err
}

// Holders returns, in one round trip, the lists whose entries, or the
// hidden candidates passed over for them, hold one of the items
// (Keys.Holders): the lists a change of the items' availability can
// change. Each list comes once.
func (c *Catalogue) Holders(ctx context.Context, items []string) ([]ListRef, error) {
	cmds, err := c.c.read(ctx, "read list holders", func(p redis.Pipeliner) {
		for _, it := range items {
			p.SMembers(ctx, c.c.keys.Holders(it))
		}
	})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []ListRef
	for i, cmd := range cmds {
		for _, m := range cmd.(*redis.StringSliceCmd).Val() {
			if seen[m] {
				continue
			}
			seen[m] = true
			kind, holder, ok := schema.ParseDirtyMember(m)
			if !ok {
				return nil, fmt.Errorf("holders of %s: member %q is not <list>|<item>", items[i], m)
			}
			out = append(out, ListRef{Kind: kind, Item: holder})
		}
	}
	return out, nil
}
