package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/bench"
	"github.com/alsobought/alsobought/internal/lab/synth"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// runBench measures the pipeline end to end on a fresh topic and prefix
// (package bench does the measuring; this wires flags and output).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("bench", stderr)
	var d dataFlags
	d.register(fs)
	synthetic := fs.Int("synthetic", 0, "generate this many synthetic events instead of reading -data (Zipf items, heavy-tailed customers, 95% views)")
	seed := fs.Uint64("seed", 1, "seed of the -synthetic stream")
	days := fs.Int("synthetic-days", 30, "span of the -synthetic stream's event time, in days")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	incremental := fs.Bool("incremental", false, "compare applying the last day of events through serve with rebuilding every list from scratch (bootstrap)")
	pacedShare := fs.Float64("paced-share", 0.25, "share of the events (the latest) produced at the paced load for the freshness figures")
	pacedLoad := fs.Float64("paced-load", 0.5, "paced offered load, as a share of the measured sustained rate")
	pacedRate := fs.Float64("paced-rate", 0, "paced offered load in events/s (overrides -paced-load)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up waiting for serve to catch up after this long")
	serveBinary := fs.String("serve-binary", "", "the alsobought binary that runs serve (default: this one)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := parse(fs, s, args); err != nil {
		return err
	}
	if (d.path == "") == (*synthetic <= 0) {
		return &exitError{code: 2, msg: "bench: give either -data (with -format) or -synthetic N, with N > 0"}
	}
	if *synthetic > 0 && *days < 1 {
		return &exitError{code: 2, msg: fmt.Sprintf("-synthetic-days %d: must be at least 1", *days)}
	}
	cfg := bench.Config{
		Brokers: s.brokerList(), Store: s.storeConfig(), Partitions: s.partitions,
		Oracle: s.oracleSettings(), Method: scoring.Method(s.method), Rules: s.listRules(),
		PacedShare: *pacedShare, PacedLoad: *pacedLoad, PacedRate: *pacedRate, MinRescoreWait: max(s.minInterval, 200*time.Millisecond), Timeout: *timeout,
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	bin := *serveBinary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary to run serve: %w (pass -serve-binary)", err)
		}
		bin = exe
	}
	if s.storeConfig().Mode == store.Cluster {
		// Its Redis figures come from one server's INFO and MEMORY USAGE.
		return &exitError{code: 2, msg: "bench measures a single Redis (-redis-mode single); docs/SCALING.md measures the cluster"}
	}
	cfg.Serve = append([]string{bin, "serve"}, serveSettings(fs)...)
	if err := cfg.Validate(); err != nil {
		return &exitError{code: 2, msg: "bench: " + err.Error()}
	}

	var evs []event.Event
	var name string
	if *synthetic > 0 {
		var err error
		evs, err = synth.Generate(synth.Config{Events: *synthetic, Seed: *seed, Days: *days})
		if err != nil {
			return &exitError{code: 2, msg: err.Error()}
		}
		name = fmt.Sprintf("synthetic %d events, seed %d, %d days", *synthetic, *seed, *days)
	} else {
		var err error
		if evs, err = d.load(s); err != nil {
			return err
		}
		name = d.path
	}

	if *incremental {
		rep, err := bench.RunIncremental(ctx, cfg, name, evs)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, rep)
		}
		return bench.WriteIncrementalTable(stdout, rep)
	}
	rep, err := bench.Run(ctx, cfg, name, evs)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, rep)
	}
	return bench.WriteTable(stdout, rep)
}

// childServeFlags are the shared settings a child serve runs with, so that
// it shapes the state the way this command was configured. The bench adds
// the names of its scratch state (topics, group, prefix), the HTTP address
// and the log flags.
var childServeFlags = []string{"brokers", "redis", "redis-mode", "history-size", "view-history-size", "list-size",
	"min-support", "scorer", "sweep-interval", "rescore-min-interval", "min-event-time", "max-event-skew",
	"dedup-window", "dedup-max", "key-partitioner", "keep-owned", "lag-interval", "lag-samples"}

// serveSettings are childServeFlags with their values in fs, parsed.
func serveSettings(fs *flag.FlagSet) []string {
	args := make([]string, 0, len(childServeFlags))
	for _, name := range childServeFlags {
		args = append(args, "-"+name+"="+fs.Lookup(name).Value.String())
	}
	return args
}

// writeJSON prints one indented JSON object, as every -json flag does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
