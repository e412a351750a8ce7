// Package lifecycle runs a process's long-running components together and
// stops them in order. Every component has one shape: its constructor,
// New(config, dependencies) (*T, error), checks everything that can be
// checked before it starts; Run(ctx) works until ctx ends and returns nil,
// or returns the error that keeps it from working.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Component is a long-running part of a process.
type Component interface {
	Run(ctx context.Context) error
}

// Part is a component with the name its errors carry.
type Part struct {
	Name string
	Component
}

// ErrStopTimeout means the components did not all stop within the
// timeout given to Run.
var ErrStopTimeout = errors.New("components still running")

// Run runs the stages with a Runner that bounds the stop at stopTimeout.
func Run(ctx context.Context, stopTimeout time.Duration, stages ...[]Part) error {
	return Runner{StopTimeout: stopTimeout}.Run(ctx, stages...)
}

// Runner runs a process's components (Run).
type Runner struct {
	// StopTimeout bounds the stop once it began.
	StopTimeout time.Duration
	// Stopping, when set, is called once when the stop begins, whether ctx
	// ended or a part failed: serve takes itself out of rotation then, so
	// /readyz says so during the whole drain.
	Stopping func()
}

// Run starts every part of every stage and runs them until ctx ends or
// one of them fails: returns an error, or returns at all before it was
// asked to stop. Then it stops the stages in reverse order, each only
// after the later ones have returned: a stage may rely on the stages
// before it until it has stopped (the HTTP server, first, answers
// /readyz and /metrics while the consumer, last, finishes its batch).
//
// Run returns the first failure, named after its part, nil after a stop
// asked for by ctx, or ErrStopTimeout when the parts took longer than
// StopTimeout to stop; it then leaves them running.
func (r Runner) Run(ctx context.Context, stages ...[]Part) error {
	stopTimeout := r.StopTimeout
	g, gctx := errgroup.WithContext(ctx)
	cancels := make([]context.CancelFunc, len(stages))
	running := make([]*sync.WaitGroup, len(stages))
	for i, stage := range stages {
		// A stage's context ends only when the stages after it stopped,
		// not with ctx.
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[i], running[i] = cancel, &sync.WaitGroup{}
		for _, p := range stage {
			running[i].Add(1)
			g.Go(func() error {
				defer running[i].Done()
				err := p.Run(sctx)
				switch {
				case err != nil:
					return fmt.Errorf("%s: %w", p.Name, err)
				case sctx.Err() == nil:
					return fmt.Errorf("%s stopped on its own", p.Name)
				}
				return nil
			})
		}
	}
	g.Go(func() error {
		<-gctx.Done()
		if r.Stopping != nil {
			r.Stopping()
		}
		for i := len(stages) - 1; i >= 0; i-- {
			cancels[i]()
			running[i].Wait()
		}
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-gctx.Done():
	}
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%w %s after the stop began", ErrStopTimeout, stopTimeout)
	}
}
