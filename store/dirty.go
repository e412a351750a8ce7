package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// Dirty is the set of lists waiting to be re-scored: the consumer marks
// them (Batches.Apply), re-scorers claim and clear them.
type Dirty struct{ c *conn }

// DirtyItem is an item whose list of a kind waits to be re-scored.
type DirtyItem struct {
	Kind    ListKind
	Item    string
	Version string    // mark version as read; the mark is cleared only if unchanged
	Since   time.Time // first mark since the last re-score
}

// Mark marks lists dirty as first marked at (unless they are dirty
// already): the consumer marks what its batches change (Batches.Apply);
// this is for the other causes, such as a change of an item's
// availability.
func (d *Dirty) Mark(ctx context.Context, lists []ListRef, at time.Time) error {
	if len(lists) == 0 {
		return nil
	}
	args := make([]any, 0, 1+len(lists))
	args = append(args, at.UnixMilli())
	for _, l := range lists {
		args = append(args, schema.DirtyMember(l.Kind, l.Item))
	}
	keys := d.c.keys
	_, err := d.c.write(ctx, "mark lists dirty", func(p redis.Pipeliner) {
		markDirtyScript.EvalSha(ctx, p, []string{keys.Dirty, keys.DirtyVersions}, args...)
	})
	return err
}

// Claim claims up to n dirty items first marked before markedBefore,
// oldest first, for owner, for the lease duration (claimDirtyScript):
// items another owner claimed less than lease ago are left to it.
func (d *Dirty) Claim(ctx context.Context, n int, markedBefore time.Time, owner string, lease time.Duration) ([]DirtyItem, error) {
	return d.claim(ctx, n, markedBefore, noRateLimit, owner, lease)
}

// ClaimDue is Claim with each list's rate limit: a list re-scored after
// rescoredBefore (Clear keeps the time of every re-score) waits, still
// dirty, until a claim with a later rescoredBefore (docs/DESIGN.md §4).
func (d *Dirty) ClaimDue(ctx context.Context, n int, markedBefore, rescoredBefore time.Time, owner string, lease time.Duration) ([]DirtyItem, error) {
	return d.claim(ctx, n, markedBefore, strconv.FormatInt(rescoredBefore.UnixMilli(), 10), owner, lease)
}

func (d *Dirty) claim(ctx context.Context, n int, markedBefore time.Time, rescoredBefore, owner string, lease time.Duration) ([]DirtyItem, error) {
	keys := d.c.keys
	cmds, err := d.c.write(ctx, "claim dirty items", func(p redis.Pipeliner) {
		claimDirtyScript.EvalSha(ctx, p, []string{keys.Dirty, keys.DirtyVersions, keys.DirtyClaims, keys.DirtyRecent},
			markedBefore.UnixMilli(), n, owner, lease.Milliseconds(), rescoredBefore)
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
		kind, item, ok := schema.ParseDirtyMember(vals[i])
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

// Clear removes the items whose mark has not moved since they were read
// at readAt, makes readAt the first-mark time of those that were marked
// again meanwhile, and keeps readAt as every item's last re-score for
// ClaimDue's rate limit (clearDirtyScript).
func (d *Dirty) Clear(ctx context.Context, items []DirtyItem, readAt time.Time) error {
	if len(items) == 0 {
		return nil
	}
	keys := d.c.keys
	args := make([]any, 0, 1+2*len(items))
	args = append(args, readAt.UnixMilli())
	for _, it := range items {
		args = append(args, schema.DirtyMember(it.Kind, it.Item), it.Version)
	}
	_, err := d.c.write(ctx, "clear dirty marks", func(p redis.Pipeliner) {
		clearDirtyScript.EvalSha(ctx, p, []string{keys.Dirty, keys.DirtyVersions, keys.DirtyClaims, keys.DirtyRecent}, args...)
	})
	return err
}

// Backlog returns the number of dirty items and the first-mark time of the
// oldest (zero when none).
func (d *Dirty) Backlog(ctx context.Context) (int64, time.Time, error) {
	n, err := d.c.rdb.ZCard(ctx, d.c.keys.Dirty).Result()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read dirty backlog: %w", err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	zs, err := d.c.rdb.ZRangeWithScores(ctx, d.c.keys.Dirty, 0, 0).Result()
	if err != nil || len(zs) == 0 {
		return n, time.Time{}, err
	}
	return n, time.UnixMilli(int64(zs[0].Score)), nil
}
