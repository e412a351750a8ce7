package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeadLetters remembers which dead letters were published again to the
// events topic, so that an operator who re-publishes a reason's dead
// letters twice, or two operators at once, publish each at most once
// (docs/operations.md, "Dead letters").
type DeadLetters struct{ c *conn }

// DeadLetterID names a dead letter: its topic, partition and offset.
func DeadLetterID(topic string, partition int, offset int64) string {
	return topic + "/" + strconv.Itoa(partition) + "/" + strconv.FormatInt(offset, 10)
}

// Claim records that the dead letter id is being published again at at,
// and reports false when it was already (by anyone, at any time).
func (d *DeadLetters) Claim(ctx context.Context, id string, at time.Time) (bool, error) {
	ok, err := d.c.rdb.HSetNX(ctx, d.c.keys.Republished, id, at.UnixMilli()).Result()
	if err != nil {
		return false, fmt.Errorf("claim dead letter %s: %w", id, err)
	}
	return ok, nil
}

// Release forgets a claim whose publication failed, so that it can be
// tried again.
func (d *DeadLetters) Release(ctx context.Context, id string) error {
	if err := d.c.rdb.HDel(ctx, d.c.keys.Republished, id).Err(); err != nil {
		return fmt.Errorf("release dead letter %s: %w", id, err)
	}
	return nil
}

// Republished returns when each of ids was published again, for those that
// were.
func (d *DeadLetters) Republished(ctx context.Context, ids []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(ids) == 0 {
		return out, nil
	}
	vals, err := d.c.rdb.HMGet(ctx, d.c.keys.Republished, ids...).Result()
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("read republished dead letters: %w", err)
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
				out[ids[i]] = time.UnixMilli(ms)
			}
		}
	}
	return out, nil
}
