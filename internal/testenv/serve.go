package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alsobought/alsobought/store"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary builds ./cmd/alsobought once per test process and returns the path
// of the executable. Process-level tests run the real binary so that a crash
// is a real crash: no deferred function, no graceful close of connections.
// With ALSOBOUGHT_TEST_RACE_BINARY=1 the binary is built with -race, and a
// serve process that reports a data race fails its test.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		// Not t.TempDir: the binary outlives the test that built it. The
		// directory is left behind; it holds one executable.
		dir, err := os.MkdirTemp("", "alsobought-bin-")
		if err != nil {
			binary.err = err
			return
		}
		path := filepath.Join(dir, "alsobought")
		// -buildvcs=auto: the binary says its commit, as make build's does.
		args := []string{"build", "-buildvcs=auto", "-o", path}
		if os.Getenv("ALSOBOUGHT_TEST_RACE_BINARY") == "1" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/alsobought")...)
		cmd.Dir = RepoFile(".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build ./cmd/alsobought: %v\n%s", err, out)
			return
		}
		binary.path = path
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// FreePort returns a TCP port of 127.0.0.1 that nothing listened on a moment
// ago. Another process may take it before the caller does; tests accept that
// small race rather than fixing ports that parallel runs would share.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ServeConfig are the settings of one `alsobought serve` process.
type ServeConfig struct {
	Brokers   []string
	RedisAddr string
	RedisMode store.Mode
	// SentinelMaster is the master's name at the sentinels (sentinel mode).
	SentinelMaster string
	Prefix         string
	Topic          string
	DLQTopic       string
	Group          string
	HistorySize    int
	Args           []string // further flags, e.g. -batch-size 500
}

// ServeConfig returns the settings that make a serve process work on this
// environment's topic, group and prefix.
func (e *Env) ServeConfig(historySize int) ServeConfig {
	return ServeConfig{
		Brokers: e.Brokers, RedisAddr: e.RedisAddr, RedisMode: e.RedisMode, SentinelMaster: e.SentinelMaster, Prefix: e.Prefix,
		Topic: e.Topic, DLQTopic: e.DLQTopic, Group: e.Group, HistorySize: historySize,
	}
}

// stateArgs are the flags every subcommand needs to find this state.
func (c ServeConfig) stateArgs() []string {
	args := []string{
		"-brokers", strings.Join(c.Brokers, ","),
		"-redis", c.RedisAddr,
		"-redis-mode", string(c.RedisMode),
		"-prefix", c.Prefix,
		"-topic", c.Topic,
		"-dlq-topic", c.DLQTopic,
		"-group", c.Group,
		"-history-size", strconv.Itoa(c.HistorySize),
		"-log-format", "json",
	}
	if c.RedisMode == store.Sentinel {
		args = append(args, "-redis-sentinel-master", c.SentinelMaster)
	}
	return args
}

// Serve is an `alsobought serve` child process that a test can start,
// kill and start again. It keeps its HTTP address across restarts, and
// every start appends to the same log file, whose tail is printed when the
// test fails.
type Serve struct {
	t       testing.TB
	bin     string
	cfg     ServeConfig
	addr    string
	logPath string
	client  *http.Client

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process has exited
	starts int
}

// StartServe starts a serve process on a free HTTP port. It is killed at
// cleanup whatever state the test left it in.
func StartServe(t testing.TB, cfg ServeConfig) *Serve {
	t.Helper()
	s := NewServe(t, cfg)
	s.Start()
	return s
}

// NewServe prepares a serve process without starting it.
func NewServe(t testing.TB, cfg ServeConfig) *Serve {
	t.Helper()
	s := &Serve{
		t:       t,
		bin:     Binary(t),
		cfg:     cfg,
		addr:    "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		logPath: filepath.Join(t.TempDir(), "serve.log"),
		client:  &http.Client{Timeout: 5 * time.Second},
	}
	t.Cleanup(func() {
		s.Kill()
		// The log goes with t.TempDir: print the first report.
		if b, err := os.ReadFile(s.logPath); err == nil {
			if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
				report := b[i:]
				if j := bytes.Index(report, []byte("\n==================")); j >= 0 {
					report = report[:j]
				}
				t.Errorf("serve reported a data race:\n%s", report)
			}
		}
		if t.Failed() {
			t.Logf("last lines of %s (http %s):\n%s", s.logPath, s.addr, s.LogTail(60))
		}
	})
	return s
}

// URL is the base URL of the HTTP API, e.g. http://127.0.0.1:40123.
func (s *Serve) URL() string { return "http://" + s.addr }

// LogPath is the file that collects the output of every start.
func (s *Serve) LogPath() string { return s.logPath }

