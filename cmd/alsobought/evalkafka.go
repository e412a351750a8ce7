package main

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/eval"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/internal/lab/scratch"
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
	s        settings
	scratch  *scratch.State
	rs       *rescore.Rescorer
	stop     context.CancelFunc
	wg       sync.WaitGroup
	produced int
}

// evalWaitTimeout bounds the wait for one window's events to be applied.
const evalWaitTimeout = 10 * time.Minute

func newKafkaTrainer(ctx context.Context, base *settings) (*kafkaTrainer, error) {
	sc, err := scratch.New(ctx, scratch.Config{Brokers: base.brokerList(), Store: base.storeConfig(), Partitions: base.partitions}, "eval")
	if err != nil {
		return nil, &exitError{code: 1, msg: err.Error()}
	}
	s := *base
	s.topic, s.dlqTopic, s.feedTopic, s.group, s.prefix = sc.Topic, sc.DLQTopic, "off", sc.Group, sc.Prefix
	t := &kafkaTrainer{s: s, scratch: sc}
	if err := sc.Store.EnsureMeta(ctx, s.stateSettings()); err != nil {
		t.Close()
		return nil, &exitError{code: 1, msg: err.Error()}
	}
	log := zerolog.Nop()
	reg := prometheus.NewRegistry() // the scratch pipeline's metrics are not exported
	errs := obs.NewErrors(reg)
	cons, err := consumer.New(s.consumerConfig(0, 0, errs), sc.Store, log, consumer.NewMetrics(reg))
	if err != nil {
		t.Close()
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	// No re-scorer runs in the background: Train re-scores every list once
	// the window is applied (a background one would re-score the dirty
	// lists first, only for the sweep to do them again).
	t.rs, err = rescore.New(s.rescoreConfig(errs), sc.Store, log, reg) // the feed is off (scratch settings)
	if err != nil {
		t.Close()
		return nil, &exitError{code: 2, msg: err.Error()}
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	t.stop = stop
	t.wg.Add(1)
	go func() { defer t.wg.Done(); _ = cons.Run(runCtx) }()
	return t, nil
}

// Train publishes the events not published yet, waits until they are
// applied, re-scores every list and reads the state back.
func (t *kafkaTrainer) Train(ctx context.Context, before []event.Event) (eval.Model, error) {
	if _, err := replay.Run(ctx, replay.Config{Brokers: t.s.brokerList(), Topic: t.s.topic}, before[t.produced:]); err != nil {
		return nil, err
	}
	t.produced = len(before)
	wait := replay.Wait{Brokers: t.s.brokerList(), Topic: t.s.topic, Timeout: evalWaitTimeout, AppliedOnly: true}
	if _, err := wait.Run(ctx, t.scratch.Store); err != nil {
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
	snap, err := t.scratch.Store.ReadSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	return eval.SnapshotModel(snap, scoring.Method(t.s.method), t.s.oracleSettings(), t.s.listRules()), nil
}

// dropDirtyMarks clears the dirty marks the window's events left, without
// re-scoring: nothing marks meanwhile (the consumer has applied every
// event and no re-scorer runs), and the sweep that follows re-scores every
// list.
func (t *kafkaTrainer) dropDirtyMarks(ctx context.Context) error {
	st := t.scratch.Store
	for {
		marks, err := st.ClaimDirty(ctx, 1000, time.Now().Add(time.Hour), "eval", time.Minute)
		if err != nil || len(marks) == 0 {
			return err
		}
		if err := st.ClearDirty(ctx, marks, time.Now()); err != nil {
			return err
		}
	}
}

// Close stops the pipeline and deletes the scratch topics and state.
func (t *kafkaTrainer) Close() error {
	if t.stop != nil {
		t.stop()
		t.wg.Wait()
	}
	return t.scratch.Close()
}
