package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ListChange is a list as the change feed publishes it: Key names the list
// ("<list>:<item>" for related lists, "popular:<kind>" or
// "popular:<kind>:<category>" for popularity lists) and Value is the list's
// JSON as stored in Redis, or nil when the list no longer exists (a
// tombstone, which a compacted topic then drops).
type ListChange struct {
	Key   string
	Value []byte
}

// The outbox holds the lists whose change has not been published yet. A
// re-scorer adds them before it writes the lists and removes them after
// the broker acknowledged the change; anything left behind (a crash between
// the Redis write and the publish, an instance without a publisher such as
// `alsobought rescore`) is published later from the list's current value
// (PendingChanges), so the feed always ends at what Redis holds.

// Outbox members: "l|<code>|<item>" for related lists, "p|<code>|<category>"
// for popularity lists.
func listMember(kind ListKind, item string) string { return "l|" + kind.code() + "|" + item }

func popularMember(kind ListKind, category string) string { return "p|" + kind.code() + "|" + category }

// MarkPending records that the given outbox members are about to change.
// It returns the stamp ClearPending needs.
func (s *Store) markPending(ctx context.Context, members []string) (string, error) {
	if len(members) == 0 {
		return "", nil
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	zs := make([]redis.Z, len(members))
	for i, m := range members {
		zs[i] = redis.Z{Score: float64(time.Now().UnixMilli()), Member: m}
	}
	_, err := s.execWrites(ctx, "mark lists pending", func(p redis.Pipeliner) {
		p.ZAdd(ctx, s.keys.Outbox(), zs...)
		args := make([]any, 0, 2*len(members))
		for _, m := range members {
			args = append(args, m, stamp)
		}
		p.HSet(ctx, s.keys.OutboxStamps(), args...)
	})
	return stamp, err
}

// ClearPending removes outbox members that were not marked again since
// their stamp was read (another re-scorer's newer change stays pending).
func (s *Store) ClearPending(ctx context.Context, members, stamps []string) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*len(members))
	args = append(args, "-") // a member marked again already carries its new mark time
	for i, m := range members {
		args = append(args, m, stamps[i])
	}
	_, err := s.execWrites(ctx, "clear pending lists", func(p redis.Pipeliner) {
		clearDirtyScript.EvalSha(ctx, p, []string{s.keys.Outbox(), s.keys.OutboxStamps()}, args...)
	})
	return err
}

// PendingChanges returns up to n outbox members marked before
// markedBefore, with their stamps, and the current value of each list.
func (s *Store) PendingChanges(ctx context.Context, n int, markedBefore time.Time) ([]string, []string, []ListChange, error) {
	members, err := s.rdb.ZRangeByScore(ctx, s.keys.Outbox(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(markedBefore.UnixMilli(), 10), Count: int64(n)}).Result()
	if err != nil || len(members) == 0 {
		return nil, nil, nil, err
	}
	stamps, err := s.rdb.HMGet(ctx, s.keys.OutboxStamps(), members...).Result()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read outbox stamps: %w", err)
	}
	keys := make([]string, len(members))
	changes := make([]ListChange, len(members))
	for i, m := range members {
		kind, code, rest, ok := parseMember(m)
		if !ok {
			return nil, nil, nil, fmt.Errorf("outbox member %q", m)
		}
		lk, _ := listKindOfCode(code)
		if kind == 'l' {
			keys[i], changes[i].Key = s.keys.List(lk, rest), string(lk)+":"+rest
		} else {
			keys[i], changes[i].Key = s.keys.Popular(lk, rest), PopularFeedKey(lk, rest)
		}
	}
	cmds, err := s.execPipeline(ctx, "read pending lists", func(p redis.Pipeliner) {
		for _, k := range keys {
			p.Get(ctx, k)
		}
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range members {
		raw, err := cmds[i].(*redis.StringCmd).Bytes()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, nil, err
		}
		changes[i].Value = raw
	}
	out := make([]string, len(stamps))
	for i, v := range stamps {
		out[i], _ = v.(string)
	}
	return members, out, changes, nil
}

func parseMember(m string) (kind byte, code, rest string, ok bool) {
	if len(m) < 2 || m[1] != '|' {
		return 0, "", "", false
	}
	code, rest, ok = strings.Cut(m[2:], "|")
	return m[0], code, rest, ok
}

// PopularFeedKey is the change-feed key of a popularity list.
func PopularFeedKey(kind ListKind, category string) string {
	if category == "" {
		return "popular:" + string(kind)
	}
	return "popular:" + string(kind) + ":" + category
}
