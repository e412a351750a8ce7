package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leases are named leases that one of several instances holds for a
// while, so that a task guarded by one (the sweep, the popularity lists)
// runs at most once per lease across every instance.
type Leases struct{ c *conn }

// Try takes the named lease for owner for ttl unless another owner holds
// it, and reports whether owner holds it now, in one round trip (SET NX
// GET). Leases are not released: they expire.
func (l *Leases) Try(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	holder, err := l.c.rdb.SetArgs(ctx, l.c.keys.Lease(name), owner, redis.SetArgs{Mode: "NX", Get: true, TTL: ttl}).Result()
	if errors.Is(err, redis.Nil) {
		return true, nil // no holder: taken
	}
	if err != nil {
		return false, fmt.Errorf("take lease %s: %w", name, err)
	}
	return holder == owner, nil
}
