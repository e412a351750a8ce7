// Package consumer reads the events topic, and the catalogue topic of item
// records, as a Kafka consumer group and applies each partition's messages
// to the state in Redis in batches. It resumes every partition from the
// progress stored in Redis with the data, not from Kafka's committed
// offsets, which it commits only afterwards, for lag monitoring.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/obs"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// Defaults for Config.
const (
	DefaultBatchSize    = 2000
	DefaultBatchWait    = 20 * time.Millisecond
	DefaultBatchMaxWait = 500 * time.Millisecond
	DefaultFinishGrace  = 5 * time.Second
)

// MaxBatchMaxWait bounds Config.BatchMaxWait: a batch that is still
// filling does not check the stored progress or sweep, which an idle
// partition does every idleCheckInterval.
const MaxBatchMaxWait = idleCheckInterval

// kafkaProbeInterval is how often the consumer checks that the brokers
// answer: a partition reader retries a lost broker silently, so readiness
// needs its own probe.
const kafkaProbeInterval = 3 * time.Second

// Config of the consumer.
type Config struct {
	Kafka    *kafkaconn.Conn // the brokers and how to reach them (TLS, SASL)
	Topic    string
	GroupID  string
	DLQTopic string // dead-letter topic for events that fail validation
	// CatalogueTopic, when set, is the compacted topic of item records
	// (docs/events.md, "Catalogue records"), consumed by the same group;
	// its invalid records go to the same dead-letter topic.
	CatalogueTopic string
	HistorySize    int // K_hist: distinct purchased items retained per customer
	ViewHistory    int // K_view: distinct viewed items retained per customer
	// Bins is how the histograms group customers (docs/DESIGN.md §3): the
	// binning the state was built with (the zero value is
	// scoring.DefaultBins).
	Bins scoring.Bins
	// ListMinSupport is the lists' min support (scoring.ListRules): a
	// change that leaves a row's candidates below it and moves nothing
	// else the list reads marks no list (delta.Batch.MinSupport). 0 marks
	// every changed row.
	ListMinSupport int
	// HistoryMaxAge ages history entries on each customer's own clock
	// (docs/DESIGN.md section 10); 0 = never.
	HistoryMaxAge time.Duration
	// AllowedLateness is how far behind the watermark an event may be and
	// still see what it would have seen without the sweeps: the sweep
	// keeps entries this much longer than HistoryMaxAge.
	AllowedLateness time.Duration
	// SweepInterval is how often each partition looks for customers to
	// age out or erase; default DefaultSweepInterval.
	SweepInterval time.Duration
	// TombstoneTTL is how long a customer the sweeps deleted keeps its
	// fences; default store.DefaultTombstoneTTL.
	TombstoneTTL time.Duration
	BatchSize    int           // most messages per batch; default DefaultBatchSize
	BatchWait    time.Duration // how long a batch waits to fill at least; default DefaultBatchWait
	// BatchMaxWait is the freshness budget of coalescing: a batch that is
	// not full goes on filling until its first record is this old (by the
	// record's Kafka timestamp), so that thin input still makes batches
	// that merge many events per key (batchDeadline); the thin batches of
	// the partitions a consumer owns end together (batchRounds) and share
	// a write, which waits at most this long for them (batchWriter). 0 means
	// DefaultBatchMaxWait; at most MaxBatchMaxWait; at or below BatchWait
	// it is off (every batch waits BatchWait).
	BatchMaxWait time.Duration
	Limits       event.Limits  // id, size and MinTime limits; MaxTime is now + MaxEventSkew
	MaxEventSkew time.Duration // how far in the future an event's time may be
	Dedup        delta.Dedup   // which recent event ids each customer remembers
	// KeyPartitioner is PartitionerMurmur2 (events on another partition than
	// murmur2 of their key are dead-lettered) or PartitionerNone.
	KeyPartitioner string
	// FinishGrace bounds how long a stopping consumer keeps working on the
	// batch in flight; default DefaultFinishGrace. What is left is abandoned
	// safely: every write is fenced, and progress has not moved.
	FinishGrace time.Duration
	// Errors counts failed Redis and Kafka calls; nil counts nothing.
	Errors *obs.Errors
}

