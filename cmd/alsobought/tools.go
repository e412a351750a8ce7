package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/term"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/catalogue"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/lab/bootstrap"
	"github.com/alsobought/alsobought/internal/lab/dataset"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/internal/lab/verify"
	"github.com/alsobought/alsobought/internal/redisguard"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// dataFlags are the options of the commands that read a data set.
type dataFlags struct {
	path   string
	format dataset.Format
}

// group declares them; bench reads -data or generates events, so there it
// is optional.
func (d *dataFlags) group(required bool) config.Group {
	return config.Group{Name: "Data", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "data", Help: "data file (gzip is read directly)", Value: config.String(&d.path, "", "a file, gzip or not"), Required: required},
		{Flag: "format", Help: "data format", Value: config.Parse(&d.format, string(dataset.Events), config.Words(dataset.Formats()...), "string",
			dataset.ParseFormat, func(f dataset.Format) string { return string(f) })},
	}}
}

func (d *dataFlags) load(s *settings) ([]event.Event, error) {
	evs, err := dataset.Load(d.path, d.format, s.limits())
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", d.path, err)
	}
	return evs, nil
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
		return nil, s.redisUnreachable(err)
	}
	return st, nil
}

// newRescorer is the re-scorer of the commands: with the feed on, its list
// changes wait in the outbox for a serve process to publish.
func newRescorer(s *settings, st *store.Store) (*rescore.Rescorer, error) {
	return rescore.New(s.rescoreConfig(nil), rescore.StateOf(st), zerolog.Nop(), nil)
}

// replayCmd is `alsobought replay`.
type replayCmd struct {
	data        dataFlags
	rate        float64
	wait        bool
	waitTimeout time.Duration
	quiet       bool
}

func (c *replayCmd) settings(s *settings) []config.Group {
	redis := s.redis()
	redis.Note = "with -wait"
	return []config.Group{s.kafka(), redis, s.events(), c.data.group(true), {Name: "Replay", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "rate", Help: "events per second (0: as fast as the broker takes them)", Value: config.Float(&c.rate, 0, "a number of 0 or more", func(f float64) bool { return f >= 0 })},
		{Flag: "wait", Help: "after producing, wait until Redis has applied every event and re-scored every dirty list, and report the end-to-end rate", Value: config.Bool(&c.wait, false)},
		{Flag: "wait-timeout", Help: "give up waiting after this long", Value: config.Duration(&c.waitTimeout, 10*time.Minute, time.Nanosecond)},
		{Flag: "quiet", Help: "no progress bar", Value: config.Bool(&c.quiet, false)},
	}}}
}

func (c *replayCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	evs, err := c.data.load(s)
	if err != nil {
		return err
	}
	conn, err := s.kafkaConn()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, startupTimeout)
	err = ensureTopics(cctx, s, conn)
	cancel()
	if err != nil {
		return err
	}
	cfg := replay.Config{Kafka: conn, Topic: s.topic, Rate: c.rate}
	if !c.quiet && isTerminal(stderr) {
		// A bar redraws itself: into a log file it would only pile up lines.
		cfg.Progress = stderr
	}
	var (
		st        *store.Store
		evictions *redisguard.Evictions
	)
	if c.wait {
		// Evictions are counted from before the first event is produced:
		// serve applies them while this produces.
		if st, err = openStore(ctx, s); err != nil {
			return err
		}
		defer st.Close()
		if evictions, err = redisguard.NewEvictions(ctx, st.Client()); err != nil {
			fmt.Fprintf(stderr, "warning: cannot watch Redis evictions during the wait (%v); check INFO stats evicted_keys yourself\n", err)
		}
	}
	start := time.Now()
	stats, err := replay.Run(ctx, cfg, evs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d events to %s in %s (%.0f events/s)\n", stats.Events, s.topic,
		stats.Duration.Round(time.Millisecond), float64(stats.Events)/stats.Duration.Seconds())
	if !c.wait {
		return nil
	}
	if err := waitApplied(ctx, s, conn, st, c.waitTimeout, evictions); err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "applied and re-scored in %s from the start of the replay (%.0f events/s end to end)\n",
		took.Round(time.Millisecond), float64(stats.Events)/took.Seconds())
	return nil
}

