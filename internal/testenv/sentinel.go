package testenv

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store"
)

// PrivateSentinelMaster is the master's name of a PrivateSentinel.
const PrivateSentinelMaster = "alsobought"

// PrivateSentinel starts a Redis with Sentinel of this test alone with
// deploy/local/sentinel-up.sh, in a private run directory on three free
// consecutive ports: a master, its replica and one sentinel (Addr). A test
// may fail it over without disturbing the shared one. Start runs
// sentinel-up.sh again, Stop runs sentinel-down.sh; it is stopped at
// cleanup.
func PrivateSentinel(t testing.TB) *Service {
	t.Helper()
	requireServices(t)
	port := freePorts(t, 3)
	s := &Service{t: t, name: "sentinel", upScript: "sentinel-up.sh", downScript: "sentinel-down.sh", runDir: t.TempDir(),
		Addr: "127.0.0.1:" + strconv.Itoa(port+2)}
	dir := filepath.Join(s.runDir, "redis-sentinel", strconv.Itoa(port+2))
	s.pidFile, s.logFile = filepath.Join(dir, "redis.pid"), filepath.Join(dir, "redis.log")
	s.env = append(os.Environ(),
		"ALSOBOUGHT_LOCAL_RUN_DIR="+s.runDir,
		"ALSOBOUGHT_LOCAL_HOST=127.0.0.1",
		"ALSOBOUGHT_LOCAL_SENTINEL_PORT="+strconv.Itoa(port),
		"ALSOBOUGHT_LOCAL_SENTINEL_MASTER="+PrivateSentinelMaster,
	)
	t.Cleanup(s.down)
	s.Start()
	return s
}

// Stop runs the service's down script (sentinel-down.sh, down.sh): its
// state stays for the next Start.
func (s *Service) Stop() {
	s.t.Helper()
	if out, err := s.script(s.downScript); err != nil {
		s.t.Fatalf("private %s: %s: %v\n%s", s.name, s.downScript, err, out)
	}
}

// freePorts returns the first of n consecutive TCP ports of 127.0.0.1
// that nothing listened on a moment ago (as FreePort, with the same small
// race).
func freePorts(t testing.TB, n int) int {
	t.Helper()
	for range 50 {
		first := FreePort(t)
		ok := first+n-1 <= 65535
		for p := first + 1; ok && p < first+n; p++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return first
		}
	}
	t.Fatalf("no %d consecutive free ports found", n)
	return 0
}

// NewSentinelOn returns an environment like New on the given brokers and
// sentinels (for example a PrivateSentinel's) in sentinel mode, with
// topics when partitions > 0.
func NewSentinelOn(t testing.TB, brokers []string, sentinels, master string, partitions int) *Env {
	t.Helper()
	e := newEnvMaster(t, sentinels, store.Sentinel, master)
	if partitions > 0 {
		createTopics(t, e, brokers, partitions)
	}
	return e
}

// SentinelMaster returns the address the sentinel names as the master.
func SentinelMaster(ctx context.Context, t testing.TB, sentinel, master string) string {
	t.Helper()
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	addr, err := sc.GetMasterAddrByName(ctx, master).Result()
	if err != nil {
		t.Fatalf("sentinel %s: master %s: %v", sentinel, master, err)
	}
	return net.JoinHostPort(addr[0], addr[1])
}

// SentinelFailover makes the sentinel fail its master over (SENTINEL
// FAILOVER, as an operator moves a master for maintenance: no agreement
// asked of other sentinels, no catching up by the replica first) and
// returns once the sentinel names the replica as the master and it says
// so itself, with the old and the new master's addresses. A sentinel that
// does not yet hold the replica good enough (NOGOODSLAVE) or is still
// busy with a failover (INPROG) is asked again; ctx bounds the whole.
func SentinelFailover(ctx context.Context, t testing.TB, sentinel, master string) (from, to string) {
	t.Helper()
	from = SentinelMaster(ctx, t, sentinel, master)
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel})
	defer sc.Close()
	for {
		err := sc.Failover(ctx, master).Err()
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "NOGOODSLAVE") && !strings.Contains(err.Error(), "INPROG") {
			t.Fatalf("SENTINEL FAILOVER %s on %s: %v", master, sentinel, err)
		}
		wait(ctx, t, "SENTINEL FAILOVER accepted", err)
	}
	for {
		addr, err := sc.GetMasterAddrByName(ctx, master).Result()
		if err == nil {
			if to = net.JoinHostPort(addr[0], addr[1]); to != from && isMaster(ctx, to) {
				return from, to
			}
		}
		wait(ctx, t, "the sentinel names a new master "+master, err)
	}
}

func isMaster(ctx context.Context, addr string) bool {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	return err == nil && strings.Contains(info, "role:master")
}

// wait sleeps a moment before the next try, or fails the test when ctx
// ends first.
func wait(ctx context.Context, t testing.TB, what string, last error) {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatalf("waiting until %s: %v (last: %v)", what, ctx.Err(), last)
	case <-time.After(100 * time.Millisecond):
	}
}
