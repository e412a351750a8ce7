// Package store keeps alsobought's state in Redis: the counters, the
// customers' histories, the related-item lists, the dirty set and the
// consumer's progress. The key layout is a versioned contract that
// storefronts read directly (docs/redis-keys.md); its names and formats are
// in package store/schema.
//
// New returns a Store whose fields are the concepts, one type each, sharing
// one connection: Batches (the consumer's fenced writes), Customers, Lists
// (related lists and the rows they are computed from), Dirty (the lists
// waiting to be re-scored), Leases, Outbox (the change feed's pending
// lists), Popularity, Meta (the settings that built the state) and State
// (the whole state at once: bootstrap, verification, scratch states).
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// DefaultPrefix is the key prefix when none is configured.
const DefaultPrefix = schema.DefaultPrefix

// Mode is how alsobought talks to Redis. It is an explicit setting: a
// single seed address must not silently give a plain client for a cluster,
// or a cluster client for a single server.
type Mode string

// Modes.
const (
	Single   Mode = "single"   // one Redis server (with replicas behind a failover proxy, or none)
	Cluster  Mode = "cluster"  // Redis Cluster: Addrs are seed nodes
	Sentinel Mode = "sentinel" // a master and replicas watched by Redis Sentinel: Addrs are the sentinels
)

// ParseMode returns the mode called s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case Single, Cluster, Sentinel:
		return m, nil
	}
	return "", fmt.Errorf("redis mode %q: use single, cluster or sentinel", s)
}

// Config says where the state lives.
type Config struct {
	// Mode is Single (default), Cluster or Sentinel.
	Mode Mode
	// Addrs of the Redis server (Single: exactly one), or seed nodes of the
	// cluster (Cluster: one or more), or the sentinels (Sentinel: one or
	// more, host:port only). Or, in single and cluster mode, one redis:// or
	// rediss:// URL as go-redis parses it (cluster mode: more seeds as
	// ?addr= parameters), which may carry the username and password.
	Addrs []string
	// Username and Password authenticate each connection to a data node
	// (Redis ACL; a password alone authenticates as the default user).
	// Credentials are given once: in the URL or here.
	Username, Password string
	// PasswordFile, instead of Password, is a file holding the password,
	// read again at each new connection: a rotated password is used
	// without a restart.
	PasswordFile string
	// TLS of the connections (in sentinel mode, to the sentinels and to
	// the data nodes alike: go-redis has one TLS setting for both).
	TLS TLS
	// Sentinel says which master the sentinels watch, and how to log in to
	// them. Sentinel mode only.
	Sentinel SentinelConfig
	// Prefix of every key. Default DefaultPrefix.
	Prefix string
	// WaitReplicas is how many replicas must acknowledge each write step
	// (Redis WAIT, sent on the connection that wrote, per node, bounded by
	// waitTimeout) before the next step starts, so that an unplanned
	// failover cannot lose a step the consumer went on from. 0 sends no
	// WAIT. Cluster and sentinel mode: a single Redis detects lost writes
	// with the batch guards alone (docs/guarantees.md).
	WaitReplicas int
}

// SentinelConfig is the sentinel mode's own settings.
type SentinelConfig struct {
	// Master is the name the sentinels know the master by (the name of
	// `sentinel monitor <name> ...` in their configuration).
	Master string
	// Username and Password log in to the sentinels, for sentinels that
	// require it (requirepass or ACL users in sentinel.conf); empty: none.
	// The data nodes take Config's Username and Password.
	Username, Password string
	// PasswordFile, instead of Password, is a file holding the sentinels'
	// password. It is read once, when the Store is built: go-redis takes
	// the sentinels' credentials as fixed values, so a rotated sentinel
	// password needs a restart (docs/operations.md).
	PasswordFile string
}

