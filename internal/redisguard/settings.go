// Package redisguard watches the Redis settings the promises rest on
// (docs/DESIGN.md section 5; docs/guarantees.md, "Settings the promises
// need"): maxmemory-policy noeviction, persistence, and the keys Redis
// evicted since start, on the server or on every master of a cluster. An
// evicted counter or watermark is silent corruption, so an evicting policy
// is refused at start-up and an eviction makes the service not ready.
package redisguard

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// SafePolicy is the only maxmemory-policy under which Redis never drops a
// key: a full Redis refuses writes instead, which the consumer retries.
const SafePolicy = "noeviction"

// Settings are the settings of one master that the promises need.
type Settings struct {
	Addr       string
	Policy     string // maxmemory-policy
	AppendOnly bool   // appendonly yes
	Save       string // RDB snapshot rules; "" takes none
}

// Evicts reports whether Redis may drop keys under this policy.
func (s Settings) Evicts() bool { return s.Policy != SafePolicy }

// Persistent reports whether the writes survive a restart: AOF, or at
// least RDB snapshots (a consistent prefix, which loses more work).
func (s Settings) Persistent() bool { return s.AppendOnly || strings.TrimSpace(s.Save) != "" }

// Denied is the error of a command the server refused to run: an ACL
// without the permission (NOPERM), or a managed service that renamed or
// disabled the command (unknown command). The setting cannot be checked
// from here; the operator must check it (docs/runbook.md).
type Denied struct {
	Command string
	Addr    string
	Err     error
}

func (e *Denied) Error() string {
	return fmt.Sprintf("redis %s refused %s: %v", e.Addr, e.Command, e.Err)
}

func (e *Denied) Unwrap() error { return e.Err }

// masters runs fn on the server in single mode, on every master of a
// cluster (concurrently), or on the current master in sentinel mode, with
// the master's address.
func masters(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, addr string, c *redis.Client) error) error {
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return fn(ctx, m.Options().Addr, m)
		})
	case *redis.Client:
		addr := c.Options().Addr
		if addr == failoverClient {
			addr = currentMaster(ctx, c)
		}
		return fn(ctx, addr, c)
	}
	return fmt.Errorf("redis client %T: only a single server or a cluster can be checked", rdb)
}

// failoverClient is the address go-redis gives the client of a master
// found through Redis Sentinel (redis.NewFailoverClient): the master's
// own address changes with each failover.
const failoverClient = "FailoverClient"

// currentMaster is the address of the master a sentinel-mode client talks
// to now, as the server saw the connection arrive (CLIENT INFO laddr), so
// that messages name the server and the eviction counters of two masters
// are told apart after a failover. A server that refuses CLIENT INFO
// leaves the name go-redis gives, and the counters are then told apart by
// their run id alone.
func currentMaster(ctx context.Context, c *redis.Client) string {
	info, err := c.ClientInfo(ctx).Result()
	if err != nil || info.LAddr == "" {
		return "sentinel master"
	}
	return info.LAddr
}

// refused wraps the error of a command the server answered with an error
// reply into a *Denied; a network error stays as it is.
func refused(command, addr string, err error) error {
	var reply redis.Error
	if errors.As(err, &reply) && !errors.Is(err, redis.Nil) {
		return &Denied{Command: command, Addr: addr, Err: err}
	}
	return fmt.Errorf("redis %s: %s: %w", addr, command, err)
}

