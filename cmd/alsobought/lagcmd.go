package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/alsobought/alsobought/internal/lag"
)

// runLag prints the lag status of the consumer group, evaluated over a
// short window of samples taken now, and exits with the status: 0 OK,
// 1 WARN, 2 ERR, 3 could not evaluate. It needs no running serve.
func runLag(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("lag", stderr)
	samples := fs.Int("samples", 3, "samples to evaluate (at least 2)")
	interval := fs.Duration("interval", 2*time.Second, "time between samples")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	// Exit code 2 means ERR here: a usage or configuration error exits 3,
	// "could not evaluate", so scripts never read it as a stalled group.
	var ee *exitError
	if err := parse(fs, s, args); errors.As(err, &ee) {
		return &exitError{code: int(lag.Unknown), msg: ee.msg}
	} else if err != nil {
		return err
	}
	if *samples < 2 || *interval <= 0 {
		return &exitError{code: int(lag.Unknown), msg: "lag: -samples must be at least 2 and -interval positive"}
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return &exitError{code: int(lag.Unknown), msg: err.Error()}
	}
	defer st.Close()
	sampler := &lag.Sampler{Brokers: s.brokerList(), Topic: s.topic, Group: s.group, State: st}
	var window []lag.Sample
	for i := 0; i < *samples; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return &exitError{code: int(lag.Unknown), msg: "interrupted"}
			case <-time.After(*interval):
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
	if *asJSON {
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
