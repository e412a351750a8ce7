package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/catalogue"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
)

// catalogueAbout is the longer help of `alsobought catalogue`.
const catalogueAbout = `load FILE publishes a product feed to the catalogue topic, one record per
item keyed by item (docs/events.md, "Catalogue records"): CSV with a header
row naming item_id and any of status, available_from, available_until and
category (other columns are ignored), or JSON lines; gzip is read directly.
Every line is checked first: a feed with an invalid line publishes nothing
(unless -skip-invalid), and the lines are named. -wait waits until serve has
applied every record.

show ITEM prints what the catalogue in Redis says about an item, and
whether it may be recommended now.`

// catalogueCmd is `alsobought catalogue load FILE` and `alsobought
// catalogue show ITEM`.
type catalogueCmd struct {
	format      string
	skipInvalid bool
	wait        bool
	waitTimeout time.Duration
	quiet       bool
}

func (c *catalogueCmd) settings(s *settings) []config.Group {
	redis := s.redis()
	redis.Note = "with show, or load -wait"
	return []config.Group{s.kafka(), redis, s.events(), {Name: "Catalogue", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "format", Help: "feed format of load: csv or jsonl (default: from the file name: .csv, .jsonl or .ndjson, each optionally .gz)",
			Value: config.String(&c.format, "", "csv or jsonl (empty: from the file name)")},
		{Flag: "skip-invalid", Help: "load: publish the valid records of a feed with invalid lines (which are listed) instead of nothing", Value: config.Bool(&c.skipInvalid, false)},
		{Flag: "wait", Help: "load: wait until serve has applied every record published", Value: config.Bool(&c.wait, false)},
		{Flag: "wait-timeout", Help: "load: give up waiting after this long", Value: config.Duration(&c.waitTimeout, 5*time.Minute, time.Nanosecond)},
		{Flag: "quiet", Help: "load: no progress bar", Value: config.Bool(&c.quiet, false)},
	}}}
}

func (c *catalogueCmd) run(ctx context.Context, s *settings, args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || (args[0] != "load" && args[0] != "show") {
		return usageErr("want `catalogue load FILE` or `catalogue show ITEM`")
	}
	if !s.catalogueOn() {
		return usageErr("-catalogue-topic is off: there is no catalogue")
	}
	if args[0] == "show" {
		return c.show(ctx, s, args[1], stdout)
	}
	return c.load(ctx, s, args[1], stdout, stderr)
}

// maxBadLines bounds the invalid lines a load lists.
const maxBadLines = 20

