package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/lab/bench"
	"github.com/alsobought/alsobought/internal/lab/synth"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// benchCmd is `alsobought bench`: it measures the pipeline end to end on a
// fresh topic and prefix (package bench does the measuring; this wires
// settings and output).
type benchCmd struct {
	data        dataFlags
	synthetic   int
	seed        uint64
	days        int
	asJSON      bool
	incremental bool
	pacedShare  float64
	pacedLoad   float64
	pacedRate   float64
	timeout     time.Duration
	hides       int
	serveBinary string
	quiet       bool
}

// shared are the shared settings the bench reads: those that shape the
// pipeline it measures, which its serve child runs with (serveSettings).
// The names (topic, prefix, group, HTTP address) are the bench's own.
func (c *benchCmd) shared(s *settings) []config.Group {
	return []config.Group{s.kafkaOnly(&s.partitions), s.redis().Only(append([]any{&s.redisAddrs, &s.redisMode, &s.redisMaster}, s.redisSec.targets()...)...), s.consumer().Only(&s.partitioner),
		s.histories(), s.lists(), s.events(), s.dedupGroup(), s.rescore(), s.recommend(), s.lag()}
}

func (c *benchCmd) settings(s *settings) []config.Group {
	return append(c.shared(s), c.data.group(false), config.Group{Name: "Bench", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "synthetic", Help: "generate this many synthetic events instead of reading -data (Zipf items, heavy-tailed customers, 95% views)", Value: config.Int(&c.synthetic, 0, 0, math.MaxInt)},
		{Flag: "seed", Help: "seed of the -synthetic stream", Value: config.Uint64(&c.seed, 1)},
		{Flag: "synthetic-days", Help: "span of the -synthetic stream's event time, in days", Value: config.Int(&c.days, 30, 1, math.MaxInt)},
		{Flag: "json", Help: "print one JSON object instead of a table", Value: config.Bool(&c.asJSON, false)},
		{Flag: "incremental", Help: "compare applying the last day of events through serve with rebuilding every list from scratch (bootstrap)", Value: config.Bool(&c.incremental, false)},
		{Flag: "paced-share", Help: "share of the events (the latest) produced at the paced load for the freshness figures",
			Value: config.Float(&c.pacedShare, 0.25, "a number between 0 and 1, exclusive", func(f float64) bool { return f > 0 && f < 1 })},
		{Flag: "paced-load", Help: "paced offered load, as a share of the measured sustained rate",
			Value: config.Float(&c.pacedLoad, 0.5, "a number above 0 and at most 1", func(f float64) bool { return f > 0 && f <= 1 })},
		{Flag: "paced-rate", Help: "paced offered load in events/s (overrides -paced-load; 0: use -paced-load)",
			Value: config.Float(&c.pacedRate, 0, "a number of 0 or more", func(f float64) bool { return f >= 0 })},
		{Flag: "hides", Help: "after the paced phase, hide this many of the items the most lists hold, one at a time, through the catalogue topic, and measure until no list holds each (0: no hide phase)",
			Value: config.Int(&c.hides, 0, 0, 10000)},
		{Flag: "timeout", Help: "give up waiting for serve to catch up after this long", Value: config.Duration(&c.timeout, 30*time.Minute, time.Nanosecond)},
		{Flag: "serve-binary", Help: "the alsobought binary that runs serve (default: this one)", Value: config.String(&c.serveBinary, "")},
		{Flag: "quiet", Help: "no progress lines on stderr", Value: config.Bool(&c.quiet, false)},
	}})
}

func (c *benchCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	if (c.data.path == "") == (c.synthetic <= 0) {
		return usageErr("give either -data (with -format) or -synthetic N, with N > 0")
	}
	cfg := bench.Config{
		Store: s.storeConfig(), Partitions: s.partitions,
		Oracle: s.oracleSettings(), Method: scoring.Method(s.method), Rules: s.listRules(),
		PacedShare: c.pacedShare, PacedLoad: c.pacedLoad, PacedRate: c.pacedRate, MinRescoreWait: max(s.minInterval, 200*time.Millisecond), Timeout: c.timeout,
		Hides: c.hides,
	}
	if !c.quiet {
		cfg.Progress = stderr
	}
	bin := c.serveBinary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary to run serve: %w (pass -serve-binary)", err)
		}
		bin = exe
	}
	if s.storeConfig().Mode == store.Cluster {
		// Its Redis figures come from one server's INFO and MEMORY USAGE.
		return usageErr("bench measures a single Redis (-redis-mode single); docs/SCALING.md measures the cluster")
	}
	var err error
	if cfg.Kafka, err = s.kafkaConn(); err != nil {
		return err
	}
	cfg.Serve = append([]string{bin, "serve"}, serveSettings(c.shared(s))...)
	if err := cfg.Validate(); err != nil {
		return usageErr("%v", err)
	}

	var evs []event.Event
	var name string
	if c.synthetic > 0 {
		var err error
		evs, err = synth.Generate(synth.Config{Events: c.synthetic, Seed: c.seed, Days: c.days})
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		name = fmt.Sprintf("synthetic %d events, seed %d, %d days", c.synthetic, c.seed, c.days)
	} else {
		var err error
		if evs, err = c.data.load(s); err != nil {
			return err
		}
		name = c.data.path
	}

	if c.incremental {
		rep, err := bench.RunIncremental(ctx, cfg, name, evs)
		if err != nil {
			return err
		}
		if c.asJSON {
			return writeJSON(stdout, rep)
		}
		return bench.WriteIncrementalTable(stdout, rep)
	}
	rep, err := bench.Run(ctx, cfg, name, evs)
	if err != nil {
		return err
	}
	if c.asJSON {
		return writeJSON(stdout, rep)
	}
	return bench.WriteTable(stdout, rep)
}

// serveSettings are the flags that give a serve child the values of the
// settings in groups, so that it shapes the state the way this command was
// configured. (-name=value: an empty value, never one of these, would take
// the next argument.)
func serveSettings(groups []config.Group) []string {
	var args []string
	for _, g := range groups {
		for _, st := range g.Settings {
			if v := st.Value.String(); v != "" {
				args = append(args, "-"+st.Flag+"="+v)
			}
		}
	}
	return args
}

// writeJSON prints one indented JSON object, as every -json flag does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
