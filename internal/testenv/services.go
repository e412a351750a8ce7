package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Service is a redis-server or a Kafka broker of this test alone, started
// with deploy/local/up.sh in a private run directory on free ports, so that
// the test may kill it without disturbing the shared services. It is
// stopped with deploy/local/down.sh at cleanup.
type Service struct {
	t          testing.TB
	name       string // "redis", "kafka" or "sentinel"
	upScript   string // the deploy/local script that starts it: up.sh, sentinel-up.sh
	downScript string // and the one that stops it
	Addr       string // host:port for clients (of the sentinel, for "sentinel")
	runDir     string
	env        []string
	pidFile    string
	logFile    string
}

// PrivateRedis starts a redis-server of this test (AOF on, appendfsync
// everysec, as up.sh configures it). Start after Kill reloads the AOF of the
// same directory.
func PrivateRedis(t testing.TB) *Service {
	t.Helper()
	requireServices(t)
	s := newService(t, "redis")
	s.pidFile = filepath.Join(s.runDir, "redis", "redis.pid")
	s.logFile = filepath.Join(s.runDir, "redis", "redis.log")
	s.Start()
	return s
}

// PrivateKafka starts a single-node Kafka broker of this test. Start after
// Kill keeps its log directory, so topics, messages and committed offsets
// survive. The jars come from the repository's .cache.
func PrivateKafka(t testing.TB) *Service {
	t.Helper()
	requireServices(t)
	s := newService(t, "kafka")
	s.pidFile = filepath.Join(s.runDir, "kafka", "kafka.pid")
	s.logFile = filepath.Join(s.runDir, "kafka", "logs", "server.log")
	s.Start()
	return s
}

// requireServices skips tests that start their own services when the shared
// ones are not configured either: such a run means "no services here".
func requireServices(t testing.TB) {
	t.Helper()
	Setting(t, "ALSOBOUGHT_KAFKA_BROKERS")
	Setting(t, "ALSOBOUGHT_REDIS_ADDRS")
}

func newService(t testing.TB, name string) *Service {
	t.Helper()
	redisPort, kafkaPort, controllerPort := FreePort(t), FreePort(t), FreePort(t)
	redisTLSPort, kafkaSASLPort := FreePort(t), FreePort(t)
	s := &Service{t: t, name: name, upScript: "up.sh", downScript: "down.sh", runDir: t.TempDir()}
	if name == "redis" {
		s.Addr = "127.0.0.1:" + strconv.Itoa(redisPort)
	} else {
		s.Addr = "127.0.0.1:" + strconv.Itoa(kafkaPort)
	}
	// Every setting of lib.sh that says where a service lives is set here,
	// whatever the caller's environment holds, so a private service never
	// lands on the shared run dir or ports.
	s.env = append(os.Environ(),
		"ALSOBOUGHT_LOCAL_SERVICES="+name,
		"ALSOBOUGHT_LOCAL_RUN_DIR="+s.runDir,
		// The Kafka jars are downloaded once, into the repository's cache.
		"ALSOBOUGHT_LOCAL_CACHE_DIR="+RepoFile(".cache"),
		"ALSOBOUGHT_LOCAL_HOST=127.0.0.1",
		"ALSOBOUGHT_LOCAL_REDIS_PORT="+strconv.Itoa(redisPort),
		"ALSOBOUGHT_LOCAL_KAFKA_PORT="+strconv.Itoa(kafkaPort),
		"ALSOBOUGHT_LOCAL_KAFKA_CONTROLLER_PORT="+strconv.Itoa(controllerPort),
		// The secured listeners of the same processes.
		"ALSOBOUGHT_LOCAL_REDIS_TLS_PORT="+strconv.Itoa(redisTLSPort),
		"ALSOBOUGHT_LOCAL_KAFKA_SASL_PORT="+strconv.Itoa(kafkaSASLPort),
	)
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(s.down)
	return s
}

func (s *Service) script(name string) ([]byte, error) {
	cmd := exec.Command("bash", RepoFile("deploy/local/"+name))
	cmd.Env = s.env
	return cmd.CombinedOutput()
}

// Start runs up.sh and returns when the service answers.
func (s *Service) Start() {
	s.t.Helper()
	start := time.Now()
	out, err := s.script(s.upScript)
	if err != nil {
		s.t.Fatalf("private %s: %s: %v\n%s", s.name, s.upScript, err, out)
	}
	s.t.Logf("private %s up on %s (pid %d) in %s", s.name, s.Addr, s.Pid(), time.Since(start).Round(time.Millisecond))
}

