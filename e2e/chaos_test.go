package e2e

// Process-level chaos tests: the real `alsobought serve` binary is killed,
// stopped and restarted, and so are Redis and the Kafka broker, while the
// stream is being consumed. Each test ends with `alsobought verify`: the
// state must equal the batch oracle of the events exactly once, whatever
// was interrupted (issue 3, item 8).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/internal/testenv"
)

const (
	// chaosHistory is K_hist: small, so that histories evict and the
	// eviction changes are exercised by every restart.
	chaosHistory    = 20
	chaosPartitions = 4
	// chaosEvents is how much of the Dunnhumby sample each test streams:
	// enough for several seconds of consuming on a 2-core machine.
	chaosEvents = 20000
	// chaosReady bounds a (re)start, a single step with no progress to
	// watch: after a SIGKILL the group coordinator waits for the dead
	// member's session (10 s) before it assigns the partitions again, and a
	// loaded machine starts a process slowly, so this is far above both. It
	// catches a process that never gets ready, not a slow one.
	chaosReady = 2 * time.Minute
)

// chaosStream is the events of one test, on the broker and in a file for
// the CLI verify.
type chaosStream struct {
	file string
	evs  []event.Event
}

func newChaosStream(t *testing.T, n int) chaosStream {
	t.Helper()
	file, evs := testenv.EventsFile(t, n)
	return chaosStream{file: file, evs: evs}
}

// chaosProduce publishes events keyed by customer (murmur2), acks=all.
// The writer's own timeouts and retries bound each batch; the whole stream
// has no deadline, which a loaded machine could miss.
func chaosProduce(t *testing.T, env *testenv.Env, evs []event.Event) {
	t.Helper()
	if _, err := replay.Run(context.Background(), replay.Config{Kafka: env.Kafka(), Topic: env.Topic}, evs); err != nil {
		t.Fatal(err)
	}
}

