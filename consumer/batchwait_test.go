package consumer

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/testenv"
)

func TestBatchDeadline(t *testing.T) {
	now := time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC)
	const wait, maxWait = 20 * time.Millisecond, 500 * time.Millisecond
	tests := []struct {
		name          string
		record        time.Time
		wait, maxWait time.Duration
		want          time.Duration // after now
	}{
		{"fresh record waits the budget", now, wait, maxWait, maxWait},
		{"a record 200ms old waits what is left of it", now.Add(-200 * time.Millisecond), wait, maxWait, 300 * time.Millisecond},
		{"a record near the budget waits at least wait", now.Add(-490 * time.Millisecond), wait, maxWait, wait},
		{"a backlog's old record waits wait", now.Add(-time.Hour), wait, maxWait, wait},
		{"a record from a clock ahead waits the budget, no more", now.Add(time.Minute), wait, maxWait, maxWait},
		{"no record time counts from the fetch", time.Time{}, wait, maxWait, maxWait},
		{"a budget at wait is off", now, wait, wait, wait},
		{"a budget below wait is off", now, 50 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond},
		{"no wait, budget on", now.Add(-100 * time.Millisecond), 0, maxWait, 400 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := batchDeadline(now, tt.record, tt.wait, tt.maxWait)
			if d := got.Sub(now); d != tt.want {
				t.Errorf("batchDeadline = now+%s, want now+%s", d, tt.want)
			}
		})
	}
}

// TestThinInputMakesLargeBatches: events produced one at a time, each
// after a pause longer than -batch-wait, are applied in far fewer batches
// than events when the freshness budget (-batch-max-wait) spans them, and
// every one of them is applied.
func TestThinInputMakesLargeBatches(t *testing.T) {
	env := testenv.New(t, 1)
	ctx := context.Background()
	const customer, n = "c1", 12
	c, reg := runBatchingConsumer(t, env, 2*n, 10*time.Millisecond, MaxBatchMaxWait)

	w := env.Kafka().Writer(env.Topic)
	w.BatchTimeout = time.Millisecond
	defer w.Close()
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	want := make([]string, n)
	for i := range n {
		want[i] = "item" + strconv.Itoa(i)
		produceAll(t, w, kafka.Message{Key: []byte(customer), Value: event.Encode(event.Event{ID: "e" + strconv.Itoa(i),
			Type: event.Purchase, CustomerID: customer, ItemID: want[i], Time: t0.Add(time.Duration(i) * time.Minute)})})
		time.Sleep(5 * c.cfg.BatchWait) // thin input: each batch would end before the next event
	}
	waitNoLag(t, env.Kafka(), env.Topic, env.Store.Batches)

	got, err := env.Store.Customers.Load(ctx, []string{customer})
	if err != nil {
		t.Fatal(err)
	}
	if h := got[customer].Purchases.Items; !slices.Equal(h, want) {
		t.Errorf("purchase history = %v, want %v", h, want)
	}
	// The consumer counts a batch once its write has returned, a moment
	// after the progress the wait above saw.
	batches, messages := batchCounts(t, reg)
	for deadline := time.Now().Add(30 * time.Second); messages < n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		batches, messages = batchCounts(t, reg)
	}
	if messages != n || batches > n/2 {
		t.Errorf("%d messages in %d batches, want %d in at most %d: thin input was not coalesced", messages, batches, n, n/2)
	}
}

// runBatchingConsumer runs a consumer of env's topic until the test ends,
// with K_hist history, the batch wait and the coalescing budget maxWait,
// and returns it with the registry of its metrics.
func runBatchingConsumer(t *testing.T, env *testenv.Env, history int, wait, maxWait time.Duration) (*Consumer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := runConsumer(t, env, Config{Kafka: env.Kafka(), Topic: env.Topic, GroupID: env.Group, DLQTopic: env.DLQTopic,
		HistorySize: history, ViewHistory: 10, Dedup: delta.DefaultDedup,
		Limits: event.DefaultLimits(time.Now()), MaxEventSkew: 24 * time.Hour,
		BatchWait: wait, BatchMaxWait: maxWait}, infoLogger(t), NewMetrics(reg))
	return c, reg
}

// infoLogger writes the consumer's log to the test's, shown when it fails:
// when the group was joined and each partition's reader started tell a
// slow assignment apart from a stalled write.
func infoLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

// batchCounts reads the consumer's batch histogram: batches and their
// messages.
func batchCounts(t *testing.T, reg *prometheus.Registry) (batches, messages int) {
	t.Helper()
	return histogramCounts(t, reg, "alsobought_batch_messages")
}

// histogramCounts reads a histogram of reg: its count and its sum.
func histogramCounts(t *testing.T, reg *prometheus.Registry, name string) (count, sum int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			h := mf.GetMetric()[0].GetHistogram()
			return int(h.GetSampleCount()), int(h.GetSampleSum())
		}
	}
	t.Fatalf("no %s histogram", name)
	return 0, 0
}