// Validate checks the settings before anything connects.
func (c Config) Validate() error {
	if len(c.Addrs) == 0 || c.Addrs[0] == "" {
		return errors.New("no Redis address: set ALSOBOUGHT_REDIS_ADDRS (e.g. 127.0.0.1:16379)")
	}
	switch c.Mode {
	case "", Single:
		if len(c.Addrs) > 1 {
			return fmt.Errorf("%d Redis addresses given (%s): a single Redis takes exactly one address; for Redis Cluster set ALSOBOUGHT_REDIS_MODE=cluster",
				len(c.Addrs), Redact(strings.Join(c.Addrs, ",")))
		}
		if c.WaitReplicas > 0 {
			return errors.New("redis wait replicas applies to cluster and sentinel mode only (a single Redis is guarded by the batch guards): set it to 0 or ALSOBOUGHT_REDIS_MODE=cluster or sentinel")
		}
	case Cluster:
	case Sentinel:
		if strings.TrimSpace(c.Sentinel.Master) == "" {
			return errors.New("redis sentinel mode needs the master's name, as the sentinels know it: set ALSOBOUGHT_REDIS_SENTINEL_MASTER (-redis-sentinel-master)")
		}
		if c.Sentinel.Password != "" && c.Sentinel.PasswordFile != "" {
			return errors.New("give the Redis sentinels' password once: as a password or as a password file")
		}
	default:
		return fmt.Errorf("redis mode %q: use single, cluster or sentinel", c.Mode)
	}
	if sc := c.Sentinel; c.Mode != Sentinel && (sc.Username != "" || sc.Password != "" || sc.PasswordFile != "") {
		return errors.New("redis sentinel credentials given outside sentinel mode: they log in to the sentinels of ALSOBOUGHT_REDIS_MODE=sentinel (the master's credentials are the username and password settings)")
	}
	if c.WaitReplicas < 0 {
		return fmt.Errorf("redis wait replicas must be 0 or more, got %d", c.WaitReplicas)
	}
	if _, err := c.resolve(); err != nil {
		return err
	}
	return ValidatePrefix(c.Prefix)
}

// ValidatePrefix checks a key prefix.
func ValidatePrefix(p string) error { return schema.ValidatePrefix(p) }

// Store is alsobought's state in Redis, one field per concept. It is safe
// for concurrent use.
type Store struct {
	Batches    *Batches    // the consumer's fenced batch writes and progress
	Customers  *Customers  // customers' histories, for readers
	Sweeps     *Sweeps     // forgetting: the clock, age indexes, erasures and sweeps
	Lists      *Lists      // related lists, and the rows they are computed from
	Dirty      *Dirty      // lists waiting to be re-scored: marks and claims
	Leases     *Leases     // tasks one instance at a time
	Outbox     *Outbox     // list changes not yet on the change feed
	Popularity *Popularity // day buckets, popularity lists, item categories
	Meta       *Meta       // the settings that built the state
	State      *State      // the whole state: bootstrap, snapshot, delete
	Catalogue  *Catalogue  // item records of the catalogue topic, and what they change
	// DeadLetters: which dead letters were published again.
	DeadLetters *DeadLetters

	c *conn
}

// Redis client timeouts: a batch pipeline can be large.
const ioTimeout = 10 * time.Second

// waitTimeout bounds each WAIT; fewer acknowledgements fail the step, which
// is then retried.
const waitTimeout = 2 * time.Second

