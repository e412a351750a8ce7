package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/store"
)

// Progress is what Wait reads from the state: the last offset applied per
// partition and the number of dirty lists (StateOf gives both of a store).
type Progress interface {
	Progress(ctx context.Context) (map[int]int64, error)
	Backlog(ctx context.Context) (int64, time.Time, error)
}

// StateOf gives Wait the parts of a store it reads.
func StateOf(st *store.Store) Progress {
	return struct {
		*store.Batches
		*store.Dirty
	}{st.Batches, st.Dirty}
}

// Wait waits for a pipeline to catch up with what was published to a topic
// (`replay --wait`, the bench, `eval -via-kafka`).
type Wait struct {
	Kafka   *kafkaconn.Conn
	Topic   string
	Timeout time.Duration // default 10 minutes
	// Poll is how often the state is read: the moments CaughtUp records
	// are known to this much. Default 25 ms.
	Poll time.Duration
	// AppliedOnly ends the wait at zero applied lag, without waiting for
	// the dirty lists to be re-scored, for a caller that re-scores every
	// list itself.
	AppliedOnly bool
	// Alive, when set, is asked at every poll; its error ends the wait
	// (the serve process that consumes has exited).
	Alive func() error
	// Guard, when set, is asked at every poll and once more before the
	// wait reports success; its error fails the wait (`replay --wait`
	// gives it the keys Redis evicted since the replay started: a state
	// that lost keys has not caught up, whatever its progress says).
	Guard func(ctx context.Context) error
}

// CaughtUp is when the state had applied every event on the topic, and when,
// besides, no list was dirty (zero with AppliedOnly).
type CaughtUp struct{ Applied, Rescored time.Time }

// Run waits until the state has applied every message the topic held when
// Run was called, and, unless AppliedOnly, no list is dirty. It reads the
// topic's offsets once: after a synchronous produce (Run of this package)
// they do not move, and what others publish later is not waited for. The
// applied lag is lag.PartitionSample's, the one formula of the project.
func (w Wait) Run(ctx context.Context, st Progress) (CaughtUp, error) {
	timeout, poll := w.Timeout, w.Poll
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	if poll <= 0 {
		poll = 25 * time.Millisecond
	}
	var (
		at      CaughtUp
		offsets map[int]kafkaadmin.Offsets
		applied = int64(-1) // the applied lag last seen; -1 unknown
		dirty   = int64(-1)
		err     error
	)
	deadline := time.Now().Add(timeout)
	for {
		if offsets == nil {
			client, done := w.Kafka.Client(w.Topic)
			offsets, err = kafkaadmin.TopicOffsets(ctx, client, w.Topic)
			err = w.Kafka.Explain(err, kafkaconn.Op{Name: "Describe", Topic: w.Topic})
			done()
		}
		if offsets != nil {
			applied, err = appliedLag(ctx, offsets, st)
			if err == nil && applied == 0 {
				now := time.Now()
				if at.Applied.IsZero() {
					at.Applied = now
				}
				if w.AppliedOnly {
					return at, w.guard(ctx)
				}
				if dirty, _, err = st.Backlog(ctx); err == nil && dirty == 0 {
					at.Rescored = now
					return at, w.guard(ctx)
				}
			}
		}
		if w.Alive != nil {
			if aerr := w.Alive(); aerr != nil {
				return at, aerr
			}
		}
		if gerr := w.guard(ctx); gerr != nil {
			return at, gerr
		}
		if time.Now().After(deadline) {
			return at, fmt.Errorf("not caught up with %s after %s (applied lag %s, dirty lists %s, last error %v)",
				w.Topic, timeout, known(applied), known(dirty), err)
		}
		select {
		case <-ctx.Done():
			return at, ctx.Err()
		case <-time.After(poll):
		}
	}
}

func (w Wait) guard(ctx context.Context) error {
	if w.Guard == nil {
		return nil
	}
	return w.Guard(ctx)
}

// appliedLag is the messages of the topic the state has not applied.
func appliedLag(ctx context.Context, offsets map[int]kafkaadmin.Offsets, st Progress) (int64, error) {
	progress, err := st.Progress(ctx)
	if err != nil {
		return -1, err
	}
	var n int64
	for p, o := range offsets {
		applied, ok := progress[p]
		if !ok {
			applied = -1
		}
		n += lag.PartitionSample{End: o.End, Start: o.First, Applied: applied}.AppliedLag()
	}
	return n, nil
}

func known(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprint(n)
}
