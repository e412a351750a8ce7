package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/store"
)

// deadlettersAbout is the longer help of `alsobought deadletters`.
const deadlettersAbout = `list prints the records of the dead-letter topic, oldest first: where each is
in that topic, when it was dead-lettered, its reason and error, where it came
from (source partition and offset), its key and a bounded preview of its
value, and whether it was published again.

republish publishes chosen dead letters again to the events topic, after the
cause is fixed (a publisher's bug fixed upstream cannot change a dead letter,
but a setting can: -min-event-time, -max-event-skew). Choose them by
<partition>:<offset> in the dead-letter topic, by -reason, or both. Each is
checked again with the event-time settings given here, and published only if
it now passes, kept whole (not cut, not minimal), and not published before:
each dead letter is published at most once (recorded in Redis), with its
key and value unchanged, so its event_id is kept and the consumer's
de-duplication applies too. A record that does not qualify is named with
the reason.`

// deadlettersCmd is `alsobought deadletters list` and `alsobought
// deadletters republish [PARTITION:OFFSET...]`.
type deadlettersCmd struct {
	reason  string
	max     int
	preview int
	json    bool
	dryRun  bool
}

func (c *deadlettersCmd) settings(s *settings) []config.Group {
	return []config.Group{s.kafka(), s.redis(), s.events(), {Name: "Dead letters", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "reason", Help: "only dead letters of this reason (list and republish)",
			Value: config.Text(&c.reason, "", config.Words(reasonNames()...), func(v string) error {
				if v != "" && !slices.Contains(event.Reasons(), event.Reason(v)) {
					return errors.New("not a dead-letter reason")
				}
				return nil
			})},
		{Flag: "max", Help: "list: at most this many records, the newest", Value: config.Int(&c.max, 100, 1, 1_000_000)},
		{Flag: "preview", Help: "list: bytes of each key and value shown", Value: config.Int(&c.preview, 120, 0, 1<<16)},
		{Flag: "json", Help: "list: print one JSON object per record", Value: config.Bool(&c.json, false)},
		{Flag: "dry-run", Help: "republish: say what would be published, publish nothing", Value: config.Bool(&c.dryRun, false)},
	}}}
}

func reasonNames() []string {
	var out []string
	for _, r := range event.Reasons() {
		out = append(out, string(r))
	}
	return out
}

func (c *deadlettersCmd) run(ctx context.Context, s *settings, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "republish") || (args[0] == "list" && len(args) > 1) {
		return usageErr("want `deadletters list` or `deadletters republish [PARTITION:OFFSET...]`")
	}
	var chosen map[dlqPos]bool
	if args[0] == "republish" {
		if len(args) == 1 && c.reason == "" {
			return usageErr("republish needs dead letters: PARTITION:OFFSET arguments, -reason, or both")
		}
		var err error
		if chosen, err = parsePositions(args[1:]); err != nil {
			return usageErr("%v", err)
		}
	}
	conn, err := s.kafkaConn()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	dlq := s.dlqTopicName()
	limit := c.max
	if args[0] == "republish" {
		limit = 0 // every record: the choice is by position or reason
	}
	letters, err := readDeadLetters(ctx, conn, dlq, limit)
	if err != nil {
		return err
	}
	letters = slices.DeleteFunc(letters, func(d consumer.DeadLetter) bool {
		return (c.reason != "" && string(d.Reason) != c.reason) || (len(chosen) > 0 && !chosen[dlqPos{d.Partition, d.Offset}])
	})
	ids := make([]string, len(letters))
	for i, d := range letters {
		ids[i] = store.DeadLetterID(dlq, d.Partition, d.Offset)
	}
	done, err := st.DeadLetters.Republished(ctx, ids)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		return c.list(stdout, letters, ids, done)
	}
	for p := range chosen {
		if !slices.ContainsFunc(letters, func(d consumer.DeadLetter) bool { return d.Partition == p.partition && d.Offset == p.offset }) {
			fmt.Fprintf(stderr, "%d:%d: no such dead letter in %s (or not of reason %s)\n", p.partition, p.offset, dlq, c.reason)
		}
	}
	return c.republish(ctx, s, conn, st.DeadLetters, letters, ids, done, stdout)
}

