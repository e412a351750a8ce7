// Package bench measures the pipeline end to end against the real broker
// and Redis: how many events per second it sustains from produce to
// re-scored lists, what each event costs in Redis commands, bytes and
// consumer CPU, how fresh the lists are at a load below saturation, and
// how much Redis memory a customer and an item take. RunIncremental
// compares applying the last day of events with rebuilding everything
// from scratch (what `alsobought bootstrap` does).
//
// Every run works on its own fresh topic, consumer group and key prefix,
// which it deletes at the end, and runs `alsobought serve` as a child
// process, so other users of the same broker and Redis are not disturbed
// and the consumer's CPU is measured apart from the producer's.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"syscall"
	"time"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// Config of a bench run.
type Config struct {
	Brokers []string
	// Store says where Redis is, as the command's settings give it; each
	// state the bench makes replaces the prefix with a fresh one.
	Store      store.Config
	Partitions int // of the fresh topic

	// Serve is the command line that starts `alsobought serve` with the
	// shared settings (binary first). The bench appends its own -topic,
	// -prefix, -group, -http, -feed-topic and log flags, which win.
	Serve []string

	// For RunIncremental's rebuild from scratch, the settings serve uses.
	Oracle oracle.Settings
	Method scoring.Method
	Rules  scoring.ListRules

	// PacedShare is the share of the events (the latest ones) produced at
	// the paced load for the freshness figures; the rest are produced as
	// fast as the broker takes them for the sustained rate. Default 0.25.
	PacedShare float64
	// PacedLoad is the paced offered load as a share of the measured
	// sustained rate (default 0.5); PacedRate, when positive, sets it in
	// events per second instead.
	PacedLoad float64
	PacedRate float64

	// MinRescoreWait is serve's -rescore-min-interval: how long a dirty
	// list waits at least; it tells a paced phase that kept up from one
	// that queued. Default 1 s.
	MinRescoreWait time.Duration

	Timeout  time.Duration // for each wait; default 30 minutes
	Progress io.Writer     // one line per phase; nil for none
}

func (c *Config) defaults() {
	if c.PacedShare == 0 {
		c.PacedShare = 0.25
	}
	if c.PacedLoad == 0 {
		c.PacedLoad = 0.5
	}
	if c.MinRescoreWait == 0 {
		c.MinRescoreWait = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Minute
	}
	if c.Partitions == 0 {
		c.Partitions = 4
	}
}

// Validate checks a configuration.
func (c Config) Validate() error {
	c.defaults()
	switch {
	case len(c.Brokers) == 0 || len(c.Store.Addrs) == 0:
		return errors.New("bench needs the Kafka brokers and the Redis address")
	case len(c.Serve) == 0:
		return errors.New("bench needs the serve command line")
	case c.PacedShare <= 0 || c.PacedShare >= 1:
		return fmt.Errorf("paced share %v: must be between 0 and 1 (exclusive)", c.PacedShare)
	case c.PacedLoad <= 0 || c.PacedLoad > 1:
		return fmt.Errorf("paced load %v: must be above 0 and at most 1", c.PacedLoad)
	case c.PacedRate < 0:
		return fmt.Errorf("paced rate %v: must not be negative", c.PacedRate)
	}
	return nil
}

func (c Config) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench: "+format+"\n", args...)
	}
}

// openStore connects to Redis under prefix.
func (c *Config) openStore(ctx context.Context, prefix string) (*store.Store, error) {
	sc := c.Store
	sc.Prefix = prefix
	st, err := store.New(sc)
	if err != nil {
		return nil, err
	}
	if err := st.Ping(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("redis at %v: %w", sc.Addrs, err)
	}
	return st, nil
}

// names are the fresh names of one state: topic, group and key prefix.
type names struct{ topic, group, prefix string }

func freshNames(kind string) names {
	id := strconv.FormatInt(time.Now().Unix()%1_000_000, 36) + strconv.FormatUint(rand.Uint64()%(36*36*36), 36)
	return names{topic: "bench." + kind + "." + id, group: "bench-" + kind + "-" + id, prefix: "bench" + kind + id}
}