// TestPartitionsBatchesReadyAtOnceShareAWrite: bursts of events over the
// four partitions a consumer owns make batches that end together, and
// they are written in fewer writes than batches (merged into one
// store write), with every event applied.
func TestPartitionsBatchesReadyAtOnceShareAWrite(t *testing.T) {
	env := testenv.New(t, 4)
	ctx := context.Background()
	const customers, bursts = 40, 4
	// A generous batch wait and budget: the budget also bounds how long a
	// batch that finds the writer idle waits for the others being
	// prepared, so a loaded machine still merges.
	_, reg := runBatchingConsumer(t, env, 2*bursts, 500*time.Millisecond, time.Second)

	w := env.Kafka().Writer(env.Topic)
	defer w.Close()
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ids := make([]string, customers)
	for i := range ids {
		ids[i] = "c" + strconv.Itoa(i)
	}
	for b := range bursts {
		var msgs []kafka.Message
		for _, id := range ids {
			msgs = append(msgs, kafka.Message{Key: []byte(id), Value: event.Encode(event.Event{ID: id + "-" + strconv.Itoa(b),
				Type: event.Purchase, CustomerID: id, ItemID: "item" + strconv.Itoa(b), Time: t0.Add(time.Duration(b) * time.Minute)})})
		}
		produceAll(t, w, msgs...)
		waitNoLag(t, env.Kafka(), env.Topic, env.Store.Batches)
	}
	got, err := env.Store.Customers.Load(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if n := len(got[id].Purchases.Items); n != bursts {
			t.Errorf("customer %s holds %d purchases, want %d", id, n, bursts)
		}
	}
	// A batch is counted once its write has returned, a moment after the
	// progress the waits above saw; its write is counted before.
	batches, messages := batchCounts(t, reg)
	for deadline := time.Now().Add(30 * time.Second); messages < customers*bursts && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		batches, messages = batchCounts(t, reg)
	}
	writes, written := histogramCounts(t, reg, "alsobought_batch_write_batches")
	if messages != customers*bursts || written != batches {
		t.Fatalf("%d messages in %d batches, %d of them in writes: want %d messages, every batch written", messages, batches, written, customers*bursts)
	}
	if writes >= batches {
		t.Errorf("%d batches in %d writes: the batches of partitions ready at once were not merged", batches, writes)
	}
	t.Logf("%d batches in %d writes", batches, writes)
}

// TestSmallBacklogBatchesShareAWrite: batches whose first record is
// already older than the coalescing budget (a backlog: each ends a batch
// wait after its fetch) are still merged when they are small, as the
// partitions' batches are after a merged write that took longer than the
// budget at a paced load; every event is applied. A first burst starts
// every partition's reader; the second carries Kafka timestamps a minute
// old.
func TestSmallBacklogBatchesShareAWrite(t *testing.T) {
	env := testenv.New(t, 4)
	const customers = 40
	const wait, maxWait = 300 * time.Millisecond, 600 * time.Millisecond
	_, reg := runBatchingConsumer(t, env, 8, wait, maxWait)
	w := env.Kafka().Writer(env.Topic)
	defer w.Close()
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	burst := func(n int, recordTime time.Time) {
		t.Helper()
		var msgs []kafka.Message
		for i := range customers {
			id := "c" + strconv.Itoa(i)
			msgs = append(msgs, kafka.Message{Key: []byte(id), Time: recordTime, Value: event.Encode(event.Event{ID: id + "-" + strconv.Itoa(n),
				Type: event.Purchase, CustomerID: id, ItemID: "item" + strconv.Itoa(n), Time: t0.Add(time.Duration(n) * time.Minute)})})
		}
		produceAll(t, w, msgs...)
		waitNoLag(t, env.Kafka(), env.Topic, env.Store.Batches)
		// A batch is counted once its write has returned, a moment after
		// the progress the wait saw.
		waitFor(t, "every message counted in a batch", func() bool { _, m := batchCounts(t, reg); return m == n*customers })
	}
	burst(1, time.Time{})
	batches0, _ := batchCounts(t, reg)
	writes0, _ := histogramCounts(t, reg, "alsobought_batch_write_batches")
	burst(2, time.Now().Add(-time.Minute))
	batches1, _ := batchCounts(t, reg)
	writes1, written := histogramCounts(t, reg, "alsobought_batch_write_batches")
	if written != batches1 {
		t.Fatalf("%d batches, %d of them in writes: want every batch written", batches1, written)
	}
	batches, writes := batches1-batches0, writes1-writes0
	if writes >= batches {
		t.Errorf("%d batches in %d writes: the small batches of a backlog were not merged", batches, writes)
	}
	t.Logf("the backlog: %d batches in %d writes", batches, writes)
}