// Validate checks the configuration before anything connects.
func (c Config) Validate() error {
	switch {
	case c.Kafka == nil || len(c.Kafka.Brokers()) == 0:
		return errors.New("no Kafka broker: set ALSOBOUGHT_KAFKA_BROKERS (e.g. 127.0.0.1:19092)")
	case c.Topic == "":
		return errors.New("no topic: set ALSOBOUGHT_TOPIC")
	case c.GroupID == "":
		return errors.New("no consumer group: set ALSOBOUGHT_GROUP")
	case c.DLQTopic == "" || c.DLQTopic == c.Topic:
		return fmt.Errorf("dead-letter topic %q must be set and differ from the events topic", c.DLQTopic)
	case c.CatalogueTopic != "" && (c.CatalogueTopic == c.Topic || c.CatalogueTopic == c.DLQTopic):
		return fmt.Errorf("catalogue topic %q must differ from the events and dead-letter topics", c.CatalogueTopic)
	case c.HistorySize < 1:
		return fmt.Errorf("history size %d: K_hist must be at least 1", c.HistorySize)
	case c.ViewHistory < 1:
		return fmt.Errorf("view history size %d: K_view must be at least 1", c.ViewHistory)
	case c.Bins != "" && !slices.Contains(scoring.AllBins(), c.Bins):
		return fmt.Errorf("histogram bins %q: use %s or %s", c.Bins, scoring.LogBins, scoring.ExactBins)
	case c.ListMinSupport < 0:
		return fmt.Errorf("list min support %d must not be negative", c.ListMinSupport)
	case c.HistoryMaxAge < 0:
		return fmt.Errorf("history max age %s must not be negative", c.HistoryMaxAge)
	case c.AllowedLateness < 0 || c.SweepInterval < 0 || c.TombstoneTTL < 0:
		return fmt.Errorf("allowed lateness %s, sweep interval %s and tombstone TTL %s must not be negative", c.AllowedLateness, c.SweepInterval, c.TombstoneTTL)
	case c.BatchSize < 0 || c.BatchWait < 0 || c.BatchMaxWait < 0 || c.FinishGrace < 0:
		return errors.New("batch size, batch wait, batch max wait and finish grace must not be negative")
	case c.BatchMaxWait > MaxBatchMaxWait:
		return fmt.Errorf("batch max wait %s: at most %s", c.BatchMaxWait, MaxBatchMaxWait)
	case c.KeyPartitioner != PartitionerMurmur2 && c.KeyPartitioner != PartitionerNone:
		return fmt.Errorf("key partitioner %q: use %s or %s", c.KeyPartitioner, PartitionerMurmur2, PartitionerNone)
	}
	return c.Dedup.Validate()
}

// Stores are the parts of the state the consumer writes.
type Stores struct {
	Batches   StateStore
	Catalogue CatalogueStore // read only with Config.CatalogueTopic
	Sweeps    SweepStore
}

// StoresOf returns the parts of a store the consumer writes.
func StoresOf(st *store.Store) Stores {
	return Stores{Batches: st.Batches, Catalogue: st.Catalogue, Sweeps: st.Sweeps}
}

// Consumer applies the events topic, and the catalogue topic, to the state.
type Consumer struct {
	cfg       Config
	group     kafka.ConsumerGroupConfig
	apply     applier
	catalogue CatalogueStore
	sweeps    SweepStore
	dlq       *kafka.Writer
	log       zerolog.Logger
	dlqLog    zerolog.Logger // rate-limited: a flood of bad events must not flood the logs
	retries   zerolog.Logger // rate-limited: an outage repeats its failures every backoff
	metrics   *Metrics
	stats     stats
	owned     atomic.Pointer[membership] // this consumer's place in the current generation
	rounds    batchRounds

	mu       sync.Mutex
	notReady string // why the consumer is not ready, "" when it is
	kafkaErr string // the last failed broker probe, "" when the brokers answer
}