// dlqPos is a record's place in the dead-letter topic.
type dlqPos struct {
	partition int
	offset    int64
}

func parsePositions(args []string) (map[dlqPos]bool, error) {
	out := map[dlqPos]bool{}
	for _, a := range args {
		ps, offs, ok := strings.Cut(a, ":")
		p, err1 := strconv.Atoi(ps)
		o, err2 := strconv.ParseInt(offs, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, fmt.Errorf("%q is not PARTITION:OFFSET of the dead-letter topic (as list shows them)", a)
		}
		out[dlqPos{p, o}] = true
	}
	return out, nil
}

// readDeadLetters reads the records of the dead-letter topic up to its end
// offsets as they are now, oldest first; limit > 0 keeps the newest limit.
func readDeadLetters(ctx context.Context, conn *kafkaconn.Conn, topic string, limit int) ([]consumer.DeadLetter, error) {
	client, done := conn.Client(topic)
	offsets, err := kafkaadmin.TopicOffsets(ctx, client, topic)
	done()
	if err != nil {
		return nil, conn.Explain(err, kafkaconn.Op{Name: "Describe", Topic: topic})
	}
	var out []consumer.DeadLetter
	for p, o := range offsets {
		first := o.First
		if limit > 0 {
			first = max(first, o.End-int64(limit)) // the newest of each partition hold the newest overall
		}
		if first >= o.End {
			continue
		}
		got, err := readPartition(ctx, conn, topic, p, first, o.End)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	slices.SortStableFunc(out, func(a, b consumer.DeadLetter) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.Offset - b.Offset)
	})
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

