package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A bench that is killed (no deferred stop runs) takes its serve child with
// it. The test runs a "bench" in a second process: it starts a child that
// logs a serving address and answers /readyz like serve, and prints the
// child's pid. The test kills that process and waits for the child to go.
func TestServeChildDiesWithTheBench(t *testing.T) {
	if os.Getenv("ALSOBOUGHT_BENCH_CHILD_TEST") == "parent" {
		runFakeBench()
		return
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestServeChildDiesWithTheBench$", "-test.count=1")
	parent.Env = append(os.Environ(), "ALSOBOUGHT_BENCH_CHILD_TEST=parent")
	parent.Stderr = os.Stderr
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "child pid "); ok {
			pid, _ = strconv.Atoi(p)
			break
		}
	}
	if pid == 0 {
		_ = parent.Process.Kill()
		t.Fatalf("the fake bench did not start its child (%v)", parent.Wait())
	}
	if !running(pid) {
		t.Fatalf("child %d is not running while the bench is", pid)
	}
	_ = parent.Process.Kill()
	_ = parent.Wait()
	for deadline := time.Now().Add(30 * time.Second); running(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = killPid(pid)
			t.Fatalf("child %d still running 30 s after the bench was killed", pid)
		}
	}
}

func runFakeBench() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	addr := strings.TrimPrefix(srv.URL, "http://")
	script := `echo '{"message":"alsobought serving","http":"` + addr + `"}' >&2; exec sleep 600`
	c, err := startChild(context.Background(), []string{"sh", "-c", script}, time.Minute)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("child pid %d\n", c.cmd.Process.Pid)
	select {} // until killed
}

// running reports whether pid is alive: present and not a zombie waiting
// to be reaped.
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func killPid(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
