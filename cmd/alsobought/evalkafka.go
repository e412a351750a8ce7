package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/eval"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/internal/lab/scratch"
	"github.com/alsobought/alsobought/internal/lifecycle"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/internal/rescore"
	"github.com/alsobought/alsobought/scoring"
)

// kafkaTrainer trains eval's models through the real pipeline: it
// publishes each window's new events to a scratch topic, lets this
// process's consumer (the one serve runs) apply them to a scratch Redis
// prefix, re-scores every list once, and reads the state back. Between
// windows it just keeps consuming, as a deployment would.
type kafkaTrainer struct {
	s       settings
	scratch *scratch.State
	rs      *rescore.Rescorer
	stop    context.CancelFunc // stops the scratch pipeline
	// stopped ends when the pipeline stopped; its cause says why.
	stopped   context.Context
	produced  int
	purchases *eval.PurchaseCounts // of the events produced
}

// evalWaitTimeout bounds the wait for one window's events to be applied.
const evalWaitTimeout = 10 * time.Minute

func newKafkaTrainer(ctx context.Context, base *settings) (*kafkaTrainer, error) {
	conn, err := base.kafkaConn()
	if err != nil {
		return nil, err
	}
	sc, err := scratch.New(ctx, scratch.Config{Kafka: conn, Store: base.storeConfig(), Partitions: base.partitions}, "eval")
	if err != nil {
		return nil, &exitError{code: 1, msg: err.Error()}
	}
	s := *base
	// No feed and no catalogue: eval measures the lists of every item.
	s.topic, s.dlqTopic, s.feedTopic, s.catTopic, s.group, s.prefix = sc.Topic, sc.DLQTopic, "off", "off", sc.Group, sc.Prefix
	t := &kafkaTrainer{s: s, scratch: sc, purchases: eval.NewPurchaseCounts(s.dedup())}
	if err := sc.Store.Meta.EnsureWithRowIndexes(ctx, s.stateSettings(), s.rowIndexSupport()); err != nil {
		t.Close()
		return nil, &exitError{code: 1, msg: err.Error()}
	}
	log := zerolog.Nop()
	reg := prometheus.NewRegistry() // the scratch pipeline's metrics are not exported
	errs := obs.NewErrors(reg)
	cons, err := consumer.New(s.consumerConfig(conn, 0, 0, 0, errs), consumer.StoresOf(sc.Store), log, consumer.NewMetrics(reg))
	if err != nil {
		t.Close()
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	// No re-scorer runs in the background: Train re-scores every list once
	// the window is applied (a background one would re-score the dirty
	// lists first, only for the sweep to do them again).
	t.rs, err = rescore.New(s.rescoreConfig(errs), rescore.StateOf(sc.Store), log, reg) // the feed is off (scratch settings)
	if err != nil {
		t.Close()
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	stopped, done := context.WithCancelCause(context.Background())
	t.stop, t.stopped = stop, stopped
	go func() {
		err := lifecycle.Run(runCtx, shutdownTimeout, []lifecycle.Part{{Name: "consumer", Component: cons}})
		if err == nil {
			err = errPipelineStopped
		}
		done(err)
	}()
	return t, nil
}

// Train publishes the events not published yet, waits until they are
// applied, re-scores every list and reads the state back.
func (t *kafkaTrainer) Train(ctx context.Context, before []event.Event) (eval.Model, error) {
	if _, err := replay.Run(ctx, replay.Config{Kafka: t.scratch.Kafka, Topic: t.s.topic}, before[t.produced:]); err != nil {
		return nil, err
	}
	t.purchases.Add(before[t.produced:])
	t.produced = len(before)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.stopped, cancel)() // a failed pipeline applies nothing more: stop waiting
	wait := replay.Wait{Kafka: t.scratch.Kafka, Topic: t.s.topic, Timeout: evalWaitTimeout, AppliedOnly: true}
	if _, err := wait.Run(wctx, replay.StateOf(t.scratch.Store)); err != nil {
		if t.stopped.Err() != nil {
			return nil, fmt.Errorf("the scratch pipeline failed: %w", context.Cause(t.stopped))
		}
		return nil, err
	}
	// A list is re-scored when its row changes, but its scores also move
	// with the totals and the other items' counts, which reach untouched
	// lists at the next sweep (docs/guarantees.md, "Not promised"). Sweep
	// now, as `verify` needs too, so the lists are those of every counter
	// at the cutoff; the sweep recomputes the popularity lists as well. It
	// reads every row after the marks are dropped, so it covers them: the
	// marked lists are not re-scored a second time by its final drain.
	if err := t.dropDirtyMarks(ctx); err != nil {
		return nil, err
	}
	if _, err := t.rs.RescoreAll(ctx); err != nil {
		return nil, err
	}
	snap, err := t.scratch.Store.State.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return eval.SnapshotModel(snap, scoring.Method(t.s.method), t.s.oracleSettings(), t.s.listRules(), t.purchases), nil
}

// dropDirtyMarks clears the dirty marks the window's events left, without
// re-scoring: nothing marks meanwhile (the consumer has applied every
// event and no re-scorer runs), and the sweep that follows re-scores every
// list.
func (t *kafkaTrainer) dropDirtyMarks(ctx context.Context) error {
	dirty := t.scratch.Store.Dirty
	for {
		marks, err := dirty.Claim(ctx, 1000, time.Now().Add(time.Hour), "eval", time.Minute)
		if err != nil || len(marks) == 0 {
			return err
		}
		if err := dirty.Clear(ctx, marks, time.Now()); err != nil {
			return err
		}
	}
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
	return errors.Join(perr, t.scratch.Close())
}