// Start starts the process; it must not be running.
func (s *Serve) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running() {
		s.t.Fatalf("serve %s: Start while running", s.addr)
	}
	s.starts++
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	args := append([]string{"serve"}, s.cfg.stateArgs()...)
	args = append(args, "-http", s.addr)
	args = append(args, s.cfg.Args...)
	fmt.Fprintf(f, "=== start %d at %s: %s\n", s.starts, time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// If the test binary dies without running its cleanups (a panic, a
	// -timeout), the child must not keep consuming from shared services.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
}

func (s *Serve) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Running reports whether the process is alive.
func (s *Serve) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running()
}

// Pid is the process id of the current (or last) process.
func (s *Serve) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill sends SIGKILL and waits until the process is gone. The process gets
// no chance to finish a batch or to leave its consumer group. A process that
// is not running is left alone.
func (s *Serve) Kill() {
	s.t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	running := s.running()
	s.mu.Unlock()
	if !running {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("serve (pid %d) still running 30s after SIGKILL", cmd.Process.Pid)
	}
}

// Pause stops the process with SIGSTOP: it keeps its connections and its
// batch in flight but neither heartbeats nor writes, like a process stuck
// in a long GC pause or on a frozen VM. Resume lets it go on.
func (s *Serve) Pause() { s.t.Helper(); s.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (s *Serve) Resume() { s.t.Helper(); s.signal(syscall.SIGCONT) }

func (s *Serve) signal(sig syscall.Signal) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running() {
		s.t.Fatalf("serve %s: %v while not running", s.addr, sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("serve %s: %v: %v", s.addr, sig, err)
	}
}

// Term sends SIGTERM and waits for the process to exit; it returns the exit
// code and how long the exit took. A process still running after a minute
// is killed and fails the test: the code promises to stop within its
// shutdown timeout.
func (s *Serve) Term() (code int, took time.Duration) {
	s.t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	running := s.running()
	s.mu.Unlock()
	if !running {
		s.t.Fatalf("serve %s: Term while not running", s.addr)
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(time.Minute):
		s.Kill()
		s.t.Fatalf("serve (pid %d) still running a minute after SIGTERM; killed", cmd.Process.Pid)
	}
	return cmd.ProcessState.ExitCode(), time.Since(start)
}

// ExitCode is the exit code of the last process, or -1 when it is running
// or was never started (or was killed by a signal).
func (s *Serve) ExitCode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running() || s.cmd == nil {
		return -1
	}
	return s.cmd.ProcessState.ExitCode()
}

// ReadyStatus returns the status code and body of GET /readyz.
func (s *Serve) ReadyStatus() (int, string, error) {
	resp, err := s.client.Get(s.URL() + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// WaitReady polls /readyz until it answers 200. It fails the test when the
// process exits or the timeout passes, with the last answer.
func (s *Serve) WaitReady(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body, err := s.ReadyStatus()
		if code == http.StatusOK {
			return
		}
		if !s.Running() {
			s.t.Fatalf("serve %s exited (code %d) before it was ready", s.addr, s.ExitCode())
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("serve %s not ready after %s: last answer %d %s (error %v)", s.addr, timeout, code, strings.TrimSpace(body), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitReadyStatus polls /readyz until match accepts an answer, and returns
// that answer. It fails the test when the timeout passes first.
func (s *Serve) WaitReadyStatus(timeout time.Duration, what string, match func(code int, body string) bool) (int, string) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body, err := s.ReadyStatus()
		if err == nil && match(code, body) {
			return code, body
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("serve %s: /readyz did not show %s within %s: last answer %d %s (error %v)", s.addr, what, timeout, code, strings.TrimSpace(body), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Metric returns the sum of every series of a metric on /metrics (a metric
// that is not exposed yet is 0).
func (s *Serve) Metric(name string) (float64, error) {
	resp, err := s.client.Get(s.URL() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric whose name starts with this one
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			return 0, fmt.Errorf("metric line without value: %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// LogTail returns the last n lines of the log.
func (s *Serve) LogTail(n int) string {
	return tail(s.logPath, n)
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// cliStall is how long a subcommand may use no CPU time before RunCLI
// calls it stuck. A loaded machine runs it more slowly, never not at all.
const cliStall = 2 * time.Minute

// RunCLI runs another subcommand of the binary with this configuration's
// state flags, and returns its stdout, stderr and exit code. It has no
// deadline, which a loaded machine could miss: it kills the process and
// fails the test when the process has used no CPU time for cliStall.
func RunCLI(t testing.TB, cfg ServeConfig, command string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	all := append([]string{command}, cfg.stateArgs()...)
	all = append(all, args...)
	cmd := exec.Command(Binary(t), all...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ticks, moved := cpuTicks(cmd.Process.Pid), time.Now()
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("alsobought %s: %v", command, err)
			}
			return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
		case <-time.After(time.Second):
		}
		if now := cpuTicks(cmd.Process.Pid); now != ticks {
			ticks, moved = now, time.Now()
		} else if time.Since(moved) > cliStall {
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("alsobought %s used no CPU for %s: stuck; killed\nstderr:\n%s", command, cliStall, errOut.String())
		}
	}
}
