package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/store"
)

const forgetAbout = `Erases customers on request (the right to erasure, docs/security.md): each
customer's histories leave the state, with everything they contributed to
the counters (pairs, histograms, buyers and viewers, viewed-then-bought),
exactly; what is left of the customer is a tombstone of its fences, which
expires. The owner of each partition that holds the customer (a running
serve) does the work at its next sweep; the command waits for it. Aggregates
that cannot be attributed (repeat counts, the items' purchase statistics,
popularity day buckets) keep their counts, and the events stay in Kafka until
its retention removes them.`

// forgetCmd is `alsobought forget`.
type forgetCmd struct {
	wait time.Duration
}

func (c *forgetCmd) settings(s *settings) []config.Group {
	return []config.Group{s.redis(), {Name: "Forget", FlagsOnly: true, Settings: []config.Setting{
		{Flag: "wait", Help: "how long to wait for the partition owners (serve) to erase the customers (0 = request and return)",
			Value: config.Duration(&c.wait, 2*time.Minute, 0)},
	}}}
}

func (c *forgetCmd) run(ctx context.Context, s *settings, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 {
		return usageErr("give the ids of the customers to erase")
	}
	st, err := openStore(ctx, s)
	if err != nil {
		return err
	}
	defer st.Close()
	pending := map[string][]int{}
	for _, id := range args {
		parts, err := st.Sweeps.RequestErasure(ctx, id)
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			fmt.Fprintf(stdout, "%s: nothing to erase (no history in this state)\n", id)
			continue
		}
		fmt.Fprintf(stdout, "%s: erasure requested on partition(s) %v\n", id, parts)
		pending[id] = parts
	}
	if c.wait == 0 || len(pending) == 0 {
		return nil
	}
	return waitErased(ctx, st.Sweeps, pending, c.wait, stdout)
}

// waitErased polls until no erasure is pending, or fails after wait.
func waitErased(ctx context.Context, sw *store.Sweeps, pending map[string][]int, wait time.Duration, stdout io.Writer) error {
	deadline := time.Now().Add(wait)
	for {
		for _, id := range slices.Sorted(maps.Keys(pending)) {
			left, err := sw.ErasurePending(ctx, id, pending[id])
			if err != nil {
				return err
			}
			if len(left) == 0 {
				fmt.Fprintf(stdout, "%s: erased\n", id)
				delete(pending, id)
			} else {
				pending[id] = left
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return &exitError{code: 1, msg: fmt.Sprintf("not erased after %s (is serve running? its partitions' owners do it): %v; the requests stay and will be done", wait, pending)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