// waitApplied waits until the state has applied every message on the topic
// and no list is dirty. It fails as soon as Redis has evicted keys since
// evictions' baseline (nil: not watched): the state has lost data and
// catching up cannot make it right.
func waitApplied(ctx context.Context, s *settings, conn *kafkaconn.Conn, st *store.Store, timeout time.Duration, evictions *redisguard.Evictions) error {
	w := replay.Wait{Kafka: conn, Topic: s.topic, Timeout: timeout, Poll: 100 * time.Millisecond}
	if evictions != nil {
		w.Guard = evictions.Error
	}
	_, err := w.Run(ctx, replay.StateOf(st))
	switch {
	case errors.Is(err, redisguard.ErrEvicted):
		return &exitError{code: 1, msg: err.Error()}
	case err != nil && ctx.Err() == nil:
		return fmt.Errorf("%w: is `alsobought serve` running?", err)
	}
	return err
}

// rescoreCmd is `alsobought rescore`.
type rescoreCmd struct{ all, adopt, countIndexed bool }

func (c *rescoreCmd) settings(s *settings) []config.Group {
	return []config.Group{s.redis(), s.lists(), s.kafka().Only(&s.feedTopic), {Name: "Re-score", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "all", Help: "recompute every list", Value: config.Bool(&c.all, false)},
		{Flag: "adopt-list-settings", Help: "with -all: move the state to the configured list size, min support and scorer (stop serve first)", Value: config.Bool(&c.adopt, false)},
		{Flag: "count-indexed-co-counts", Help: "alone: give the rows of a state recorded before they counted the co-counts their index names those counts, so that a row without candidates is not re-scored for its histogram (stop every serve first, start them after)", Value: config.Bool(&c.countIndexed, false)},
	}}}
}

func (c *rescoreCmd) run(ctx context.Context, s *settings, items []string, stdout, stderr io.Writer) error {
	if c.countIndexed {
		if c.all || c.adopt || len(items) > 0 {
			return usageErr("-count-indexed-co-counts runs alone: give no -all, -adopt-list-settings or item ids")
		}
		return countIndexedCoCounts(ctx, s, stdout)
	}
	if !c.all && len(items) == 0 {
		return usageErr("give -all or item ids")
	}
	if c.adopt && !c.all {
		return usageErr("-adopt-list-settings needs -all: every list must be rewritten under the new settings")
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	if !c.adopt {
		if err := st.Meta.Ensure(ctx, s.listSettings()); err != nil {
			return &exitError{code: 1, msg: err.Error()}
		}
	}
	rs, err := newRescorer(s, st)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	start := time.Now()
	if c.all {
		n, err := rs.RescoreAll(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "re-scored %d lists in %s\n", n, time.Since(start).Round(time.Millisecond))
		if c.adopt {
			if err := st.Meta.AdoptListSettings(ctx, s.listSettings()); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "the state now records the configured list settings")
		}
		return nil
	}
	for _, kind := range store.ListKinds() {
		if err := rs.Rescore(ctx, kind, items); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "re-scored the lists of %d items\n", len(items))
	return nil
}

