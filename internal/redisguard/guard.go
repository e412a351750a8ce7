package redisguard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/internal/obs"
)

// DefaultInterval is how often the guard reads the settings and the
// eviction counter when none is configured.
const DefaultInterval = 10 * time.Second

// Config of the guard.
type Config struct {
	Interval time.Duration // between checks; default DefaultInterval
}

// Guard checks the Redis settings at start-up (Start) and then every
// interval (Run): an evicting policy is refused at start and reported
// after, persistence off is reported, and any key evicted since start
// makes NotReady say so until the process restarts, since the state has
// lost data that only a rebuild brings back.
type Guard struct {
	rdb      redis.UniversalClient
	interval time.Duration
	log      zerolog.Logger
	retries  zerolog.Logger // rate-limited: an outage fails every check
	m        *metrics

	mu        sync.Mutex
	evictions *Evictions // nil until the baseline is read
	evicted   int64
	reported  map[string]string // setting -> what was last logged about it
}

// New returns a guard of the Redis behind rdb; it registers its metrics
// on reg (nil: nowhere).
func New(cfg Config, rdb redis.UniversalClient, log zerolog.Logger, reg prometheus.Registerer) (*Guard, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	switch {
	case rdb == nil:
		return nil, errors.New("redis guard: no Redis client")
	case cfg.Interval < 0:
		return nil, fmt.Errorf("redis guard interval %s must be positive", cfg.Interval)
	}
	log = log.With().Str("component", "redisguard").Logger()
	return &Guard{rdb: rdb, interval: cfg.Interval, log: log, retries: obs.Repeats(log), m: newMetrics(reg),
		reported: map[string]string{}}, nil
}

// UnsafeError is Start's refusal: a master whose maxmemory-policy may
// evict keys.
type UnsafeError struct{ Settings Settings }

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("redis %s has maxmemory-policy %s, which evicts keys and silently corrupts the state: "+
		"set `CONFIG SET maxmemory-policy noeviction` (and in its config file) before starting alsobought",
		e.Settings.Addr, e.Settings.Policy)
}

// Start reads the settings of every master and the eviction baseline. It
// returns an *UnsafeError when a master's policy may evict, and the error
// of a Redis that cannot be reached; a server that refuses CONFIG or INFO
// (a managed service) is logged once and not refused: the operator checks
// those settings (docs/runbook.md#alsoboughtredisunsafesettings).
func (g *Guard) Start(ctx context.Context) error {
	settings, err := ReadSettings(ctx, g.rdb)
	if err := g.settingsRead(settings, err); err != nil {
		return err
	}
	for _, s := range settings {
		if s.Evicts() {
			return &UnsafeError{Settings: s}
		}
	}
	ev, err := NewEvictions(ctx, g.rdb)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.evictionsRead(err); err != nil {
		return err
	}
	g.evictions = ev
	return nil
}

// Run checks every interval until ctx ends, then returns nil: a failed
// check is logged and retried, not a failure of the service.
func (g *Guard) Run(ctx context.Context) error {
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		g.Observe(ctx)
	}
}

// Observe checks once: the settings, then the evictions since start.
func (g *Guard) Observe(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, g.interval)
	defer cancel()
	settings, err := ReadSettings(cctx, g.rdb)
	if err := g.settingsRead(settings, err); err != nil {
		if ctx.Err() == nil {
			g.retries.Warn().Err(err).Msg("cannot read the Redis settings; will retry")
		}
	}
	// Only Start and this goroutine use g.evictions; the lock is held only
	// to publish, never across a Redis call, so /readyz never waits on
	// Redis here.
	g.mu.Lock()
	ev := g.evictions
	g.mu.Unlock()
	if ev == nil {
		ev, err := NewEvictions(cctx, g.rdb)
		g.mu.Lock()
		defer g.mu.Unlock()
		if err := g.evictionsRead(err); err != nil && ctx.Err() == nil {
			g.retries.Warn().Err(err).Msg("cannot read Redis's eviction counter; will retry")
		}
		g.evictions = ev
		return
	}
	n, err := ev.Since(cctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.evictionsRead(err); err != nil && ctx.Err() == nil {
		g.retries.Warn().Err(err).Msg("cannot read Redis's eviction counter; will retry")
	}
	if n > g.evicted {
		g.log.Error().Int64("evicted_keys", n).Msg("Redis evicted keys since start: the state has lost data and is wrong " +
			"until rebuilt; set maxmemory-policy noeviction and see docs/runbook.md#alsoboughtredisevictions")
		g.evicted = n
		g.m.evicted.Set(float64(n))
	}
}