// chaosSeed returns the seed of a test's random schedule:
// ALSOBOUGHT_CHAOS_SEED replays a logged run.
func chaosSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv("ALSOBOUGHT_CHAOS_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("ALSOBOUGHT_CHAOS_SEED=%q: %v", v, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// chaosClock logs the steps of a test with the time since it started, so a
// slow or failed run shows where its time went. Its methods are the steps
// that several tests share.
type chaosClock struct {
	t     *testing.T
	start time.Time
}

func newChaosClock(t *testing.T) *chaosClock { return &chaosClock{t: t, start: time.Now()} }

func (c *chaosClock) logf(format string, args ...any) {
	c.t.Helper()
	c.t.Logf("[%5.1fs] %s", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

// startTwo starts two serve processes in one group, before any event is
// produced, and waits until both are members of one stable generation: each
// then owns partitions when the stream starts.
func (c *chaosClock) startTwo(env *testenv.Env, cfg testenv.ServeConfig) (first, second *testenv.Serve) {
	c.t.Helper()
	first = testenv.StartServe(c.t, cfg)
	first.WaitReady(chaosReady)
	second = testenv.StartServe(c.t, cfg)
	second.WaitReady(chaosReady)
	chaosWaitGroup(c.t, env, 2)
	c.logf("two consumers ready")
	return first, second
}

// finish is how the tests end: it waits until the whole stream is applied,
// stops each serve process with SIGTERM, which must exit 0, and checks the
// state with `alsobought verify` against the stream's events.
func (c *chaosClock) finish(env *testenv.Env, cfg testenv.ServeConfig, stream chaosStream, srvs ...*testenv.Serve) {
	c.t.Helper()
	waitApplied(c.t, env)
	c.logf("all %d messages applied", len(stream.evs))
	for _, srv := range srvs {
		// Term fails on a process that is gone too, but says neither its
		// exit code nor that serve must resume by itself after an outage.
		if !srv.Running() {
			c.t.Fatalf("serve exited (code %d) before the final SIGTERM; it should have resumed by itself", srv.ExitCode())
		}
		if code, took := srv.Term(); code != 0 {
			c.t.Errorf("serve exited with %d after SIGTERM (%s)", code, took)
		}
	}
	testenv.VerifyCLI(c.t, cfg, stream.file)
	c.logf("verified")
}

// TestChaosSIGKILLConsumer kills the consumer process at random moments
// while it consumes, at least five times, and restarts it each time. Every
// kill lands somewhere in the three-step batch write or between batches;
// the fences and the resume from Redis progress must still apply each event
// once.
func TestChaosSIGKILLConsumer(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	env := testenv.New(t, chaosPartitions)
	seed := chaosSeed(t)
	t.Logf("seed %d (ALSOBOUGHT_CHAOS_SEED=%d replays this schedule)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	// A fresh process consumes up to ~7000 events/s before its re-scorer
	// gets busy, so one window between ready and kill can eat 10000 events.
	// Rather than streaming the whole sample, the backlog is topped up with
	// the next events of the sample, in order, while the consumer is dead:
	// every kill then lands mid-stream, whatever the schedule. The oracle
	// is built from exactly the events produced.
	sample := testenv.Dunnhumby(t)
	const topUpBelow, chunk = 15000, 10000
	produced := min(chaosEvents, len(sample))
	chaosProduce(t, env, sample[:produced])

	cfg := env.ServeConfig(chaosHistory)
	// Smaller batches than the default: more batch boundaries, so more
	// points where a kill can land between the steps of a batch.
	cfg.Args = []string{"-batch-size", "500"}
	srv := testenv.StartServe(t, cfg)
	const kills = 5
	for i := 1; i <= kills; i++ {
		start := time.Now()
		srv.WaitReady(chaosReady)
		ready := time.Since(start)
		// The schedule, not an assertion: a random moment while consuming.
		after := 200*time.Millisecond + time.Duration(rng.Int64N(int64(1300*time.Millisecond)))
		time.Sleep(after)
		srv.Kill()
		lag, err := appliedLag(env)
		if err != nil {
			t.Fatal(err)
		}
		if lag == 0 {
			t.Fatalf("kill %d: the whole stream was applied before the kill", i)
		}
		clock.logf("kill %d: ready after %s, killed %s later with %d of %d messages left", i,
			ready.Round(time.Millisecond), after.Round(time.Millisecond), lag, produced)
		if i < kills && lag < topUpBelow && produced < len(sample) {
			n := min(produced+chunk, len(sample))
			chaosProduce(t, env, sample[produced:n])
			clock.logf("topped up: %d more events", n-produced)
			produced = n
		}
		srv.Start()
	}
	srv.WaitReady(chaosReady)
	clock.finish(env, cfg, newChaosStream(t, produced), srv)
}

// TestChaosReplayFromEarliest consumes the stream, then rewinds the group
// to the earliest offsets and deletes the resume point in Redis, so the
// next start consumes every offset again. The fences must keep the state
// equal to a single pass.
func TestChaosReplayFromEarliest(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	env := testenv.New(t, chaosPartitions)
	stream := newChaosStream(t, chaosEvents/2)
	chaosProduce(t, env, stream.evs)
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)
	waitApplied(t, env)
	clock.logf("first pass: all %d messages applied", len(stream.evs))
	// SIGTERM leaves the group: the broker accepts a commit outside any
	// generation only while the group has no member.
	if code, _ := srv.Term(); code != 0 {
		t.Fatalf("serve exited with %d after SIGTERM", code)
	}

	// A few requests, each a single step: chaosReady bounds them.
	ctx, cancel := context.WithTimeout(context.Background(), chaosReady)
	defer cancel()
	rewindGroup(ctx, t, env)
	progressKey := env.Store.Keys().Progress
	if n, err := env.Store.Client().Del(ctx, progressKey).Result(); err != nil || n != 1 {
		t.Fatalf("delete %s: deleted %d, err %v", progressKey, n, err)
	}
	if lag, err := appliedLag(env); err != nil || lag != int64(len(stream.evs)) {
		t.Fatalf("after the rewind the applied lag is %d (err %v), want every message: %d", lag, err, len(stream.evs))
	}
	clock.logf("group rewound to the earliest offsets, %s deleted", progressKey)

	srv.Start()
	srv.WaitReady(chaosReady)
	waitApplied(t, env)
	// Progress is written before the batch's metrics are counted: poll.
	// A stuck count ends the poll at chaosReady and fails the check below.
	deadline := time.Now().Add(chaosReady)
	var consumed, applied float64
	for {
		var err error
		consumed, err = srv.Metric("alsobought_events_consumed_total")
		if err != nil {
			t.Fatal(err)
		}
		if applied, err = srv.Metric("alsobought_events_applied_total"); err != nil {
			t.Fatal(err)
		}
		if consumed >= float64(len(stream.evs)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	clock.logf("second pass: %.0f messages consumed, %.0f applied", consumed, applied)
	if consumed != float64(len(stream.evs)) {
		t.Errorf("the second pass consumed %.0f messages, want every one: %d", consumed, len(stream.evs))
	}
	if applied != 0 {
		t.Errorf("the second pass applied %.0f events, want 0: all of them were applied by the first", applied)
	}
	if code, _ := srv.Term(); code != 0 {
		t.Errorf("serve exited with %d after SIGTERM", code)
	}
	testenv.VerifyCLI(t, cfg, stream.file)
	clock.logf("verified")
}

// rewindGroup commits every partition's first offset for the group, as
// `kafka-consumer-groups --reset-offsets --to-earliest` does: a commit
// outside any generation (generation -1, no member id), which the broker
// accepts while the group has no live member.
func rewindGroup(ctx context.Context, t *testing.T, env *testenv.Env) {
	t.Helper()
	client, done := env.Kafka().Client()
	defer done()
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{env.Topic: func() []kafka.OffsetRequest {
			var reqs []kafka.OffsetRequest
			for p := range chaosPartitions {
				reqs = append(reqs, kafka.FirstOffsetOf(p))
			}
			return reqs
		}()},
	})
	if err != nil {
		t.Fatal(err)
	}
	first := map[int]int64{}
	var commits []kafka.OffsetCommit
	var partitions []int
	for _, p := range ends.Topics[env.Topic] {
		if p.Error != nil {
			t.Fatalf("first offset of partition %d: %v", p.Partition, p.Error)
		}
		first[p.Partition] = p.FirstOffset
		partitions = append(partitions, p.Partition)
		commits = append(commits, kafka.OffsetCommit{Partition: p.Partition, Offset: p.FirstOffset})
	}
	resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: env.Group, GenerationID: -1, MemberID: "",
		Topics: map[string][]kafka.OffsetCommit{env.Topic: commits},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics[env.Topic] {
		if p.Error != nil {
			t.Fatalf("rewind partition %d: %v (is a member still in the group?)", p.Partition, p.Error)
		}
	}
	fetched, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: env.Group,
		Topics: map[string][]int{env.Topic: partitions}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range fetched.Topics[env.Topic] {
		if p.Error != nil || p.CommittedOffset != first[p.Partition] {
			t.Fatalf("partition %d: committed offset %d (err %v) after the rewind, want %d", p.Partition, p.CommittedOffset, p.Error, first[p.Partition])
		}
	}
}

// TestChaosRedisKilled kills redis-server (AOF, appendfsync everysec) while
// the consumer writes to it. Redis comes back from its AOF, which may have
// lost the last second of writes, always a suffix. The same serve process
// must report the outage on /readyz, resume by itself, and end exact.
func TestChaosRedisKilled(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	redis := testenv.PrivateRedis(t)
	env := testenv.NewOn(t, sharedBrokers(t), redis.Addr, chaosPartitions)
	stream := newChaosStream(t, chaosEvents)
	head, rest := splitMidStream(stream.evs)
	chaosProduce(t, env, head)
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)
	lag := waitHeadStarted(t, env, head)

	redis.Kill()
	clock.logf("redis killed with %d of %d messages left", lag+int64(len(rest)), len(stream.evs))
	chaosProduce(t, env, rest)
	_, body := srv.WaitReadyStatus(chaosReady, "503 naming redis", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(body), "redis")
	})
	clock.logf("/readyz while redis is down: %s", strings.TrimSpace(body))
	// The schedule, not an assertion: stay down long enough for the
	// consumer's batches to fail and back off a few times.
	time.Sleep(2 * time.Second)
	if !srv.Running() {
		t.Fatalf("serve exited (code %d) while redis was down", srv.ExitCode())
	}

	redis.Start()
	// Not a check of the product: how much the AOF lost, for the log. The
	// lag was read before the kill, and consuming went on until the kill.
	if after, err := appliedLag(env); err == nil && after > lag {
		clock.logf("redis restarted from its AOF; it lost the progress of at least %d messages", after-lag)
	} else {
		clock.logf("redis restarted from its AOF; lag %d (err %v)", after, err)
	}
	srv.WaitReady(chaosReady)
	clock.finish(env, cfg, stream, srv)
}