// New builds a consumer; it does not connect until Run.
func New(cfg Config, st Stores, log zerolog.Logger, m *Metrics) (*Consumer, error) {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchWait == 0 {
		cfg.BatchWait = DefaultBatchWait
	}
	if cfg.BatchMaxWait == 0 {
		cfg.BatchMaxWait = DefaultBatchMaxWait
	}
	if cfg.FinishGrace == 0 {
		cfg.FinishGrace = DefaultFinishGrace
	}
	if cfg.KeyPartitioner == "" {
		cfg.KeyPartitioner = PartitionerMurmur2
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CatalogueTopic != "" && st.Catalogue == nil {
		return nil, errors.New("a catalogue topic without a catalogue store")
	}
	if st.Sweeps == nil {
		return nil, errors.New("no sweep store")
	}
	a := applier{store: st.Batches, bins: cfg.Bins, minSupport: int64(cfg.ListMinSupport), retention: delta.Retention{Purchases: cfg.HistorySize, Views: cfg.ViewHistory, MaxAge: cfg.HistoryMaxAge}, dedup: cfg.Dedup, limits: cfg.Limits, maxSkew: cfg.MaxEventSkew}
	if cfg.KeyPartitioner == PartitionerMurmur2 {
		a.partitioner = &keyPartitioner{}
	}
	log = log.With().Str("component", "consumer").Logger()
	// The group is joined in Run; its configuration is checked here, so
	// that a bad one stops the process before anything starts.
	group := kafka.ConsumerGroupConfig{
		ID:                    cfg.GroupID,
		Brokers:               cfg.Kafka.Brokers(),
		Dialer:                cfg.Kafka.Dialer(),
		Topics:                topics(cfg),
		StartOffset:           kafka.FirstOffset,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        10 * time.Second,
		RebalanceTimeout:      10 * time.Second,
		WatchPartitionChanges: true,
		Logger:                kafka.LoggerFunc(func(string, ...any) {}),
		ErrorLogger:           kafka.LoggerFunc(func(f string, a ...any) { log.Debug().Msgf(f, a...) }),
	}
	if err := group.Validate(); err != nil {
		return nil, fmt.Errorf("consumer group %s: %w", cfg.GroupID, err)
	}
	dlq := cfg.Kafka.Writer(cfg.DLQTopic)
	dlq.BatchTimeout = 5 * time.Millisecond
	dlq.BatchBytes = deadLetterBatchBytes
	c := &Consumer{
		cfg:       cfg,
		group:     group,
		catalogue: st.Catalogue,
		sweeps:    st.Sweeps,
		dlq:       dlq,
		log:       log,
		dlqLog:    log.Sample(&zerolog.BurstSampler{Burst: 10, Period: 10 * time.Second}),
		retries:   obs.Repeats(log),
		metrics:   m,
		notReady:  "not started",
	}
	// A batch that finds the writer idle waits for the batches other
	// partitions are preparing at most the coalescing budget: they were
	// cut at the same deadline (batchRounds) and take about as long to
	// prepare.
	a.writer = newBatchWriter(st.Batches.ApplyMany, max(cfg.BatchWait, cfg.BatchMaxWait), cfg.BatchWait, m.observeWrite)
	c.apply = a
	return c, nil
}

// topics are the topics the group consumes.
func topics(cfg Config) []string {
	if cfg.CatalogueTopic == "" {
		return []string{cfg.Topic}
	}
	return []string{cfg.Topic, cfg.CatalogueTopic}
}

// NotReady returns why the consumer is not ready, or "".
func (c *Consumer) NotReady() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kafkaErr != "" {
		return c.kafkaErr
	}
	return c.notReady
}

// probeKafka checks every kafkaProbeInterval that the brokers answer.
func (c *Consumer) probeKafka(ctx context.Context) {
	t := time.NewTicker(kafkaProbeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, kafkaProbeInterval)
		_, err := kafkaadmin.PartitionCount(pctx, c.cfg.Kafka, c.cfg.Topic)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.cfg.Errors.Kafka()
		}
		c.mu.Lock()
		c.kafkaErr = ""
		if err != nil {
			c.kafkaErr = "kafka: " + err.Error()
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// clearKafkaNotReady clears a not-ready reason a failed Kafka call gave.
func (c *Consumer) clearKafkaNotReady() {
	c.mu.Lock()
	if strings.HasPrefix(c.notReady, "kafka: ") {
		c.notReady = ""
	}
	c.mu.Unlock()
}

func (c *Consumer) setNotReady(why string) {
	c.mu.Lock()
	c.notReady = why
	c.mu.Unlock()
}

// Run joins the group and consumes until ctx is cancelled; then it
// finishes the batches in flight (at most FinishGrace), leaves the group
// and returns nil. Errors of Kafka or Redis are retried with backoff: the
// consumer never gives up on its own; it returns an error only when the
// group cannot be created.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.dlq.Close()
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go c.probeKafka(probeCtx)
	group, err := kafka.NewConsumerGroup(c.group)
	if err != nil {
		return fmt.Errorf("join consumer group %s: %w", c.cfg.GroupID, err)
	}
	// Close leaves the group, so the partitions move at once instead of
	// after the session timeout.
	defer func() {
		if err := group.Close(); err != nil {
			c.log.Warn().Err(err).Msg("leaving the consumer group")
		} else {
			c.log.Info().Msg("left the consumer group")
		}
	}()
	bo := backoff{}
	for {
		gen, err := group.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.owned.Store(nil) // out of the group until a generation says otherwise
			err = c.cfg.Kafka.Explain(err, kafkaconn.Op{Name: "Read", Topic: c.cfg.Topic, Group: c.cfg.GroupID})
			c.cfg.Errors.Kafka()
			c.setNotReady("kafka: " + err.Error())
			c.kafkaRetries(err).Msg("waiting for a consumer group generation")
			if !bo.sleep(ctx) {
				return nil
			}
			continue
		}
		bo.reset()
		c.runGeneration(ctx, gen)
	}
}