// NotReady is the reason the service is not ready, "" when it is: keys
// evicted since start.
func (g *Guard) NotReady() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.evicted > 0 {
		return fmt.Sprintf("redis evicted %d keys since start (maxmemory-policy must be noeviction): the state is incomplete; rebuild it (docs/runbook.md#alsoboughtredisevictions)", g.evicted)
	}
	return ""
}

// settingsRead reports what a read of the settings found, each change
// once: a refused CONFIG (returns nil), an evicting policy, persistence
// off. It returns the error of a failed read.
func (g *Guard) settingsRead(settings []Settings, err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var denied *Denied
	switch {
	case errors.As(err, &denied):
		g.m.unchecked.Set(1)
		g.once("config", "denied", func() {
			g.log.Warn().Err(err).Msg("Redis refuses CONFIG GET (a managed service or an ACL without it): " +
				"alsobought cannot check maxmemory-policy and persistence; the operator must " +
				"(docs/runbook.md#alsoboughtredisunsafesettings)")
		})
		return nil
	case err != nil:
		return err
	}
	g.m.unchecked.Set(0)
	g.once("config", "", func() {})
	var evicting, volatile []string
	for _, s := range settings {
		if s.Evicts() {
			evicting = append(evicting, s.Addr+" ("+s.Policy+")")
		}
		if !s.Persistent() {
			volatile = append(volatile, s.Addr)
		}
	}
	g.m.unsafe.WithLabelValues("maxmemory_policy").Set(float64(len(evicting)))
	g.m.unsafe.WithLabelValues("persistence").Set(float64(len(volatile)))
	g.once("maxmemory_policy", strings.Join(evicting, ", "), func() {
		g.log.Error().Str("masters", strings.Join(evicting, ", ")).Msg("Redis's maxmemory-policy is not noeviction: " +
			"it may evict keys, which silently corrupts the state; set maxmemory-policy noeviction")
	})
	g.once("persistence", strings.Join(volatile, ", "), func() {
		g.log.Warn().Str("masters", strings.Join(volatile, ", ")).Msg("Redis persistence is off (appendonly no, no save rules): " +
			"a restart of Redis loses the whole state; set appendonly yes (docs/guarantees.md)")
	})
	return nil
}

// evictionsRead reports a refused INFO once; it returns the error of a
// failed read. g.mu is held.
func (g *Guard) evictionsRead(err error) error {
	var denied *Denied
	if errors.As(err, &denied) {
		g.m.unchecked.Set(1)
		g.once("info", "denied", func() {
			g.log.Warn().Err(err).Msg("Redis refuses INFO stats: alsobought cannot watch evicted_keys; the operator must " +
				"(docs/runbook.md#alsoboughtredisevictions)")
		})
		return nil
	}
	return err
}

// once runs report when what is new for the setting and not empty; g.mu
// is held.
func (g *Guard) once(setting, what string, report func()) {
	if g.reported[setting] != what && what != "" {
		report()
	}
	g.reported[setting] = what
}

type metrics struct {
	evicted, unchecked prometheus.Gauge
	unsafe             *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns = "alsobought"
	m := &metrics{
		evicted: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "redis_evicted_keys_since_start",
			Help: "Keys Redis evicted (INFO evicted_keys, every master) since this process started; above 0 the state has lost data and serve is not ready."}),
		unchecked: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "redis_settings_unchecked",
			Help: "1 when Redis refuses CONFIG GET or INFO (a managed service), so its settings or evictions cannot be checked from here."}),
		unsafe: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "redis_unsafe_settings",
			Help: "Masters whose setting breaks a promise: maxmemory_policy (not noeviction), persistence (neither AOF nor RDB)."}, []string{"setting"}),
	}
	if reg != nil {
		reg.MustRegister(m.evicted, m.unchecked, m.unsafe)
	}
	return m
}
