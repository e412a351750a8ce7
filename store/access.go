package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// probeScript writes, reads and deletes a key, and reads the time: what
// the service's scripts do, on a key of its own that holds nothing
// afterwards.
var probeScript = redis.NewScript(`
redis.call('HSET', KEYS[1], 'probe', '1')
local v = redis.call('HGET', KEYS[1], 'probe')
redis.call('DEL', KEYS[1])
redis.call('TIME')
return v
`)

// CheckAccess proves, after Ping, that the Redis user may do what the
// service does with every write: run a loaded script by hash (EVALSHA, as
// the pipelines do), on a key of the prefix (the ACL key pattern), with the
// commands the scripts run inside. ACL rules that lack one of these are
// reported at start-up as ErrPermission, naming what Redis denied, rather
// than by the consumer's first batch failing over and over
// (docs/operations.md, "Redis security", lists the rules: ACLRules).
func (s *Store) CheckAccess(ctx context.Context) error {
	key := s.c.keys.Prefix + ":" + schema.GlobalTag + ":accessprobe"
	err := probeScript.EvalSha(ctx, s.c.rdb, []string{key}).Err()
	if isNoScript(err) {
		// The script cache was flushed, or a node without it took over,
		// since Ping loaded it: load again, as the pipelines do.
		if err = s.c.loadScripts(ctx); err == nil {
			err = probeScript.EvalSha(ctx, s.c.rdb, []string{key}).Err()
		}
	}
	if err != nil {
		return fmt.Errorf("access check, a script run by hash on %s: %w", key, classify(err))
	}
	return nil
}