// TestChaosRedisLosesWrites is the crash the design's resume rule is made
// for: Redis comes back without the writes of its last moments (with
// appendfsync everysec, a machine crash loses up to a second of
// acknowledged writes; a process kill alone rarely does). The test cuts
// the AOF back to its length of a moment before the kill, so Redis
// restarts with a prefix of the writes the consumer saw acknowledged. The
// serve process that made them stays alive, and must still end exact.
func TestChaosRedisLosesWrites(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	redis := testenv.PrivateRedis(t)
	env := testenv.NewOn(t, sharedBrokers(t), redis.Addr, chaosPartitions)
	stream := newChaosStream(t, chaosEvents)
	chaosProduce(t, env, stream.evs)
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)
	lag := waitLagBelow(t, env, int64(len(stream.evs))*3/4)

	// The AOF as it was at this moment is what "survives the crash".
	mark := redis.AOFMark()
	later := waitLagBelow(t, env, lag-2000)
	// Frozen while Redis goes down and comes back, serve sees no outage:
	// resumed, it finds a Redis that lacks writes it acknowledged, perhaps
	// in the middle of a step. (The pause also keeps serve from re-applying
	// the lost messages before the loss is measured below.)
	srv.Pause()
	size := redis.CrashBackTo(mark)
	restored, err := appliedLag(env)
	if err != nil {
		t.Fatal(err)
	}
	srv.Resume()
	clock.logf("redis killed with %d messages left, its AOF cut from %d to %d bytes: restarted with %d left, so %d applied messages are lost",
		later, size, mark.Size(), restored, restored-later)
	if restored <= later {
		t.Fatalf("cutting the AOF lost no progress (lag %d before the kill, %d after): the test did not simulate a loss", later, restored)
	}

	srv.WaitReady(chaosReady)
	clock.finish(env, cfg, stream, srv)
}

