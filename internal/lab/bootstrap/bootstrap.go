// Package bootstrap builds a state from events in one pass, as `alsobought
// bootstrap` does (and the bench's rebuild from scratch, which it times):
// the batch oracle's counters, written at once, then every list scored.
package bootstrap

import (
	"context"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/oracle"
	"github.com/alsobought/alsobought/store"
)

// Rescorer re-scores every list (rescore.Rescorer).
type Rescorer interface {
	RescoreAll(ctx context.Context) (int, error)
}

// Result says what a bootstrap built and how long each step took.
type Result struct {
	Customers int // histories written
	Lists     int // lists re-scored

	Build, Write, Rescore time.Duration // oracle.Build, State.Write, RescoreAll
}

// Run builds the oracle state of evs under settings, writes it to st (an
// empty state) and re-scores every list with rs.
func Run(ctx context.Context, evs []event.Event, settings oracle.Settings, st *store.Store, rs Rescorer) (Result, error) {
	var r Result
	t := time.Now()
	o := oracle.Build(evs, settings)
	r.Build = time.Since(t)
	r.Customers = len(o.Histories)
	t = time.Now()
	if err := st.State.Write(ctx, o.Snapshot()); err != nil {
		return r, err
	}
	r.Write = time.Since(t)
	t = time.Now()
	n, err := rs.RescoreAll(ctx)
	r.Rescore, r.Lists = time.Since(t), n
	return r, err
}

// Took is the time of the three steps together.
func (r Result) Took() time.Duration { return r.Build + r.Write + r.Rescore }