// topics are the topics serve creates for an events topic.
func (n names) topics(feed bool) []string {
	t := []string{n.topic, event.DeadLetterTopic(n.topic)}
	if feed {
		t = append(t, n.topic+".lists")
	}
	return t
}

// state is one fresh topic and prefix, with a store on the prefix.
type state struct {
	names
	cfg *Config
	st  *store.Store
}

func newState(ctx context.Context, cfg *Config, kind string) (*state, error) {
	n := freshNames(kind)
	st, err := cfg.openStore(ctx, n.prefix)
	if err != nil {
		return nil, err
	}
	if err := kafkaadmin.EnsureTopic(ctx, cfg.Brokers, n.topic, cfg.Partitions, 1); err != nil {
		st.Close()
		return nil, fmt.Errorf("create topic %s: %w", n.topic, err)
	}
	return &state{names: n, cfg: cfg, st: st}, nil
}

// cleanup deletes the state's keys and topics, whatever happened.
func (s *state) cleanup(feed bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := s.st.State.Delete(ctx)
	if terr := kafkaadmin.DeleteTopics(ctx, s.cfg.Brokers, s.topics(feed)...); terr != nil && err == nil {
		err = terr
	}
	s.st.Close()
	return err
}

// serve starts the child serve on this state.
func (s *state) serve(ctx context.Context, feed bool) (*child, error) {
	argv := append(append([]string(nil), s.cfg.Serve...),
		"-topic", s.topic, "-group", s.group, "-prefix", s.prefix, "-http", "127.0.0.1:0",
		"-partitions", strconv.Itoa(s.cfg.Partitions), "-log-format", "json", "-log-level", "info")
	if !feed {
		argv = append(argv, "-feed-topic", "off")
	}
	return startChild(ctx, argv, 2*time.Minute)
}

// caughtUp is when the state had applied every produced event (zero
// applied lag) and when, besides, no list was dirty any more.
type caughtUp struct{ applied, rescored time.Time }

// waitCaughtUp polls the applied lag (the broker's end offsets against the
// progress in Redis, consumer.AppliedLag) and the dirty set, like
// `replay --wait`, and records both moments. It polls every 25 ms, so the
// times are known to that much.
func (s *state) waitCaughtUp(ctx context.Context, c *child) (caughtUp, error) {
	var at caughtUp
	deadline := time.Now().Add(s.cfg.Timeout)
	for {
		lag, err := consumer.AppliedLag(ctx, s.cfg.Brokers, s.topic, s.st.Batches)
		if err == nil && lag == 0 {
			now := time.Now()
			if at.applied.IsZero() {
				at.applied = now
			}
			var dirty int64
			if dirty, _, err = s.st.Dirty.Backlog(ctx); err == nil && dirty == 0 {
				at.rescored = now
				return at, nil
			}
		}
		if err := c.alive(); err != nil {
			return at, err
		}
		if time.Now().After(deadline) {
			return at, fmt.Errorf("not caught up after %s (applied lag %d, last error %v); serve's log:\n%s", s.cfg.Timeout, lag, err, c.logTail(20))
		}
		select {
		case <-ctx.Done():
			return at, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// produce publishes events with replay.Run, the producer of `alsobought
// replay` (keyed by customer, murmur2, acks=all), at rate (0: as fast as
// the broker takes them).
func (s *state) produce(ctx context.Context, evs []event.Event, rate float64) (replay.Stats, error) {
	return replay.Run(ctx, replay.Config{Brokers: s.cfg.Brokers, Topic: s.topic, Rate: rate}, evs)
}

// selfCPU is this process's CPU time (the producer's, mostly).
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// perMillion scales a cost over n events to a million events.
func perMillion(v float64, n int) float64 { return v / float64(n) * 1e6 }

// distinct counts the customers and items of a stream.
func distinct(evs []event.Event) (customers, items, purchases int) {
	cs, is := map[string]struct{}{}, map[string]struct{}{}
	for _, e := range evs {
		cs[e.CustomerID] = struct{}{}
		is[e.ItemID] = struct{}{}
		if e.Type == event.Purchase {
			purchases++
		}
	}
	return len(cs), len(is), purchases
}