// TestChaosKafkaBrokerRestart kills the only broker while the consumer
// reads from it and starts it again with the same log directory. The serve
// process must report the outage on /readyz, resume by itself, consume
// what is produced after the restart, and end exact.
func TestChaosKafkaBrokerRestart(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	broker := testenv.PrivateKafka(t)
	env := testenv.NewOn(t, []string{broker.Addr}, sharedRedis(t), chaosPartitions)
	stream := newChaosStream(t, chaosEvents)
	half := len(stream.evs) / 2
	chaosProduce(t, env, stream.evs[:half])
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)
	lag := waitHeadStarted(t, env, stream.evs[:half])

	broker.Kill()
	clock.logf("broker killed with %d of %d messages left", lag, half)
	// The consumer probes the brokers every few seconds for /readyz. The
	// timeout is generous: the assertion is that it notices, not how fast.
	_, body := srv.WaitReadyStatus(chaosReady, "503 naming kafka", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"reason":"kafka`)
	})
	clock.logf("/readyz while the broker is down: %s", strings.TrimSpace(body))
	if !srv.Running() {
		t.Fatalf("serve exited (code %d) while the broker was down", srv.ExitCode())
	}

	broker.Start()
	clock.logf("broker restarted")
	chaosProduce(t, env, stream.evs[half:])
	srv.WaitReady(chaosReady)
	clock.logf("serve ready again; the second half is produced")
	clock.finish(env, cfg, stream, srv)
}

// TestChaosTwoConsumersOneKilled runs two serve processes in one group and
// kills one while both consume: its partitions move to the survivor once
// the dead member's session expires, and the survivor starts them from the
// progress in Redis, after whatever the dead one half wrote.
func TestChaosTwoConsumersOneKilled(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	env := testenv.New(t, chaosPartitions)
	stream := newChaosStream(t, chaosEvents)
	cfg := env.ServeConfig(chaosHistory)
	survivor, victim := clock.startTwo(env, cfg)

	head, rest := splitMidStream(stream.evs)
	chaosProduce(t, env, head)
	lag := waitHeadStarted(t, env, head)
	consumed := consumedBy(t, victim, "killed")
	victim.Kill()
	clock.logf("one consumer killed after it consumed %.0f messages, %d of %d left", consumed, lag+int64(len(rest)), len(stream.evs))
	chaosProduce(t, env, rest)
	chaosWaitGroup(t, env, 1)
	clock.logf("the dead member's session expired: the survivor owns every partition")

	clock.finish(env, cfg, stream, survivor) // the survivor applies the rest
}

