// Package bench measures the pipeline end to end against the real broker
// and Redis: how many events per second it sustains from produce to
// re-scored lists, what each event costs in Redis commands, bytes and
// consumer CPU, how fresh the lists are at a load below saturation, and
// how much Redis memory a customer and an item take. RunIncremental
// compares applying the last day of events with rebuilding everything
// from scratch (what `alsobought bootstrap` does). RunGrowth applies a long
// stream one interval of event time at a time and samples Redis memory and
// keys after each, to show whether the state stops growing (bounded state).
//
// Every run works on its own scratch state (package scratch: fresh topics,
// consumer group and key prefix), which it deletes at the end, and runs
// `alsobought serve` as a child process, so other users of the same broker
// and Redis are not disturbed and the consumer's CPU is measured apart
// from the producer's.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/internal/lab/scratch"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// Config of a bench run. Every field must be set (the command fills them
// from its flags).
type Config struct {
	Kafka *kafkaconn.Conn
	// Store says where Redis is, as the command's settings give it; each
	// state the bench makes replaces the prefix with a fresh one.
	Store      store.Config
	Partitions int // of the fresh topic

	// Serve is the command line that starts `alsobought serve` with the
	// shared settings (binary first). The bench appends its own -topic,
	// -dlq-topic, -feed-topic, -group, -prefix, -http, -partitions and log
	// flags, which win over the environment the child inherits.
	Serve []string

	// For RunIncremental's rebuild from scratch, the settings serve uses:
	// StateSettings are those recorded with a state, recorded before the
	// rebuild with the scratch state's topics and RowIndexSupport
	// (store.Meta.EnsureWithRowIndexes), as `alsobought bootstrap` does.
	StateSettings   map[string]string
	RowIndexSupport int64
	Oracle          oracle.Settings
	Method          scoring.Method
	Rules           scoring.ListRules

	// PacedShare is the share of the events (the latest ones) produced at
	// the paced load for the freshness figures; the rest are produced as
	// fast as the broker takes them for the sustained rate.
	PacedShare float64
	// PacedLoad is the paced offered load as a share of the measured
	// sustained rate; PacedRate, when positive, sets it in events per
	// second instead.
	PacedLoad float64
	PacedRate float64

	// MinRescoreWait is serve's -rescore-min-interval: how long a dirty
	// list may gather changes under load (docs/DESIGN.md §4); it tells a
	// paced phase that kept up from one that queued.
	MinRescoreWait time.Duration

	// Hides, when positive, adds a last phase: the items the most lists
	// hold are hidden one at a time through the catalogue topic, and the
	// time until no stored list holds each is measured (HideReport).
	Hides int

	Timeout  time.Duration // for each wait
	Progress io.Writer     // one line per phase; nil for none
}

// Validate checks a configuration.
func (c Config) Validate() error {
	switch {
	case c.Kafka == nil || len(c.Kafka.Brokers()) == 0 || len(c.Store.Addrs) == 0:
		return errors.New("bench needs the Kafka brokers and the Redis address")
	case len(c.Serve) == 0:
		return errors.New("bench needs the serve command line")
	case c.StateSettings == nil:
		return errors.New("bench needs the settings recorded with a state")
	case c.Partitions < 1:
		return fmt.Errorf("partitions %d: must be at least 1", c.Partitions)
	case c.PacedShare <= 0 || c.PacedShare >= 1:
		return fmt.Errorf("paced share %v: must be between 0 and 1 (exclusive)", c.PacedShare)
	case c.PacedLoad <= 0 || c.PacedLoad > 1:
		return fmt.Errorf("paced load %v: must be above 0 and at most 1", c.PacedLoad)
	case c.PacedRate < 0:
		return fmt.Errorf("paced rate %v: must not be negative", c.PacedRate)
	case c.MinRescoreWait <= 0 || c.Timeout <= 0:
		return fmt.Errorf("minimum re-score wait %s and timeout %s: must be positive", c.MinRescoreWait, c.Timeout)
	}
	return nil
}

func (c Config) logf(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench: "+format+"\n", args...)
	}
}

// state is one scratch state the bench measures.
type state struct {
	*scratch.State
	cfg *Config
}

func newState(ctx context.Context, cfg *Config, kind string) (*state, error) {
	s, err := scratch.New(ctx, scratch.Config{Kafka: cfg.Kafka, Store: cfg.Store, Partitions: cfg.Partitions}, "bench-"+kind)
	if err != nil {
		return nil, err
	}
	return &state{State: s, cfg: cfg}, nil
}

// cleanup deletes the state's keys and topics, logging a failure.
func (s *state) cleanup() {
	if err := s.Close(); err != nil {
		s.cfg.logf("%v", err)
	}
}

// serve starts the child serve on this state.
func (s *state) serve(ctx context.Context, feed bool) (*child, error) {
	return startChild(ctx, serveArgs(s.cfg, s.Names, feed), 2*time.Minute)
}

// serveArgs is the child serve's command line. Every name it could write
// to is the scratch state's: the topics, group and prefix of the
// operator's environment, which the child inherits, are overridden.
func serveArgs(cfg *Config, n scratch.Names, feed bool) []string {
	feedTopic := n.FeedTopic
	if !feed {
		feedTopic = "off"
	}
	return append(append([]string(nil), cfg.Serve...),
		"-topic", n.Topic, "-dlq-topic", n.DLQTopic, "-feed-topic", feedTopic, "-catalogue-topic", n.CatalogueTopic,
		"-group", n.Group, "-prefix", n.Prefix,
		"-http", "127.0.0.1:0", "-partitions", strconv.Itoa(cfg.Partitions), "-log-format", "json", "-log-level", "info")
}

// waitCaughtUp waits, polling every 25 ms, until serve has applied every
// produced event and re-scored every dirty list, and records both moments.
func (s *state) waitCaughtUp(ctx context.Context, c *child) (replay.CaughtUp, error) {
	at, err := replay.Wait{Kafka: s.cfg.Kafka, Topic: s.Topic, Timeout: s.cfg.Timeout, Alive: c.alive}.Run(ctx, replay.StateOf(s.Store))
	if err != nil && ctx.Err() == nil && c.alive() == nil {
		err = fmt.Errorf("%w; serve's log:\n%s", err, c.logTail(20))
	}
	return at, err
}

// produce publishes events with replay.Run, the producer of `alsobought
// replay` (keyed by customer, murmur2, acks=all), at rate (0: as fast as
// the broker takes them).
func (s *state) produce(ctx context.Context, evs []event.Event, rate float64) (replay.Stats, error) {
	return replay.Run(ctx, replay.Config{Kafka: s.cfg.Kafka, Topic: s.Topic, Rate: rate}, evs)
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
func perMillion(v float64, n int) Figure { return Figure(v / float64(n) * 1e6) }

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
