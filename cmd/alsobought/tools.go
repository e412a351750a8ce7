package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/lab/bootstrap"
	"github.com/alsobought/alsobought/internal/lab/dataset"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/internal/lab/verify"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// dataFlags are the flags of the commands that read a data set.
type dataFlags struct {
	path, format string
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.path, "data", "", "data file (gzip is read directly)")
	fs.StringVar(&d.format, "format", "events", "data format: dunnhumby, yoochoose, movielens or events")
}

func (d *dataFlags) load(s *settings) ([]event.Event, error) {
	if d.path == "" {
		return nil, &exitError{code: 2, msg: "-data is required: the path of a data file"}
	}
	f, err := dataset.ParseFormat(d.format)
	if err != nil {
		return nil, &exitError{code: 2, msg: "-format: " + err.Error()}
	}
	lim := s.limits()
	evs, err := dataset.Load(d.path, f, lim)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", d.path, err)
	}
	return evs, nil
}

// newFlags returns a subcommand's flag set with the shared settings on it.
func newFlags(name string, stderr io.Writer) (*flag.FlagSet, *settings) {
	s := &settings{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	s.register(fs)
	return fs, s
}

// loadAndOpen loads the data set, then connects to Redis.
func (d *dataFlags) loadAndOpen(ctx context.Context, s *settings) ([]event.Event, *store.Store, error) {
	evs, err := d.load(s)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, s)
	return evs, st, err
}

func openStore(ctx context.Context, s *settings) (*store.Store, error) {
	st, err := store.New(s.storeConfig())
	if err != nil {
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	pctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := st.Ping(pctx); err != nil {
		st.Close()
		return nil, &exitError{code: 1, msg: fmt.Sprintf("cannot reach Redis at %s: %v (is it running? `make up` starts a local one)", s.redisAddrs, err)}
	}
	return st, nil
}

// newRescorer is the re-scorer of the commands: with the feed on, its list
// changes wait in the outbox for a serve process to publish.
func newRescorer(s *settings, st *store.Store) (*rescore.Rescorer, error) {
	return rescore.New(s.rescoreConfig(nil), st, zerolog.Nop(), nil)
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("replay", stderr)
	var d dataFlags
	d.register(fs)
	rate := fs.Float64("rate", 0, "events per second (0: as fast as the broker takes them)")
	wait := fs.Bool("wait", false, "after producing, wait until Redis has applied every event and re-scored every dirty list, and report the end-to-end rate")
	waitTimeout := fs.Duration("wait-timeout", 10*time.Minute, "give up waiting after this long")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := parse(fs, s, args); err != nil {
		return err
	}
	evs, err := d.load(s)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, startupTimeout)
	err = ensureTopics(cctx, s)
	cancel()
	if err != nil {
		return err
	}
	cfg := replay.Config{Brokers: s.brokerList(), Topic: s.topic, Rate: *rate}
	if !*quiet {
		cfg.Progress = stderr
	}
	start := time.Now()
	stats, err := replay.Run(ctx, cfg, evs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d events to %s in %s (%.0f events/s)\n", stats.Events, s.topic,
		stats.Duration.Round(time.Millisecond), float64(stats.Events)/stats.Duration.Seconds())
	if !*wait {
		return nil
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := waitApplied(ctx, s, st, *waitTimeout); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "applied and re-scored in %s from the start of the replay (%.0f events/s end to end)\n",
		took.Round(time.Millisecond), float64(stats.Events)/took.Seconds())
	return nil
}

// waitApplied waits until the state has applied every message on the topic
// and no list is dirty.
func waitApplied(ctx context.Context, s *settings, st *store.Store, timeout time.Duration) error {
	_, err := replay.Wait{Brokers: s.brokerList(), Topic: s.topic, Timeout: timeout, Poll: 100 * time.Millisecond}.Run(ctx, st)
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: is `alsobought serve` running?", err)
	}
	return err
}