func (s *Service) down() {
	if out, err := s.script(s.downScript); err != nil {
		s.t.Errorf("private %s: %s: %v\n%s", s.name, s.downScript, err, out)
	}
	if s.t.Failed() {
		s.t.Logf("last lines of %s:\n%s", s.logFile, tail(s.logFile, 30))
	}
}

// RunDir is the service's private run directory (deploy/local's layout:
// redis/appendonlydir/ holds Redis's AOF, kafka/data/ the broker's logs).
func (s *Service) RunDir() string { return s.runDir }

// Pid is the process id in the service's pid file, 0 when there is none.
func (s *Service) Pid() int {
	b, err := os.ReadFile(s.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Kill sends SIGKILL to the service and waits until the process is gone:
// a crash, with no AOF fsync on the way out for Redis and no controlled
// shutdown for Kafka.
func (s *Service) Kill() {
	s.t.Helper()
	pid := s.Pid()
	if pid == 0 || !processAlive(pid) {
		s.t.Fatalf("private %s: no live process to kill (pid file %s)", s.name, s.pidFile)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		s.t.Fatalf("private %s: kill %d: %v", s.name, pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			s.t.Fatalf("private %s: pid %d still alive 30s after SIGKILL", s.name, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Logf("private %s (pid %d) killed", s.name, pid)
}

// cpuTicks is the CPU time (user and system, in clock ticks) a process has
// used so far, or -1 when it cannot be read.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// After the parenthesised command name: state is field 3, utime 14,
	// stime 15 (proc(5)).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return utime + stime
}

// processAlive: the process exists and is not a zombie. The services are
// daemons whose parent is init, which may reap them late; a zombie holds no
// port and no file.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// AOFMark is how far a private Redis's append-only file reached at a
// moment: what survives CrashBackTo.
type AOFMark struct {
	file string // the incremental AOF Redis appended to
	size int64
}

// Size is the AOF's length at the mark, in bytes.
func (m AOFMark) Size() int64 { return m.size }

// AOFMark returns how far the private Redis's AOF reaches now. Under
// appendfsync always the file holds every write Redis acknowledged so far;
// under everysec (up.sh's) Redis may hold writes back for up to 2 s while
// a background fsync runs, so the mark may fall before some of them.
func (s *Service) AOFMark() AOFMark {
	s.t.Helper()
	file := s.lastIncrAOF()
	return AOFMark{file: file, size: s.fileSize(file)}
}

// CrashBackTo kills the private Redis and starts it again from its AOF cut
// back to mark: a Redis that comes back without the writes it acknowledged
// since (with appendfsync everysec a machine crash loses up to a second of
// them; a process kill alone rarely does). It returns the AOF's size
// before the cut.
func (s *Service) CrashBackTo(mark AOFMark) (before int64) {
	s.t.Helper()
	s.Kill()
	if now := s.lastIncrAOF(); now != mark.file {
		s.t.Fatalf("redis started a new AOF file (%s after %s): cannot cut it back", now, mark.file)
	}
	before = s.fileSize(mark.file)
	if err := os.Truncate(mark.file, mark.size); err != nil {
		s.t.Fatal(err)
	}
	s.Start()
	return before
}

// lastIncrAOF is the file Redis appends to: the incremental AOF with the
// highest sequence number (Redis 7 multi-part AOF).
func (s *Service) lastIncrAOF() string {
	s.t.Helper()
	files, err := filepath.Glob(filepath.Join(s.runDir, "redis", "appendonlydir", "*.incr.aof"))
	if err != nil || len(files) == 0 {
		s.t.Fatalf("no incremental AOF in %s (err %v)", s.runDir, err)
	}
	seq := func(f string) int {
		parts := strings.Split(filepath.Base(f), ".")
		n, _ := strconv.Atoi(parts[len(parts)-3]) // appendonly.aof.<n>.incr.aof
		return n
	}
	last := files[0]
	for _, f := range files[1:] {
		if seq(f) > seq(last) {
			last = f
		}
	}
	return last
}

func (s *Service) fileSize(path string) int64 {
	s.t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		s.t.Fatal(err)
	}
	return fi.Size()
}