// readPartition reads the records of [first, end) of a partition.
func readPartition(ctx context.Context, conn *kafkaconn.Conn, topic string, partition int, first, end int64) ([]consumer.DeadLetter, error) {
	r := conn.Reader(kafka.ReaderConfig{Topic: topic, Partition: partition, MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return nil, fmt.Errorf("seek %s/%d to %d: %w", topic, partition, first, err)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var out []consumer.DeadLetter
	for {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			return nil, conn.Explain(fmt.Errorf("read %s/%d at %d of %d: %w", topic, partition, first+int64(len(out)), end, err),
				kafkaconn.Op{Name: "Read", Topic: topic})
		}
		out = append(out, consumer.ReadDeadLetter(m))
		if m.Offset >= end-1 {
			return out, nil
		}
	}
}

// listedDeadLetter is a line of `deadletters list -json`.
type listedDeadLetter struct {
	Partition       int     `json:"partition"`
	Offset          int64   `json:"offset"`
	Time            string  `json:"time"`
	Reason          string  `json:"reason"`
	Error           string  `json:"error"`
	SourceTopic     string  `json:"source_topic"`
	SourcePartition int     `json:"source_partition"`
	SourceOffset    int64   `json:"source_offset"`
	Key             string  `json:"key"`
	KeySize         int     `json:"key_size"`
	Value           string  `json:"value"`
	ValueSize       int     `json:"value_size"`
	Whole           bool    `json:"whole"`
	Republished     *string `json:"republished,omitempty"`
}

func (c *deadlettersCmd) list(w io.Writer, letters []consumer.DeadLetter, ids []string, done map[string]time.Time) error {
	if c.json {
		enc := json.NewEncoder(w)
		for i, d := range letters {
			l := listedDeadLetter{Partition: d.Partition, Offset: d.Offset, Time: d.Time.UTC().Format(time.RFC3339Nano), Reason: string(d.Reason),
				Error: d.Error, SourceTopic: d.SourceTopic, SourcePartition: d.SourcePartition, SourceOffset: d.SourceOffset,
				Key: preview(d.Key, c.preview), KeySize: d.KeySize, Value: preview(d.Value, c.preview), ValueSize: d.ValueSize, Whole: d.Whole()}
			if at, ok := done[ids[i]]; ok {
				s := at.UTC().Format(time.RFC3339)
				l.Republished = &s
			}
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	}
	if len(letters) == 0 {
		_, err := fmt.Fprintln(w, "no dead letters")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tDEAD-LETTERED\tREASON\tSOURCE\tKEY\tVALUE\tNOTE")
	for i, d := range letters {
		var note []string
		if !d.Whole() {
			note = append(note, "not whole")
		}
		if at, ok := done[ids[i]]; ok {
			note = append(note, "republished "+at.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "%d:%d\t%s\t%s\t%s/%d@%d\t%s\t%s (%d B)\t%s\n", d.Partition, d.Offset, d.Time.UTC().Format(time.RFC3339),
			d.Reason, d.SourceTopic, d.SourcePartition, d.SourceOffset, preview(d.Key, c.preview), preview(d.Value, c.preview), d.ValueSize,
			strings.Join(note, ", "))
	}
	return tw.Flush()
}

// preview is at most n bytes of b as one line of text: invalid UTF-8 and
// control characters escaped, "…" when cut.
func preview(b []byte, n int) string {
	cut := len(b) > n
	if cut {
		b = b[:n]
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&sb, `\x%02x`, b[0])
		case r < 0x20 || r == 0x7f:
			sb.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		default:
			sb.WriteRune(r)
		}
		b = b[size:]
	}
	if cut {
		sb.WriteString("…")
	}
	return sb.String()
}

// republish publishes the letters that qualify (see deadlettersAbout).
func (c *deadlettersCmd) republish(ctx context.Context, s *settings, conn *kafkaconn.Conn, claims *store.DeadLetters,
	letters []consumer.DeadLetter, ids []string, done map[string]time.Time, stdout io.Writer) error {
	w := conn.Writer(s.topic)
	defer w.Close()
	lim := s.limits()
	published, skipped := 0, 0
	skip := func(d consumer.DeadLetter, why string) {
		skipped++
		fmt.Fprintf(stdout, "%d:%d %s: not published: %s\n", d.Partition, d.Offset, d.Reason, why)
	}
	for i, d := range letters {
		if at, ok := done[ids[i]]; ok {
			skip(d, "published again before, at "+at.UTC().Format(time.RFC3339))
			continue
		}
		if !d.Whole() {
			skip(d, "the dead letter did not keep the whole message (cut, or minimal): publish the original from the events topic at "+
				fmt.Sprintf("%s/%d@%d", d.SourceTopic, d.SourcePartition, d.SourceOffset))
			continue
		}
		if d.SourceTopic != "" && d.SourceTopic != s.topic {
			skip(d, "it came from "+d.SourceTopic+", not the events topic "+s.topic)
			continue
		}
		ev, err := event.Decode(d.Value, lim)
		if err == nil && string(d.Key) != ev.CustomerID {
			err = fmt.Errorf("its key is not its customer_id")
		}
		if err != nil {
			skip(d, "still invalid: "+err.Error())
			continue
		}
		if c.dryRun {
			fmt.Fprintf(stdout, "%d:%d %s: would publish event %s of customer %s\n", d.Partition, d.Offset, d.Reason, ev.ID, event.Fingerprint(d.Key))
			published++
			continue
		}
		ok, err := claims.Claim(ctx, ids[i], time.Now())
		if err != nil {
			return err
		}
		if !ok {
			skip(d, "published again meanwhile by someone else")
			continue
		}
		msg := kafka.Message{Key: d.Key, Value: d.Value, Headers: []kafka.Header{{Key: "republished_from", Value: []byte(ids[i])}}}
		if err := w.WriteMessages(ctx, msg); err != nil {
			err = conn.Explain(err, kafkaconn.Op{Name: "Write", Topic: s.topic})
			if rerr := claims.Release(ctx, ids[i]); rerr != nil {
				return fmt.Errorf("publish %s: %w (and its claim stays: %v; publish it with care)", ids[i], err, rerr)
			}
			return fmt.Errorf("publish %s: %w", ids[i], err)
		}
		fmt.Fprintf(stdout, "%d:%d %s: published event %s again\n", d.Partition, d.Offset, d.Reason, ev.ID)
		published++
	}
	verb := "published"
	if c.dryRun {
		verb = "would publish"
	}
	_, err := fmt.Fprintf(stdout, "%s %d dead letters to %s, %d not\n", verb, published, s.topic, skipped)
	return err
}