// New builds a Store; it does not connect until first used.
func New(cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	var creds func(context.Context) (string, string, error)
	if cfg.PasswordFile != "" {
		creds = passwordFile(p.username, cfg.PasswordFile)
	}
	c := &conn{keys: schema.NewKeys(cfg.Prefix), wait: cfg.WaitReplicas, lastOwn: new(atomic.Int64), rowIndex: new(atomic.Pointer[rowIndexing])}
	switch cfg.Mode {
	case Cluster:
		c.cluster = redis.NewClusterClient(&redis.ClusterOptions{Addrs: p.addrs, ReadTimeout: ioTimeout + waitTimeout,
			WriteTimeout: ioTimeout, MaxRedirects: 8, Username: p.username, Password: p.password,
			CredentialsProviderContext: creds, TLSConfig: p.tls})
		c.rdb = c.cluster
	case Sentinel:
		// go-redis asks the sentinels for the master's address at each
		// new connection, and drops the connections to a demoted master
		// when a sentinel announces the switch (+switch-master).
		spass := cfg.Sentinel.Password
		if cfg.Sentinel.PasswordFile != "" {
			b, err := os.ReadFile(cfg.Sentinel.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("redis sentinel password file: %w", err)
			}
			spass = strings.TrimSpace(string(b))
		}
		c.master = cfg.Sentinel.Master
		c.rdb = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: cfg.Sentinel.Master, SentinelAddrs: p.addrs,
			SentinelUsername: cfg.Sentinel.Username, SentinelPassword: spass,
			ReadTimeout: ioTimeout + waitTimeout, WriteTimeout: ioTimeout,
			Username: p.username, Password: p.password, CredentialsProviderContext: creds, TLSConfig: p.tls})
	default:
		c.rdb = redis.NewClient(&redis.Options{Addr: p.addrs[0], DB: p.db, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
			Username: p.username, Password: p.password, CredentialsProviderContext: creds, TLSConfig: p.tls})
	}
	return over(c), nil
}

// over returns the concepts of a Store, all reading and writing through c.
func over(c *conn) *Store {
	outbox := &Outbox{c: c}
	lists := &Lists{c: c, outbox: outbox}
	batches := &Batches{c: c}
	pop := &Popularity{c: c, outbox: outbox}
	return &Store{
		Batches: batches, Customers: &Customers{c: c}, Sweeps: &Sweeps{c: c}, Lists: lists, Dirty: &Dirty{c: c}, Leases: &Leases{c: c},
		Outbox: outbox, Popularity: pop, Meta: &Meta{c: c}, DeadLetters: &DeadLetters{c: c},
		State: &State{c: c, lists: lists, batches: batches, popularity: pop}, Catalogue: &Catalogue{c: c},
		c: c,
	}
}

// Yielding returns a view of the store, on the same connections, whose
// pipelines run at most turns at a time while the store itself has sent a
// pipeline within readsWithin; turns < 1 returns s. The consumer and the
// re-scorer go through it and the storefront's reads through s, so that
// those reads wait in Redis behind at most that many background
// pipelines: Redis serves its clients in turns, each running what its
// client has sent, and a read that queues behind every partition's counter
// step and every re-scorer worker's rows waits for all of them
// (docs/DESIGN.md §4, "Reads before background work"). Without reads the
// view limits nothing, so that a write-only process loses no throughput.
// In a cluster a turn is one pipeline per master. Close only s.
func (s *Store) Yielding(turns int, readsWithin time.Duration) *Store {
	if turns < 1 {
		return s
	}
	c := *s.c
	c.turns, c.readsWithin, c.part, c.turnWaits = make(chan struct{}, turns), readsWithin, new(atomic.Int64), new(atomic.Int64)
	c.part.Store(firstPart)
	return over(&c)
}

// TurnsWaited is how long the callers of a Yielding view have waited for
// their turns in all, so far; 0 for a store that is no such view.
func (s *Store) TurnsWaited() time.Duration {
	if s.c.turnWaits == nil {
		return 0
	}
	return time.Duration(s.c.turnWaits.Load())
}

// Keys returns the key names, for tools and tests.
func (s *Store) Keys() schema.Keys { return s.c.keys }

// Client exposes the Redis client for tools and tests.
func (s *Store) Client() redis.UniversalClient { return s.c.rdb }

// Close releases the connections.
func (s *Store) Close() error { return s.c.rdb.Close() }

// Ping checks that Redis answers and loads the scripts, which pipelines
// run by hash only (EVALSHA inside a pipeline cannot fall back to EVAL).
// Refused credentials are marked ErrAuthentication, a refused TLS
// certificate ErrCertificate, a SCRIPT LOAD the ACL rules deny
// ErrPermission.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", s.c.classify(err))
	}
	return s.c.loadScripts(ctx)
}