// TestChaosZombieConsumer freezes one of two consumers (SIGSTOP) while it
// consumes, for longer than its session: the group gives its partitions to
// the other, which applies everything. Then the frozen one is let go
// (SIGCONT) and finishes whatever batch it held, a zombie writing stale
// changes after the new owner's. The fences must turn those writes into
// no-ops.
func TestChaosZombieConsumer(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	env := testenv.New(t, chaosPartitions)
	stream := newChaosStream(t, chaosEvents)
	cfg := env.ServeConfig(chaosHistory)
	owner, zombie := clock.startTwo(env, cfg)

	head, rest := splitMidStream(stream.evs)
	chaosProduce(t, env, head)
	lag := waitHeadStarted(t, env, head)
	before := consumedBy(t, zombie, "frozen")
	zombie.Pause()
	clock.logf("one consumer frozen with %d of %d messages left, after it consumed %.0f", lag+int64(len(rest)), len(stream.evs), before)
	chaosProduce(t, env, rest)

	// The owner gets the frozen member's partitions once its session
	// expires, and applies the whole stream.
	waitApplied(t, env)
	clock.logf("all %d messages applied by the other consumer", len(stream.evs))

	chaosWaitGroup(t, env, 1) // the frozen member was evicted
	zombie.Resume()
	// kafka-go joins a new generation only after the partition loops of the
	// old one have returned: once the zombie is a member again, it has
	// finished or abandoned its stale batches.
	chaosWaitGroup(t, env, 2)
	zombie.WaitReady(chaosReady)
	after, err := zombie.Metric("alsobought_events_consumed_total")
	if err != nil {
		t.Fatal(err)
	}
	// Informative: batches it completed after SIGCONT were stale.
	clock.logf("the zombie is back and ready; it consumed %.0f more messages after it was let go", after-before)
	clock.finish(env, cfg, stream, zombie, owner)
}

