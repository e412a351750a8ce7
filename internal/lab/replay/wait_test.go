package replay

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/lab/scratch"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// fakeState stands for the state in Redis: its progress and dirty lists
// move as the test says.
type fakeState struct {
	progress map[int]int64
	dirty    int64
}

func (f *fakeState) Progress(context.Context) (map[int]int64, error) { return f.progress, nil }
func (f *fakeState) Backlog(context.Context) (int64, time.Time, error) {
	return f.dirty, time.Time{}, nil
}

// Wait ends when the state has applied every event replayed, and no list
// is dirty unless told to wait for the applied lag only; otherwise it
// says how far the state is behind.
func TestWaitForThePipelineToCatchUp(t *testing.T) {
	conn := kafkaconn.Plain(strings.Split(testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := scratch.New(ctx, scratch.Config{Kafka: conn, Store: store.Config{Addrs: []string{testenv.Setting(t, "ALSOBOUGHT_REDIS_ADDRS")}},
		Partitions: 2}, "wait-test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []event.Event
	for i, c := range []string{"c1", "c2", "c3", "c4", "c5", "c6"} {
		evs = append(evs, event.Event{ID: c, Type: event.View, CustomerID: c, ItemID: "i", Time: t0.Add(time.Duration(i) * time.Second)})
	}
	if _, err := Run(ctx, Config{Kafka: conn, Topic: s.Topic}, evs); err != nil {
		t.Fatal(err)
	}
	client, done := conn.Client()
	defer done()
	offsets, err := kafkaadmin.TopicOffsets(ctx, client, s.Topic)
	if err != nil {
		t.Fatal(err)
	}
	caughtUp := map[int]int64{}
	for p, o := range offsets {
		caughtUp[p] = o.End - 1
	}
	w := Wait{Kafka: conn, Topic: s.Topic, Timeout: 300 * time.Millisecond}

	behind := &fakeState{progress: map[int]int64{}}
	if _, err := w.Run(ctx, behind); err == nil || !strings.Contains(err.Error(), "applied lag 6") {
		t.Errorf("nothing applied: got %v, want a timeout naming applied lag 6", err)
	}
	dirty := &fakeState{progress: caughtUp, dirty: 3}
	if _, err := w.Run(ctx, dirty); err == nil || !strings.Contains(err.Error(), "dirty lists 3") {
		t.Errorf("3 dirty lists: got %v, want a timeout naming them", err)
	}
	applied := w
	applied.AppliedOnly = true
	if at, err := applied.Run(ctx, dirty); err != nil || at.Applied.IsZero() || !at.Rescored.IsZero() {
		t.Errorf("applied only, lists dirty: %+v, %v; want the applied moment alone", at, err)
	}
	if at, err := w.Run(ctx, &fakeState{progress: caughtUp}); err != nil || at.Applied.IsZero() || at.Rescored.Before(at.Applied) {
		t.Errorf("caught up: %+v, %v", at, err)
	}
	// A caught-up state whose guard objects (Redis evicted keys) is no
	// success, whether the guard objects at the last moment or before.
	evicted := errors.New("redis evicted keys")
	guarded := w
	guarded.Guard = func(context.Context) error { return evicted }
	if _, err := guarded.Run(ctx, &fakeState{progress: caughtUp}); !errors.Is(err, evicted) {
		t.Errorf("caught up but the guard objects: got %v, want its error", err)
	}
	if _, err := guarded.Run(ctx, behind); !errors.Is(err, evicted) {
		t.Errorf("behind and the guard objects: got %v, want its error, not the timeout", err)
	}
	guarded.AppliedOnly = true
	if _, err := guarded.Run(ctx, dirty); !errors.Is(err, evicted) {
		t.Errorf("applied only, the guard objects: got %v, want its error", err)
	}
	gone := errors.New("serve exited")
	w.Alive = func() error { return gone }
	if _, err := w.Run(ctx, behind); !errors.Is(err, gone) {
		t.Errorf("the consumer's process gone: got %v, want its error", err)
	}
}