// runGeneration starts one loop per assigned partition; they stop when the
// generation ends (rebalance) or ctx is cancelled.
func (c *Consumer) runGeneration(ctx context.Context, gen *kafka.Generation) {
	assigned := gen.Assignments[c.cfg.Topic]
	owned := membership{MemberID: gen.MemberID}
	for _, a := range assigned {
		owned.Partitions = append(owned.Partitions, a.ID)
	}
	slices.Sort(owned.Partitions)
	c.owned.Store(&owned)
	c.log.Info().Int32("generation", gen.ID).Int("partitions", len(assigned)).Msg("joined consumer group")
	c.setNotReady("")
	for _, a := range assigned {
		partition := a.ID
		gen.Start(func(gctx context.Context) {
			c.consumePartition(gctx, gen, partition)
		})
	}
	if c.cfg.CatalogueTopic == "" {
		return
	}
	for _, a := range gen.Assignments[c.cfg.CatalogueTopic] {
		partition := a.ID
		gen.Start(func(gctx context.Context) {
			c.followCatalogue(gctx, gen, partition)
		})
	}
}

// storedProgress is the progress stored in Redis with the data, -1 when
// none: a partition continues after it. Kafka's committed offset is not
// used: after Redis lost a suffix of writes it would be ahead of the data.
// It also records the topic's partition count for the key check first.
func (c *Consumer) storedProgress(ctx context.Context, partition int) (int64, error) {
	if c.apply.partitioner != nil {
		n, err := kafkaadmin.PartitionCount(ctx, c.cfg.Kafka, c.cfg.Topic)
		if err != nil {
			return 0, err
		}
		if partition >= n {
			// The group assigned a partition the broker's metadata does not
			// show yet (partitions were just added): wait for it, or events
			// keyed for the new count would be dead-lettered.
			return 0, fmt.Errorf("partition %d assigned, but the topic's metadata shows %d partitions: waiting for it to catch up", partition, n)
		}
		counts, err := c.apply.store.RecordPartitionCount(ctx, n)
		if err != nil {
			return 0, err
		}
		c.apply.partitioner.setCounts(counts)
	}
	progress, err := c.apply.store.Progress(ctx)
	if err != nil {
		return 0, err
	}
	if off, ok := progress[partition]; ok {
		return off, nil
	}
	return -1, nil
}

// seek moves the reader to the message after progress (-1: the first
// message the broker still has).
func seek(r *kafka.Reader, progress int64) error {
	if progress < 0 {
		return r.SetOffset(kafka.FirstOffset)
	}
	return r.SetOffset(progress + 1)
}