func runRescore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("rescore", stderr)
	all := fs.Bool("all", false, "recompute every list")
	adopt := fs.Bool("adopt-list-settings", false, "with -all: move the state to the configured list size, min support and scorer (stop serve first)")
	if err := parse(fs, s, args); err != nil {
		return err
	}
	if !*all && fs.NArg() == 0 {
		return &exitError{code: 2, msg: "rescore: give -all or item ids"}
	}
	if *adopt && !*all {
		return &exitError{code: 2, msg: "rescore: -adopt-list-settings needs -all: every list must be rewritten under the new settings"}
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	if !*adopt {
		if err := st.EnsureMeta(ctx, s.listSettings()); err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
	}
	rs, err := newRescorer(s, st)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	start := time.Now()
	if *all {
		n, err := rs.RescoreAll(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "re-scored %d lists in %s\n", n, time.Since(start).Round(time.Millisecond))
		if *adopt {
			if err := st.AdoptListSettings(ctx, s.listSettings()); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "the state now records the configured list settings")
		}
		return nil
	}
	for _, kind := range store.ListKinds() {
		if err := rs.Rescore(ctx, kind, fs.Args()); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "re-scored the lists of %d items\n", fs.NArg())
	return nil
}

func runRelated(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("related", stderr)
	k := fs.Int("k", 10, "items to show")
	list := fs.String("list", string(store.Bought), "which list: bought, viewed or viewed_bought")
	if err := parse(fs, s, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{code: 2, msg: "related: give exactly one item id"}
	}
	kind, err := store.ParseListKind(*list)
	if err != nil {
		return &exitError{code: 2, msg: "-list: " + err.Error()}
	}
	item := fs.Arg(0)
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := st.ReadList(ctx, kind, item)
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(stdout, "no %s list for %s yet\n", kind, item)
		return nil
	}
	if err != nil {
		return err
	}
	title := map[store.ListKind]string{store.Bought: "customers who bought %s also bought",
		store.Viewed: "customers who viewed %s also viewed", store.ViewedBought: "customers who viewed %s bought"}[kind]
	fmt.Fprintf(stdout, title+" (%s, computed %s):\n", item, l.Method, l.ComputedAt.Format(time.RFC3339))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\titem\tscore\tsupport")
	for i, r := range l.Items {
		if i == *k {
			break
		}
		fmt.Fprintf(tw, "%d\t%s\t%.4f\t%d\n", i+1, r.Item, r.Score, r.Support)
	}
	return tw.Flush()
}

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("verify", stderr)
	var d dataFlags
	d.register(fs)
	if err := parse(fs, s, args); err != nil {
		return err
	}
	evs, st, err := d.loadAndOpen(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	want := oracle.Build(evs, s.oracleSettings())
	got, err := st.ReadSnapshot(ctx)
	if err != nil {
		return err
	}
	report := verify.Compare(want, got, scoring.Method(s.method), s.listRules())
	fmt.Fprint(stdout, report.String())
	if !report.OK() {
		return &exitError{code: 1, msg: "state differs from the oracle"}
	}
	fmt.Fprintln(stdout, "OK: Redis matches the oracle")
	return nil
}

func runBootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("bootstrap", stderr)
	var d dataFlags
	d.register(fs)
	startAtEnd := fs.Bool("continue-at-end", true, "record the topic's current end offsets as progress, so streaming continues with events published after the bootstrap (the data file stands for everything before)")
	if err := parse(fs, s, args); err != nil {
		return err
	}
	evs, st, err := d.loadAndOpen(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	empty, err := st.IsEmpty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		return &exitError{code: 1, msg: fmt.Sprintf("bootstrap needs an empty state, but prefix %q already holds one: use another ALSOBOUGHT_REDIS_PREFIX or delete it first", s.prefix)}
	}
	if err := st.EnsureMeta(ctx, s.stateSettings()); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	rs, err := newRescorer(s, st)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	start := time.Now()
	res, err := bootstrap.Run(ctx, evs, s.oracleSettings(), st, rs)
	if err != nil {
		return err
	}
	if *startAtEnd {
		ends, err := kafkaadmin.EndOffsets(ctx, s.brokerList(), s.topic)
		if err != nil {
			return fmt.Errorf("read the topic's end offsets for the progress markers: %w (or pass -continue-at-end=false)", err)
		}
		progress := make(map[int]int64, len(ends))
		for p, end := range ends {
			progress[p] = end - 1
		}
		if err := st.SetProgress(ctx, progress); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "bootstrapped %d customers and %d lists from %d events in %s\n",
		res.Customers, res.Lists, len(evs), time.Since(start).Round(time.Millisecond))
	return nil
}