func (c *catalogueCmd) load(ctx context.Context, s *settings, path string, stdout, stderr io.Writer) error {
	format := c.format
	if format == "" {
		if format = catalogue.FormatOf(path); format == "" {
			return usageErr("cannot tell the format of %s from its name: set -format csv or -format jsonl", path)
		}
	}
	feed, err := catalogue.ReadFile(path, format, s.limits())
	if err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("read %s: %v", path, err)}
	}
	for i, b := range feed.Bad {
		if i == maxBadLines {
			fmt.Fprintf(stderr, "... and %d more invalid lines\n", len(feed.Bad)-maxBadLines)
			break
		}
		fmt.Fprintf(stderr, "%s:%v\n", path, b)
	}
	if len(feed.Bad) > 0 && !c.skipInvalid {
		return &exitError{code: 1, msg: fmt.Sprintf("%s has %d invalid lines: nothing published (fix them, or publish the %d valid records with -skip-invalid)",
			path, len(feed.Bad), len(feed.Items))}
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
	topic := s.catalogueTopicName()
	var before map[int]kafkaadmin.Offsets
	if c.wait {
		if before, err = catalogueOffsets(ctx, s, topic); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := publishItems(ctx, s, topic, feed.Items, c.progress(stderr, len(feed.Items))); err != nil {
		return err
	}
	hidden, windows := 0, 0
	for _, it := range feed.Items {
		if it.Status == event.Hidden {
			hidden++
		}
		if !it.From.IsZero() || !it.Until.IsZero() {
			windows++
		}
	}
	fmt.Fprintf(stdout, "published %d item records to %s in %s (%d hidden, %d with an availability window, %d invalid lines skipped)\n",
		len(feed.Items), topic, time.Since(start).Round(time.Millisecond), hidden, windows, len(feed.Bad))
	if !c.wait {
		return nil
	}
	return c.waitApplied(ctx, s, topic, before, stdout)
}

func (c *catalogueCmd) progress(stderr io.Writer, n int) *progressbar.ProgressBar {
	if c.quiet || !isTerminal(stderr) {
		return nil
	}
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("publishing"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
}

// publishItems writes the records keyed by item, in feed order (an item
// given twice ends with its last record), in batches.
func publishItems(ctx context.Context, s *settings, topic string, items []event.Item, bar *progressbar.ProgressBar) error {
	conn, err := s.kafkaConn()
	if err != nil {
		return err
	}
	w := conn.Writer(topic)
	w.Balancer = &kafka.Murmur2Balancer{} // the Java clients' partitioner: an item's records stay on one partition
	w.RequiredAcks = kafka.RequireAll
	defer w.Close()
	const batch = 1000
	for start := 0; start < len(items); start += batch {
		part := items[start:min(start+batch, len(items))]
		msgs := make([]kafka.Message, len(part))
		for i, it := range part {
			msgs[i] = kafka.Message{Key: []byte(it.ID), Value: event.EncodeItem(it)}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return &exitError{code: 1, msg: fmt.Sprintf("publish to %s: %v", topic, conn.Explain(err, kafkaconn.Op{Name: "Write", Topic: topic}))}
		}
		if bar != nil {
			_ = bar.Add(len(part))
		}
	}
	return nil
}

// catalogueOffsets are the catalogue topic's offsets.
func catalogueOffsets(ctx context.Context, s *settings, topic string) (map[int]kafkaadmin.Offsets, error) {
	conn, err := s.kafkaConn()
	if err != nil {
		return nil, err
	}
	client, done := conn.Client(topic)
	defer done()
	offs, err := kafkaadmin.TopicOffsets(ctx, client, topic)
	if err != nil {
		return nil, &exitError{code: 1, msg: fmt.Sprintf("read the offsets of %s: %v", topic, err)}
	}
	return offs, nil
}

// waitApplied waits until the catalogue progress in Redis reaches the end
// of every partition that grew since before.
func (c *catalogueCmd) waitApplied(ctx context.Context, s *settings, topic string, before map[int]kafkaadmin.Offsets, stdout io.Writer) error {
	after, err := catalogueOffsets(ctx, s, topic)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	deadline := start.Add(c.waitTimeout)
	for {
		progress, err := st.Catalogue.Progress(ctx)
		if err != nil {
			return err
		}
		var behind []string
		for p, o := range after {
			if o.End > before[p].End && progress[p] < o.End {
				behind = append(behind, fmt.Sprintf("partition %d at %d of %d", p, progress[p], o.End))
			}
		}
		if len(behind) == 0 {
			fmt.Fprintf(stdout, "applied by serve in %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Now().After(deadline) {
			return &exitError{code: 1, msg: fmt.Sprintf("not applied within %s (%s): is serve running with this -catalogue-topic and -prefix?",
				c.waitTimeout, strings.Join(behind, ", "))}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *catalogueCmd) show(ctx context.Context, s *settings, item string, stdout io.Writer) error {
	if err := event.ValidID(item, s.limits().MaxIDLen); err != nil {
		return usageErr("item %q: %v", item, err)
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	rec, ok, err := st.Catalogue.Read(ctx, item)
	if err != nil {
		return err
	}
	r := httpapi.ItemOf(item, rec, ok, time.Now())
	if !r.Record {
		fmt.Fprintf(stdout, "%s: no catalogue record: available, with the category of its events\n", item)
		return nil
	}
	fmt.Fprintf(stdout, "%s: %s", item, r.Status)
	if r.AvailableFrom != nil {
		fmt.Fprintf(stdout, ", from %s", r.AvailableFrom.Format(time.RFC3339))
	}
	if r.AvailableUntil != nil {
		fmt.Fprintf(stdout, ", until %s", r.AvailableUntil.Format(time.RFC3339))
	}
	if r.Category != "" {
		fmt.Fprintf(stdout, ", category %s", r.Category)
	}
	visible := "no"
	if r.Visible {
		visible = "yes"
	}
	fmt.Fprintf(stdout, "; may be recommended now: %s\n", visible)
	return nil
}