func (c *Consumer) consumePartition(ctx context.Context, gen *kafka.Generation, partition int) {
	// The generation's end (a rebalance, a stop) may hand the partition to
	// another member; the next generation starts only after this returns.
	defer c.metrics.releasePartition(partition)
	log := c.log.With().Int("partition", partition).Logger()
	retries := c.retries.With().Int("partition", partition).Logger()
	bo := backoff{}
	// recorded is the progress this loop knows Redis acknowledged; a stored
	// progress behind it means Redis lost writes (see applier.apply).
	var recorded int64
	for {
		var err error
		if recorded, err = c.storedProgress(ctx, partition); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		c.countFailure(err)
		c.setNotReady(notReadyReason(err))
		logRetry(retries, err).Msg("cannot read progress; retrying")
		if !bo.sleep(ctx) {
			return
		}
	}
	// A denied or failed Kafka call of that loop is over: say so now, not
	// only when a batch arrives (an idle partition may wait long for one).
	c.clearKafkaNotReady()
	r := c.cfg.Kafka.Reader(kafka.ReaderConfig{
		Topic:     c.cfg.Topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  8 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	if err := seek(r, recorded); err != nil {
		log.Error().Err(err).Msg("cannot seek")
		return
	}
	log.Info().Int64("after_offset", recorded).Msg("consuming partition")
	// The first sweep runs before any batch: it finishes the sweep a
	// previous owner may have left half written.
	sw := &partitionSweeper{partition: partition}
	for ctx.Err() == nil {
		var msgs []kafka.Message
		var thin bool
		err := c.sweepIfDue(ctx, sw, recorded)
		sweepFailed := err != nil
		if !sweepFailed {
			msgs, thin, err = c.fetchBatch(ctx, r, &c.rounds)
		}
		switch {
		case sweepFailed && errors.As(err, new(*store.ProgressLostError)):
			// Handled below, as for a batch.
		case sweepFailed:
			if ctx.Err() == nil {
				c.countFailure(err)
				c.setNotReady(err.Error())
				logRetry(retries, err).Msg("sweep failed; retrying before the next batch")
				bo.sleep(ctx)
			}
			continue
		case errors.Is(err, errIdle):
			c.markIdle(ctx, sw)
			// Nothing new: check that Redis still holds what was recorded,
			// or events it lost would wait for the next message.
			if err = c.checkProgress(ctx, partition, recorded); err == nil {
				// The reader waited without an error: a failed fetch
				// (a broker away, an ACL missing) is over, also when
				// nothing new arrives to clear it as a batch does.
				c.clearKafkaNotReady()
				continue
			}
		case err != nil:
			if ctx.Err() == nil {
				err = c.cfg.Kafka.Explain(err, kafkaconn.Op{Name: "Read", Topic: c.cfg.Topic, Group: c.cfg.GroupID})
				c.cfg.Errors.Kafka()
				c.setNotReady("kafka: " + err.Error())
				logRetry(retries, err).Msg("fetch failed; retrying")
				bo.sleep(ctx)
			}
			continue
		default:
			err = c.finishBatch(ctx, partition, msgs, thin, recorded, sw.lateBefore, log, retries, &bo)
			sw.idle = false // the batch cleared the idle mark
		}
		var lost *store.ProgressLostError
		if errors.As(err, &lost) {
			// Redis came back without some acknowledged batches: read them
			// again from what it still has; the fences skip what survived.
			c.metrics.observeRewind(partition)
			log.Warn().Int64("stored", lost.Stored).Int64("recorded", lost.Recorded).
				Msg("Redis lost applied writes: re-reading the partition from its stored progress")
			if err := seek(r, lost.Stored); err != nil {
				log.Error().Err(err).Msg("cannot seek")
				return
			}
			recorded = lost.Stored
			continue
		}
		if err != nil {
			return // stopping
		}
		bo.reset()
		c.setNotReady("")
		last := msgs[len(msgs)-1].Offset
		recorded = max(recorded, last)
		// Kafka's committed offset serves lag monitoring only; the resume
		// point lives in Redis, so a failed commit loses nothing.
		if err := gen.CommitOffsets(map[string]map[int]int64{c.cfg.Topic: {partition: last + 1}}); err != nil {
			log.Debug().Err(err).Msg("offset commit failed")
		}
	}
}

// finishBatch processes a batch, retrying failures with backoff. When ctx
// ends (shutdown, rebalance) it goes on for at most FinishGrace, so a
// stopping consumer normally records the progress of the batch it holds;
// after that the batch is abandoned, which is safe: its writes are fenced
// and the next owner starts after the recorded progress. It returns nil
// when the batch was applied, a *store.ProgressLostError when the batch must be
// dropped and the partition re-read, or ctx's error when it stopped.
func (c *Consumer) finishBatch(ctx context.Context, partition int, msgs []kafka.Message, thin bool, recorded, lateBefore int64, log, retries zerolog.Logger, bo *backoff) error {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(c.cfg.FinishGrace, cancel) })
	defer stop()
	for {
		err := c.processBatch(bctx, partition, msgs, thin, recorded, lateBefore)
		var lost *store.ProgressLostError
		if err == nil || errors.As(err, &lost) {
			return err
		}
		if ctx.Err() != nil {
			log.Info().Err(err).Int64("first_offset", msgs[0].Offset).Msg("stopping: batch abandoned, it will be applied again")
			return ctx.Err()
		}
		if errors.Is(err, errDeadLetter) {
			c.cfg.Errors.Kafka()
		} else {
			c.cfg.Errors.Redis()
		}
		c.setNotReady(err.Error())
		logRetry(retries, err).Int64("first_offset", msgs[0].Offset).Msg("batch failed; retrying")
		if !bo.sleep(ctx) {
			return ctx.Err()
		}
	}
}