// countIndexedCoCounts is `alsobought rescore -count-indexed-co-counts`
// (store.Meta.CountIndexedCoCounts).
func countIndexedCoCounts(ctx context.Context, s *settings, stdout io.Writer) error {
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	n, err := st.Meta.CountIndexedCoCounts(ctx)
	switch {
	case errors.Is(err, store.ErrNoRowIndexes):
		return &exitError{code: 1, msg: fmt.Sprintf("%v under Redis key prefix %q: nothing to count (docs/operations.md, \"Row indexes after an upgrade\")", err, s.prefix)}
	case err != nil:
		return err
	case n == 0:
		fmt.Fprintln(stdout, "the state's rows count their indexed co-counts already")
	default:
		fmt.Fprintf(stdout, "counted the indexed co-counts of %d rows in %s; the state now records that its rows count them: start serve again\n", n, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// relatedCmd is `alsobought related`.
type relatedCmd struct {
	k    int
	list store.ListKind
}

func (c *relatedCmd) settings(s *settings) []config.Group {
	return []config.Group{s.redis(), {Name: "Related", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "k", Help: "items to show", Value: config.Int(&c.k, 10, 1, math.MaxInt)},
		{Flag: "list", Help: "which list", Value: config.Parse(&c.list, string(store.Bought), config.Words(store.ListKinds()...), "string",
			store.ParseListKind, func(k store.ListKind) string { return string(k) })},
	}}}
}

func (c *relatedCmd) run(ctx context.Context, s *settings, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usageErr("give exactly one item id")
	}
	kind, item := c.list, args[0]
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := st.Lists.Read(ctx, kind, item)
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
		if i == c.k {
			break
		}
		fmt.Fprintf(tw, "%d\t%s\t%.4f\t%d\n", i+1, r.Item, r.Score, r.Support)
	}
	return tw.Flush()
}

// verifyCmd is `alsobought verify`.
type verifyCmd struct {
	data      dataFlags
	catalogue string
	asOf      time.Time
	erased    string
}

func (c *verifyCmd) settings(s *settings) []config.Group {
	return []config.Group{s.redis(), s.histories(), s.lists(), s.events(), s.dedupGroup(), c.data.group(true),
		{Name: "Catalogue", FlagsOnly: true, Settings: []config.Setting{
			{Flag: "catalogue", Help: "product feed (CSV or JSON lines, as `catalogue load` reads) the catalogue in Redis must hold; the lists are then checked against it. Without it, the records in Redis are taken as given and the lists are checked against them",
				Value: config.String(&c.catalogue, "", "a feed file, CSV or JSON lines (empty: the records in Redis)")},
			{Flag: "as-of", Help: "the instant availability windows are judged at (RFC 3339; default: now); choose it away from any window edge the state may not have caught up with",
				Value: config.Parse(&c.asOf, "", "an RFC 3339 time", "time", parseAsOf, formatAsOf)},
		}},
		{Name: "Erasure", FlagsOnly: true, Settings: []config.Setting{
			{Flag: "erased", Help: "customers erased from the state (`alsobought forget`), comma-separated: the oracle leaves out their events, and the aggregates that cannot be attributed (repeat counts, the items' purchase statistics, popularity lists) are not compared",
				Value: config.String(&c.erased, "", "customer ids, comma-separated (empty: none)")},
		}}}
}

func parseAsOf(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339, v)
}

func formatAsOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

func (c *verifyCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	evs, st, err := c.data.loadAndOpen(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	erased := map[string]bool{}
	for id := range strings.SplitSeq(c.erased, ",") {
		if id = strings.TrimSpace(id); id != "" {
			erased[id] = true
		}
	}
	if len(erased) > 0 {
		kept := evs[:0:0]
		for _, e := range evs {
			if !erased[e.CustomerID] {
				kept = append(kept, e)
			}
		}
		fmt.Fprintf(stdout, "erased: %d customers, %d of their events left out; repeat counts and popularity not compared\n", len(erased), len(evs)-len(kept))
		evs = kept
	}
	want := oracle.Build(evs, s.oracleSettings())
	got, err := st.State.Snapshot(ctx)
	if err != nil {
		return err
	}
	asOf := c.asOf
	if asOf.IsZero() {
		asOf = time.Now()
	}
	if c.catalogue != "" {
		format := catalogue.FormatOf(c.catalogue)
		feed, err := catalogue.ReadFile(c.catalogue, format, s.limits())
		if err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("read %s: %v", c.catalogue, err)}
		}
		recs := make([]store.CatalogueRecord, len(feed.Items))
		for i := range feed.Items {
			recs[i] = store.CatalogueRecord{Item: feed.Items[i].ID, Record: &feed.Items[i]}
		}
		want.WithCatalogue(recs, asOf)
	} else if len(got.Catalogue) > 0 {
		recs := make([]store.CatalogueRecord, 0, len(got.Catalogue))
		for id := range got.Catalogue {
			rec := got.Catalogue[id]
			recs = append(recs, store.CatalogueRecord{Item: id, Record: &rec})
		}
		want.WithCatalogue(recs, asOf)
		fmt.Fprintf(stdout, "catalogue: the %d records in Redis taken as given (-catalogue checks them too)\n", len(recs))
	}
	compare := verify.Compare
	if len(erased) > 0 {
		compare = verify.CompareAttributable
	}
	report := compare(want, got, scoring.Method(s.method), s.listRules())
	fmt.Fprint(stdout, report.String())
	if !report.OK() {
		return &exitError{code: 1, msg: "state differs from the oracle"}
	}
	fmt.Fprintln(stdout, "OK: Redis matches the oracle")
	return nil
}

