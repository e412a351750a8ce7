package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/lag"
)

// lagCmd is `alsobought lag`: it prints the lag status of the consumer
// group, evaluated over a short window of samples taken now, and exits with
// the status: 0 OK, 1 WARN, 2 ERR, 3 could not evaluate. Exit code 2 means
// ERR here, so a usage or configuration error exits 3 (commands table),
// and scripts never read it as a stalled group. It needs no running serve.
type lagCmd struct {
	samples  int
	interval time.Duration
	asJSON   bool
}

func (c *lagCmd) settings(s *settings) []config.Group {
	return []config.Group{s.kafkaOnly(&s.topic), s.consumer().Only(&s.group), s.redis(), {Name: "Lag", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "samples", Help: "samples to evaluate", Value: config.Int(&c.samples, 3, 2, math.MaxInt)},
		{Flag: "interval", Help: "time between samples", Value: config.Duration(&c.interval, 2*time.Second, time.Nanosecond)},
		{Flag: "json", Help: "print the report as JSON", Value: config.Bool(&c.asJSON, false)},
	}}}
}

func (c *lagCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	st, err := openStore(ctx, s)
	if err != nil {
		return &exitError{code: int(lag.Unknown), msg: err.Error()}
	}
	defer st.Close()
	conn, err := s.kafkaConn()
	if err != nil {
		return &exitError{code: int(lag.Unknown), msg: err.Error()}
	}
	sampler := &lag.Sampler{Kafka: conn, Topic: s.topic, Group: s.group, State: st.Batches}
	var window []lag.Sample
	for i := 0; i < c.samples; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return &exitError{code: int(lag.Unknown), msg: "interrupted"}
			case <-time.After(c.interval):
			}
		}
		sctx, cancel := context.WithTimeout(ctx, startupTimeout)
		sample, err := sampler.Sample(sctx)
		cancel()
		if err != nil {
			return &exitError{code: int(lag.Unknown), msg: fmt.Sprintf("cannot evaluate the lag: %v", err)}
		}
		window = append(window, sample)
	}
	r := lag.Evaluate(window, time.Now())
	if c.asJSON {
		if err := writeJSON(stdout, r); err != nil {
			return err
		}
	} else {
		printLag(stdout, s.group, s.topic, r)
	}
	if r.Status != lag.OK {
		return &exitError{code: int(r.Status), msg: fmt.Sprintf("group %s: %s: %s", s.group, r.Status, r.Reason)}
	}
	return nil
}

func printLag(w io.Writer, group, topic string, r lag.Report) {
	fmt.Fprintf(w, "group %s on %s: %s (%s); %d members; lag %d, applied lag %d; window %s over %d samples\n",
		group, topic, r.Status, r.Reason, r.Members, r.Lag, r.AppliedLag, r.Window, r.Samples)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "partition\tstatus\tlag\tlag s\tapplied lag\tend\tcommitted\tapplied\treason")
	for _, p := range r.Partitions {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%d\t%d\t%d\t%d\t%s\n", p.Partition, p.Status, p.Lag, p.LagSeconds,
			p.AppliedLag, p.End, p.Committed, p.Applied, p.Reason)
	}
	tw.Flush()
}