// idleCheckInterval is how long a partition waits for a message before it
// checks the stored progress (checkProgress).
const idleCheckInterval = 5 * time.Second

// errIdle means no message arrived within idleCheckInterval.
var errIdle = errors.New("no message")

// checkProgress returns a *store.ProgressLostError when Redis holds an older
// progress for the partition than recorded, else nil (also when Redis does
// not answer: the next batch retries and reports that).
func (c *Consumer) checkProgress(ctx context.Context, partition int, recorded int64) error {
	bs, err := c.apply.store.LoadState(ctx, partition, nil)
	if err == nil && bs.Progress < recorded {
		return &store.ProgressLostError{Partition: partition, Stored: bs.Progress, Recorded: recorded}
	}
	return nil
}

// fetchBatch waits up to idleCheckInterval for the first message (errIdle
// when none came), then takes what arrives until the batch's deadline, up
// to BatchSize messages: batchDeadline's, or the round's when rounds is
// not nil (the events partitions' batches, which the writer merges). thin
// reports a batch of thin input, which the writer merges: it waited past
// BatchWait for messages (its first record was fresh) and did not fill, or
// it is small (smallBatchShare); a full batch or a large backlog's is not
// thin.
func (c *Consumer) fetchBatch(ctx context.Context, r *kafka.Reader, rounds *batchRounds) (msgs []kafka.Message, thin bool, err error) {
	fctx, cancelFirst := context.WithTimeout(ctx, idleCheckInterval)
	first, err := r.FetchMessage(fctx)
	cancelFirst()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, false, errIdle
		}
		return nil, false, err
	}
	msgs = []kafka.Message{first}
	fetched := time.Now()
	deadline := batchDeadline(fetched, first.Time, c.cfg.BatchWait, c.cfg.BatchMaxWait)
	coalescing := deadline.After(fetched.Add(c.cfg.BatchWait))
	if rounds != nil {
		if coalescing {
			deadline = rounds.deadline(fetched, deadline, c.cfg.BatchWait)
		}
		// A write that gathers from BatchWait before the deadline on
		// waits for this batch (batchWriter.expect), if it is thin;
		// processBatch takes it over.
		c.apply.writer.expect(first.Partition, deadline)
	}
	bctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for len(msgs) < c.cfg.BatchSize {
		m, err := r.FetchMessage(bctx)
		if err != nil {
			break
		}
		msgs = append(msgs, m)
	}
	small := c.cfg.BatchMaxWait > c.cfg.BatchWait && len(msgs) < c.cfg.BatchSize/smallBatchShare
	thin = small || coalescing && len(msgs) < c.cfg.BatchSize
	if rounds != nil && !thin {
		c.apply.writer.prepared(first.Partition) // written alone
	}
	return msgs, thin, nil
}

// smallBatchShare: with coalescing on (BatchMaxWait above BatchWait), a
// batch of fewer than BatchSize/smallBatchShare messages is thin, and
// merged with the other partitions' (batchWriter), even when its first
// record was old. At a paced load, a merged write that took longer than
// the coalescing budget leaves every partition a small backlog, and those
// batches, written apart, cost as many commands per event as unmerged
// paced ones (docs/BENCHMARKS.md, "Eleventh pass"). Larger batches, a real
// backlog's, are written alone, in parallel: merging them serialised the
// writes and cost the sustained rate a third.
const smallBatchShare = 4

// batchDeadline is when a batch whose first message was fetched at
// fetched, with Kafka record time record (zero: unknown), stops filling:
// when that record is maxWait old, but not before wait after the fetch
// and not after maxWait after it (a producer clock ahead of ours).
//
// Thin input is where this pays (docs/DESIGN.md, "Coalescing"): a batch
// that waited only wait would carry a few events, and every key they touch
// would cost a script call and its fence per batch; a full batch ends
// early, at BatchSize; and a backlog, whose first record is already old,
// waits only wait, as before. It costs freshness only beyond the
// re-scorer's minimum interval: a list's first mark carries the batch's
// earliest record time, and the list is re-scored once that mark is the
// interval old, however soon the batch landed.
func batchDeadline(fetched, record time.Time, wait, maxWait time.Duration) time.Time {
	earliest := fetched.Add(wait)
	if maxWait <= wait {
		return earliest
	}
	if record.IsZero() || record.After(fetched) {
		record = fetched
	}
	if end := record.Add(maxWait); end.After(earliest) {
		return end
	}
	return earliest
}