// bootstrapCmd is `alsobought bootstrap`.
type bootstrapCmd struct {
	data          dataFlags
	continueAtEnd bool
}

func (c *bootstrapCmd) settings(s *settings) []config.Group {
	return []config.Group{s.kafkaOnly(&s.topic, &s.feedTopic), s.redis(), s.histories(), s.lists(), s.events(), s.dedupGroup(),
		c.data.group(true), {Name: "Bootstrap", FlagsOnly: true, Settings: []config.Setting{
			{Flag: "continue-at-end", Help: "record the topic's current end offsets as progress, so streaming continues with events published after the bootstrap (the data file stands for everything before)",
				Value: config.Bool(&c.continueAtEnd, true)},
		}}}
}

func (c *bootstrapCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	var conn *kafkaconn.Conn // for the end offsets, built first: a mistake stops the bootstrap before it starts
	if c.continueAtEnd {
		var err error
		if conn, err = s.kafkaConn(); err != nil {
			return err
		}
	}
	evs, st, err := c.data.loadAndOpen(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	empty, err := st.State.IsEmpty(ctx)
	if err != nil {
		return err
	}
	if !empty {
		return &exitError{code: 1, msg: fmt.Sprintf("bootstrap needs an empty state, but prefix %q already holds one: use another ALSOBOUGHT_REDIS_PREFIX or delete it first", s.prefix)}
	}
	// Bootstrap is how a state lost to evictions is rebuilt
	// (docs/runbook.md): not into a Redis that may evict again.
	if err := refuseEvicting(ctx, st); err != nil {
		return err
	}
	if err := st.Meta.EnsureWithRowIndexes(ctx, s.stateSettings(), s.rowIndexSupport()); err != nil {
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
	if c.continueAtEnd {
		ends, err := kafkaadmin.EndOffsets(ctx, conn, s.topic)
		if err != nil {
			return fmt.Errorf("read the topic's end offsets for the progress markers: %w (or pass -continue-at-end=false)", err)
		}
		progress := make(map[int]int64, len(ends))
		for p, end := range ends {
			progress[p] = end - 1
		}
		if err := st.State.SetProgress(ctx, progress); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "bootstrapped %d customers and %d lists from %d events in %s\n",
		res.Customers, res.Lists, len(evs), time.Since(start).Round(time.Millisecond))
	return nil
}

// refuseEvicting refuses a Redis whose maxmemory-policy may evict keys,
// as serve does at start-up (docs/DESIGN.md section 5); a Redis that does
// not let its settings be read is not refused.
func refuseEvicting(ctx context.Context, st *store.Store) error {
	g, err := redisguard.New(redisguard.Config{}, st.Client(), zerolog.Nop(), nil)
	if err != nil {
		return err
	}
	if err := g.Start(ctx); err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	return nil
}

// isTerminal says whether w is a terminal a progress bar can redraw in.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