// ReadSettings reads maxmemory-policy, appendonly and save of every
// master, sorted by address. A server that refuses CONFIG GET gives a
// *Denied error.
func ReadSettings(ctx context.Context, rdb redis.UniversalClient) ([]Settings, error) {
	var (
		mu  sync.Mutex
		out []Settings
	)
	err := masters(ctx, rdb, func(ctx context.Context, addr string, c *redis.Client) error {
		s := Settings{Addr: addr}
		for _, p := range []string{"maxmemory-policy", "appendonly", "save"} {
			m, err := c.ConfigGet(ctx, p).Result()
			if err != nil {
				return refused("CONFIG GET "+p, addr, err)
			}
			v, ok := m[p]
			if !ok {
				return &Denied{Command: "CONFIG GET " + p, Addr: addr, Err: errors.New("no such parameter in the reply")}
			}
			switch p {
			case "maxmemory-policy":
				s.Policy = strings.ToLower(v)
			case "appendonly":
				s.AppendOnly = strings.EqualFold(v, "yes")
			case "save":
				s.Save = v
			}
		}
		mu.Lock()
		out = append(out, s)
		mu.Unlock()
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out, err
}

// Counter is one master's INFO stats evicted_keys, with the run id of
// the server process that counted it.
type Counter struct {
	RunID   string
	Evicted int64
}

// EvictedKeys reads INFO stats evicted_keys of every master, by address:
// server-wide and cumulative since the server started (or since CONFIG
// RESETSTAT), with the server's run_id. A server that refuses INFO gives a
// *Denied error.
func EvictedKeys(ctx context.Context, rdb redis.UniversalClient) (map[string]Counter, error) {
	var mu sync.Mutex
	out := map[string]Counter{}
	err := masters(ctx, rdb, func(ctx context.Context, addr string, c *redis.Client) error {
		// Two calls: INFO takes several sections only from Redis 7 on.
		server, err := c.Info(ctx, "server").Result()
		if err != nil {
			return refused("INFO server", addr, err)
		}
		stats, err := c.Info(ctx, "stats").Result()
		if err != nil {
			return refused("INFO stats", addr, err)
		}
		runID, _ := infoField(server, "run_id")
		v, ok := infoField(stats, "evicted_keys")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return &Denied{Command: "INFO stats", Addr: addr, Err: fmt.Errorf("no evicted_keys count in the reply (%q)", v)}
		}
		mu.Lock()
		out[addr] = Counter{RunID: runID, Evicted: n}
		mu.Unlock()
		return nil
	})
	return out, err
}

func infoField(info, name string) (string, bool) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v, true
		}
	}
	return "", false
}

// Evictions counts the keys evicted since a baseline, over every master.
// The counter of Redis is cumulative per server process: after a restart
// (a new run_id) it counts from zero again, and so does a counter that
// went down (CONFIG RESETSTAT); a master first seen after the baseline (a
// failover, a new shard) counts from the value it had then. A RESETSTAT
// followed by more evictions than before it is indistinguishable from
// growth, and counted as the difference: still above zero.
type Evictions struct {
	rdb  redis.UniversalClient
	last map[string]Counter
	seen int64
}

// NewEvictions reads the baseline: what happened before is not counted.
func NewEvictions(ctx context.Context, rdb redis.UniversalClient) (*Evictions, error) {
	last, err := EvictedKeys(ctx, rdb)
	if err != nil {
		return nil, err
	}
	return &Evictions{rdb: rdb, last: last}, nil
}

// Since reads the counters again and returns the keys evicted since the
// baseline. Not safe for concurrent use.
func (e *Evictions) Since(ctx context.Context) (int64, error) {
	now, err := EvictedKeys(ctx, e.rdb)
	if err != nil {
		return e.seen, err
	}
	for addr, c := range now {
		prev, known := e.last[addr]
		switch {
		case !known:
		case c.RunID != prev.RunID || c.Evicted < prev.Evicted:
			e.seen += c.Evicted
		default:
			e.seen += c.Evicted - prev.Evicted
		}
		e.last[addr] = c
	}
	return e.seen, nil
}

// ErrEvicted is the error of keys evicted since the baseline.
var ErrEvicted = errors.New("redis evicted keys")

// Error is an ErrEvicted error when keys were evicted since the baseline,
// for a caller that must not report success over a state Redis dropped keys
// of (`replay --wait`). A failed read is no error: the counters are
// cumulative, so the next read sees what this one missed.
func (e *Evictions) Error(ctx context.Context) error {
	n, _ := e.Since(ctx)
	if n > 0 {
		return fmt.Errorf("%w: %d since the start, so the state is incomplete (set maxmemory-policy noeviction, then rebuild the state: docs/runbook.md#alsoboughtredisevictions)", ErrEvicted, n)
	}
	return nil
}