// batchRounds aligns the batch deadlines of the partitions a consumer
// owns, so that their batches end together and share a write
// (batchWriter): a batch whose own deadline (batchDeadline) is later than
// the round's open deadline ends with the round, and one that would not
// get its least wait in the round opens the next round at its own
// deadline. A batch never waits longer than batchDeadline says; one that
// joins a round ends sooner, with what it has.
type batchRounds struct {
	mu  sync.Mutex
	end time.Time // the open round's deadline
}

// deadline is when a batch whose first message was fetched at fetched,
// and whose own deadline is own (batchDeadline), stops filling: wait is
// the least a batch waits.
func (r *batchRounds) deadline(fetched, own time.Time, wait time.Duration) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.end.Before(fetched.Add(wait)):
		r.end = own
		return own
	case r.end.Before(own):
		return r.end
	}
	return own
}

// processBatch dead-letters the bad events (acknowledged before anything
// else moves), then applies the valid ones and records progress. A thin
// batch shares its write with the other partitions' batches prepared at
// the same time (batchWriter); a large batch gains little from that and
// is written at once, alone, beside any other write.
func (c *Consumer) processBatch(ctx context.Context, partition int, msgs []kafka.Message, thin bool, recorded, lateBefore int64) error {
	start := time.Now()
	if thin {
		// A write that gathers batches waits for this one until it is
		// queued or given up.
		c.apply.writer.prepare(partition)
		defer c.apply.writer.prepared(partition)
	}
	valid, bad := c.apply.decode(msgs)
	if len(bad) > 0 {
		if err := c.deadLetter(ctx, bad); err != nil {
			return err
		}
	}
	res, err := c.apply.apply(ctx, partition, valid, msgs[len(msgs)-1].Offset, recorded, lateBefore, thin)
	if err != nil {
		return fmt.Errorf("apply batch: %w", err)
	}
	res.Rejected = bad
	c.metrics.observeBatch(partition, msgs, res, time.Since(start))
	c.stats.observeBatch(len(msgs), res)
	return nil
}

// countFailure counts a failed call of either service: reading the
// progress asks Redis, and the broker for the partition count.
// notReadyReason is the not-ready reason of a failed call: a Kafka
// error's starts with "kafka: ", so that the next Kafka call that works
// clears it (clearKafkaNotReady).
func notReadyReason(err error) string {
	if errors.As(err, new(*kafkaconn.Error)) {
		return "kafka: " + err.Error()
	}
	return err.Error()
}

func (c *Consumer) countFailure(err error) {
	var kerr *kafkaconn.Error
	if errors.As(err, &kerr) {
		c.cfg.Errors.Kafka()
	} else {
		c.cfg.Errors.Redis()
	}
}

// kafkaRetries is the rate-limited log event of a failed Kafka call that
// is retried (logRetry).
func (c *Consumer) kafkaRetries(err error) *zerolog.Event { return logRetry(c.retries, err) }

// logRetry logs a retried failure at warn, or at error when retrying
// cannot help until an operator acts (refused credentials, certificate or
// ACL): the consumer goes on retrying with backoff, not ready, so that a
// granted ACL or a fixed secret is picked up without a restart; log is
// rate-limited (obs.Repeats), so that is no log storm.
func logRetry(log zerolog.Logger, err error) *zerolog.Event {
	if kafkaconn.Retryable(err) {
		return log.Warn().Err(err)
	}
	return log.Error().Err(err)
}

// backoff sleeps with capped exponential growth and full jitter.
type backoff struct{ n int }

func (b *backoff) reset() { b.n = 0 }

// sleep waits and reports false when ctx ended first.
func (b *backoff) sleep(ctx context.Context) bool {
	ceiling := 100 * time.Millisecond << min(b.n, 6) // 100ms .. 6.4s
	b.n++
	d := time.Duration(rand.Int64N(int64(ceiling))) + 50*time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