// consumedBy waits until srv has consumed messages and returns how many,
// so that what the test does to it next (the role: killed, frozen) hits a
// consumer in the middle of its work. The other member may apply a quarter
// of the stream before srv's first batch is counted (CI saw it), so this
// waits on srv's own counter; it fails when srv counts nothing within
// chaosReady: it owned no partition, and the test would test nothing.
func consumedBy(t *testing.T, srv *testenv.Serve, role string) float64 {
	t.Helper()
	const metric = "alsobought_events_consumed_total"
	deadline := time.Now().Add(chaosReady)
	for {
		n, err := srv.Metric(metric)
		if err == nil && n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (err %v) on the %s instance after %s: it took no share of the work", metric, n, err, role, chaosReady)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustHaveCounted returns a counter of srv, and fails the test when it is
// still 0: srv took no share of that work, so what the test does to it
// next (its role) would test nothing.
func mustHaveCounted(t *testing.T, srv *testenv.Serve, metric, role string) float64 {
	t.Helper()
	n, err := srv.Metric(metric)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("%s = 0 on the %s instance: it took no share of the work", metric, role)
	}
	return n
}

// chaosWaitGroup waits until the consumer group is stable with n members
// and returns their member ids. Joining and leaving are single steps with
// no progress to watch: chaosReady bounds them.
func chaosWaitGroup(t *testing.T, env *testenv.Env, n int) []string {
	t.Helper()
	client, done := env.Kafka().Client()
	defer done()
	deadline := time.Now().Add(chaosReady)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{env.Group}})
		cancel()
		var state string
		var members []string
		if err == nil && len(resp.Groups) == 1 {
			g := resp.Groups[0]
			state, err = g.GroupState, g.Error
			for _, m := range g.Members {
				members = append(members, m.MemberID)
			}
		}
		if err == nil && state == "Stable" && len(members) == n {
			return members
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: state %q with %d members (err %v) after %s, want Stable with %d", env.Group, state, len(members), err, chaosReady, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestChaosGracefulShutdown stops the consumer with SIGTERM while it
// consumes: it must exit 0, and a new process must finish the stream
// exactly. serve bounds its own graceful stop (shutdownTimeout in
// cmd/alsobought) and exits non-zero past it, so exit 0 says the stop
// finished in time; the test adds no wall-clock bound of its own, which a
// loaded machine would miss.
func TestChaosGracefulShutdown(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	env := testenv.New(t, chaosPartitions)
	stream := newChaosStream(t, chaosEvents)
	chaosProduce(t, env, stream.evs)
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)
	lag := waitLagBelow(t, env, int64(len(stream.evs))*3/4)

	code, took := srv.Term()
	clock.logf("SIGTERM with %d of %d messages left: exit %d after %s", lag, len(stream.evs), code, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	// Leaving the group hands the partitions over at once instead of after
	// the session timeout.
	if log := srv.LogTail(200); !strings.Contains(log, "left the consumer group") {
		t.Errorf("serve did not leave the consumer group on SIGTERM; its log ends:\n%s", log)
	}

	srv.Start()
	srv.WaitReady(chaosReady)
	clock.finish(env, cfg, stream, srv) // after the restart
}

func sharedBrokers(t *testing.T) []string {
	t.Helper()
	return strings.Split(testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")
}

func sharedRedis(t *testing.T) string {
	t.Helper()
	return testenv.Setting(t, "ALSOBOUGHT_REDIS_ADDRS")
}

// TestChaosRedisLosesMergedWrites is TestChaosRedisLosesWrites on thin
// input: the stream is produced at a steady, low rate, so the partitions'
// batches are thin and the consumer merges them into shared writes
// (store.Batches.ApplyMany). Redis comes back without merged writes it
// acknowledged, perhaps in the middle of one; every partition of the
// refused write applies its batch again, the partitions whose progress
// went back re-read from there, and the state must still equal the
// oracle.
func TestChaosRedisLosesMergedWrites(t *testing.T) {
	t.Parallel()
	clock := newChaosClock(t)
	redis := testenv.PrivateRedis(t)
	env := testenv.NewOn(t, sharedBrokers(t), redis.Addr, chaosPartitions)
	stream := newChaosStream(t, chaosEvents/2)
	cfg := env.ServeConfig(chaosHistory)
	srv := testenv.StartServe(t, cfg)
	srv.WaitReady(chaosReady)
	// 20 s of input: the waits below need a few seconds of it.
	produced := make(chan error, 1)
	go func() {
		// 500 events/s over 4 partitions: each partition's batch holds
		// what half a second brings, about 60 events.
		_, err := replay.Run(context.Background(), replay.Config{Kafka: env.Kafka(), Topic: env.Topic, Rate: 500}, stream.evs)
		produced <- err
	}()
	// writes returns the writes so far and how many batches more than
	// writes they held: above 0 once writes are merged.
	writes := func() (writes, merged float64) {
		n, err := srv.Metric("alsobought_batch_write_batches_count")
		if err != nil {
			t.Fatal(err)
		}
		sum, err := srv.Metric("alsobought_batch_write_batches_sum")
		if err != nil {
			t.Fatal(err)
		}
		return n, sum - n
	}
	waitUntil(t, "a few merged writes", func() bool { _, merged := writes(); return merged >= 4 })

	// The AOF as it was at this moment is what "survives the crash"; the
	// writes after it are lost.
	mark := redis.AOFMark()
	atMark, _ := writes()
	waitUntil(t, "more writes after the AOF mark", func() bool { n, _ := writes(); return n >= atMark+4 })
	srv.Pause()
	before, err := env.Store.Batches.Progress(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	size := redis.CrashBackTo(mark)
	after, err := env.Store.Batches.Progress(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv.Resume()
	lost := int64(0)
	for p, off := range before {
		kept, ok := after[p]
		if !ok {
			kept = -1
		}
		lost += off - kept
	}
	clock.logf("redis killed and its AOF cut from %d to %d bytes: progress %v became %v, %d applied messages lost", size, mark.Size(), before, after, lost)
	if lost <= 0 {
		t.Fatalf("cutting the AOF lost no progress (%v before, %v after): the test did not simulate a loss", before, after)
	}
	// The partitions learn of the loss from their guards, a merged write's
	// refusal or their next read of the progress, and re-read from there.
	waitUntil(t, "a partition to re-read after the loss", func() bool {
		n, err := srv.Metric("alsobought_progress_rewinds_total")
		return err == nil && n > 0
	})
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	srv.WaitReady(chaosReady)
	clock.finish(env, cfg, stream, srv)
}

// waitUntil polls cond until it holds, and fails the test after two
// minutes: what it waits for comes with the stream's progress, which a
// loaded machine slows but does not stop.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
