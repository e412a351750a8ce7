package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/lab/bench"
	"github.com/alsobought/alsobought/internal/lab/synth"
	"github.com/alsobought/alsobought/scoring"
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

	// The growth mode (-sample-every): memory and keys over a long stream.
	churn        bool
	itemTurnover float64
	sampleEvery  time.Duration
	plot         string
}

// shared are the shared settings the bench reads: those that shape the
// pipeline it measures, which its serve child runs with (serveSettings).
// The names (topic, prefix, group, HTTP address) are the bench's own.
func (c *benchCmd) shared(s *settings) []config.Group {
	return []config.Group{s.kafkaOnly(&s.partitions), s.redis().Only(append([]any{&s.redisAddrs, &s.redisMode, &s.redisMaster}, s.redisSec.targets()...)...), s.consumer().Only(&s.partitioner, &s.ageingEvery, &s.tombstoneTTL),
		s.histories(), s.lists(), s.events(), s.dedupGroup(), s.rescore(), s.recommend(), s.lag()}
}

func (c *benchCmd) settings(s *settings) []config.Group {
	return append(c.shared(s), c.data.group(false), config.Group{Name: "Bench", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "synthetic", Help: "generate this many synthetic events instead of reading -data (Zipf items, heavy-tailed customers, 95% views)", Value: config.Int(&c.synthetic, 0, 0, math.MaxInt)},
		{Flag: "seed", Help: "seed of the -synthetic stream", Value: config.Uint64(&c.seed, 1)},
		{Flag: "synthetic-days", Help: "span of the -synthetic stream's event time, in days", Value: config.Int(&c.days, 30, 1, math.MaxInt)},
		{Flag: "churn", Help: "make the -synthetic stream a shop's over time: the same events every day, customers arriving every day and leaving after weeks to months (a few after years)",
			Value: config.Bool(&c.churn, false)},
		{Flag: "item-turnover", Help: "with -churn, the share of the catalogue replaced every day (items leave, new ones take their popularity)",
			Value: config.Float(&c.itemTurnover, 0, "a number of 0 or more, below 1", func(f float64) bool { return f >= 0 && f < 1 })},
		{Flag: "sample-every", Help: "growth mode: stream the events one interval of event time at a time (e.g. 24h), each applied and re-scored before Redis memory and keys are sampled, instead of the sustained and paced phases; prints CSV, or JSON with -json (0: off)",
			Value: config.Duration(&c.sampleEvery, 0, 0)},
		{Flag: "plot", Help: "with -sample-every, also draw this run and the growth reports (-json output files) given as arguments in one chart, a .png or .svg file; with neither -data nor -synthetic, draw only those",
			Value: config.Text(&c.plot, "", "a file name ending in .png or .svg", func(v string) error {
				if ext := filepath.Ext(v); v != "" && ext != ".png" && ext != ".svg" {
					return errors.New("not .png or .svg")
				}
				return nil
			})},
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
		{Flag: "serve-binary", Help: "the alsobought binary that runs serve (default: this one)", Value: config.String(&c.serveBinary, "", "a path to an alsobought binary (empty: this one)")},
		{Flag: "quiet", Help: "no progress lines on stderr", Value: config.Bool(&c.quiet, false)},
	}})
}

func (c *benchCmd) run(ctx context.Context, s *settings, args []string, stdout, stderr io.Writer) error {
	if c.plot != "" && c.data.path == "" && c.synthetic <= 0 {
		return c.plotOnly(args)
	}
	if err := c.check(args); err != nil {
		return err
	}
	earlier, err := readGrowthReports(args)
	if err != nil {
		return err
	}
	cfg := bench.Config{
		Store: s.storeConfig(), Partitions: s.partitions,
		StateSettings: s.stateSettings(), RowIndexSupport: s.rowIndexSupport(), Oracle: s.oracleSettings(), Method: scoring.Method(s.method), Rules: s.listRules(),
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
		evs, err = synth.Generate(synth.Config{Events: c.synthetic, Seed: c.seed, Days: c.days, Churn: c.churn, ItemTurnover: c.itemTurnover})
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		name = fmt.Sprintf("synthetic %d events, seed %d, %d days", c.synthetic, c.seed, c.days)
		if c.churn {
			name += ", churn"
		}
		if c.itemTurnover > 0 {
			name += fmt.Sprintf(", item turnover %g a day", c.itemTurnover)
		}
	} else {
		var err error
		if evs, err = c.data.load(s); err != nil {
			return err
		}
		name = c.data.path
	}

	if c.sampleEvery > 0 {
		rep, err := bench.RunGrowth(ctx, cfg, name, evs, c.sampleEvery)
		if err != nil {
			return err
		}
		rep.Label = "history-max-age=" + config.FormatDuration(s.historyAge)
		if s.historyAge == 0 {
			rep.Label = "history-max-age=0 (off)"
		}
		if c.plot != "" {
			if err := bench.WriteGrowthPlot(c.plot, append(earlier, rep)); err != nil {
				return err
			}
		}
		if c.asJSON {
			return writeJSON(stdout, rep)
		}
		return bench.WriteGrowthCSV(stdout, rep)
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

// check refuses the combinations of flags that mean nothing.
func (c *benchCmd) check(args []string) error {
	switch {
	case (c.data.path == "") == (c.synthetic <= 0):
		return usageErr("give either -data (with -format) or -synthetic N, with N > 0 (or only -plot and growth reports to draw)")
	case (c.churn || c.itemTurnover > 0) && c.synthetic <= 0:
		return usageErr("-churn and -item-turnover shape the -synthetic stream")
	case c.itemTurnover > 0 && !c.churn:
		return usageErr("-item-turnover needs -churn")
	case c.sampleEvery > 0 && (c.incremental || c.hides > 0):
		return usageErr("-sample-every is a mode of its own: not with -incremental or -hides")
	case c.plot != "" && c.sampleEvery <= 0:
		return usageErr("-plot draws growth runs: give -sample-every")
	case len(args) > 0 && c.plot == "":
		return usageErr("growth reports as arguments are drawn with -plot")
	}
	return nil
}

// plotOnly draws earlier growth runs, read from their -json output.
func (c *benchCmd) plotOnly(args []string) error {
	if len(args) == 0 {
		return usageErr("-plot without -data or -synthetic draws the growth reports given as arguments: give at least one")
	}
	runs, err := readGrowthReports(args)
	if err != nil {
		return err
	}
	return bench.WriteGrowthPlot(c.plot, runs)
}

// readGrowthReports reads growth runs saved with -sample-every -json.
func readGrowthReports(paths []string) ([]bench.GrowthReport, error) {
	var runs []bench.GrowthReport
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("growth report: %w", err)
		}
		var r bench.GrowthReport
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("growth report %s: %w", p, err)
		}
		if len(r.Samples) == 0 {
			return nil, fmt.Errorf("growth report %s has no samples: is it the -json output of bench -sample-every?", p)
		}
		runs = append(runs, r)
	}
	return runs, nil
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
