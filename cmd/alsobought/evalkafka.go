package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/lab/eval"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/internal/lifecycle"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// kafkaTrainer trains eval's models through the real pipeline: it
// publishes each window's new events to a scratch topic, lets this
// process's consumer and re-scorer (the ones serve runs) apply them to a
// scratch Redis prefix, and reads the state back. Between windows it just
// keeps consuming, as a deployment would.
type kafkaTrainer struct {
	s    settings
	st   *store.Store
	rs   *rescore.Rescorer
	stop context.CancelFunc // stops the scratch pipeline
	// stopped ends when the pipeline stopped; its cause says why.
	stopped  context.Context
	produced int
}

// evalWaitTimeout bounds the wait for one window's events to be applied.
const evalWaitTimeout = 10 * time.Minute

func newKafkaTrainer(ctx context.Context, base *settings) (*kafkaTrainer, error) {
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	scratch := "eval-" + hex.EncodeToString(id)
	s := *base
	s.topic, s.group, s.prefix = base.topic+"."+scratch, scratch, scratch
	s.dlqTopic, s.feedTopic = event.DeadLetterTopic(s.topic), "off"
	st, err := store.New(s.storeConfig())
	if err != nil {
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	t := &kafkaTrainer{s: s, st: st}
	if err := connect(ctx, &t.s, st); err != nil {
		st.Close()
		return nil, err
	}
	log := zerolog.Nop()
	reg := prometheus.NewRegistry() // the scratch pipeline's metrics are not exported
	errs := obs.NewErrors(reg)
	cons, err := consumer.New(s.consumerConfig(0, 0, errs), st.Batches, log, consumer.NewMetrics(reg))
	if err != nil {
		t.Close()
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	t.rs, err = rescore.New(s.rescoreConfig(errs), rescore.StateOf(st), log, reg) // the feed is off (scratch settings)
	if err != nil {
		t.Close()
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	stopped, done := context.WithCancelCause(context.Background())
	t.stop, t.stopped = stop, stopped
	go func() {
		// The consumer stops before the re-scorer, as in serve.
		err := lifecycle.Run(runCtx, shutdownTimeout,
			[]lifecycle.Part{{Name: "rescore", Component: t.rs}}, []lifecycle.Part{{Name: "consumer", Component: cons}})
		if err == nil {
			err = errPipelineStopped
		}
		done(err)
	}()
	return t, nil
}

// Train publishes the events not published yet, waits until they are
// applied and every list is re-scored, and reads the state back.
func (t *kafkaTrainer) Train(ctx context.Context, before []event.Event) (eval.Model, error) {
	if _, err := replay.Run(ctx, replay.Config{Brokers: t.s.brokerList(), Topic: t.s.topic}, before[t.produced:]); err != nil {
		return nil, err
	}
	t.produced = len(before)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.stopped, cancel)() // a failed pipeline applies nothing more: stop waiting
	if err := waitApplied(wctx, &t.s, t.st, evalWaitTimeout); err != nil {
		if t.stopped.Err() != nil {
			return nil, fmt.Errorf("the scratch pipeline failed: %w", context.Cause(t.stopped))
		}
		return nil, err
	}
	// A list is re-scored when its row changes, but its scores also move
	// with the totals and the other items' counts, which reach untouched
	// lists at the next sweep (docs/guarantees.md, "Not promised"). Sweep
	// now, as `verify` needs too, so the lists are those of every counter
	// at the cutoff; the sweep recomputes the popularity lists as well.
	if _, err := t.rs.RescoreAll(ctx); err != nil {
		return nil, err
	}
	snap, err := t.st.State.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return eval.SnapshotModel(snap, scoring.Method(t.s.method), t.s.oracleSettings(), t.s.listRules()), nil
}

// errPipelineStopped is the cause of a pipeline stopped by Close.
var errPipelineStopped = errors.New("stopped as asked")

// Close stops the pipeline and deletes the scratch topics and state.
func (t *kafkaTrainer) Close() error {
	var perr error
	if t.stop != nil {
		t.stop()
		<-t.stopped.Done()
		if err := context.Cause(t.stopped); !errors.Is(err, errPipelineStopped) {
			perr = fmt.Errorf("the scratch pipeline failed: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, derr := t.st.State.Delete(ctx)
	terr := kafkaadmin.DeleteTopics(ctx, t.s.brokerList(), t.s.topic, t.s.dlqTopic)
	t.st.Close()
	if derr != nil || terr != nil {
		return errors.Join(perr, fmt.Errorf("clean up the scratch state %s: %v; topics: %v", t.s.prefix, derr, terr))
	}
	return perr
}
