package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
)

// child is an `alsobought serve` process the bench runs on its own topic
// and prefix. It is a separate process so that its CPU time (from its own
// /metrics, process_cpu_seconds_total) is the consumer's and re-scorer's
// alone, not the producer's or the bench's.
type child struct {
	cmd     *exec.Cmd
	url     string // http://host:port
	logPath string
	done    chan struct{} // closed when the process has exited
	client  *http.Client
}

// startChild runs argv (the serve command line) with its log in a
// temporary file, learns its HTTP address from the log line "alsobought
// serving" (so it can listen on port 0), and waits until /readyz says
// ready (the consumer has joined the group and got its partitions).
func startChild(ctx context.Context, argv []string, timeout time.Duration) (*child, error) {
	logFile, err := os.CreateTemp("", "alsobought-bench-serve-*.log")
	if err != nil {
		return nil, fmt.Errorf("serve log: %w", err)
	}
	c := &child{logPath: logFile.Name(), done: make(chan struct{}), client: &http.Client{Timeout: 10 * time.Second}}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Stdout = logFile
	// A bench killed before its deferred stop must not leave serve
	// consuming from the shared broker and Redis.
	dieWithParent(c.cmd)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", strings.Join(argv, " "), err)
	}
	addr := make(chan string, 1)
	logged := make(chan struct{}) // closed once the whole log is in the file
	go func() {
		defer close(logged)
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = logFile.Write(append(line, '\n'))
			var entry struct{ Message, HTTP string }
			if json.Unmarshal(line, &entry) == nil && entry.Message == "alsobought serving" && entry.HTTP != "" {
				select {
				case addr <- entry.HTTP:
				default:
				}
			}
		}
		_, _ = io.Copy(logFile, stderr)
	}()
	// Wait closes the pipe: it must come after the last read (os/exec), or
	// the lines that say why serve exited could be lost; done says the log
	// is complete as well.
	go func() { <-logged; _ = c.cmd.Wait(); close(c.done) }()

	deadline := time.After(timeout)
	select {
	case a := <-addr:
		c.url = "http://" + a
	case <-c.done:
		return nil, fmt.Errorf("serve exited at start (%s); its log:\n%s", c.cmd.ProcessState, c.logTail(20))
	case <-deadline:
		c.stop()
		return nil, fmt.Errorf("serve did not log its address within %s; its log:\n%s", timeout, c.logTail(20))
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
	for {
		resp, err := c.client.Get(c.url + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("serve exited before it was ready (%s); its log:\n%s", c.cmd.ProcessState, c.logTail(20))
		case <-deadline:
			c.stop()
			return nil, fmt.Errorf("serve not ready within %s; its log:\n%s", timeout, c.logTail(20))
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// metrics reads the process's /metrics.
func (c *child) metrics(ctx context.Context) (scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("serve /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("serve /metrics: %s", resp.Status)
	}
	return parseScrape(resp.Body, expfmt.ResponseFormat(resp.Header))
}

// alive returns an error with the log when the process has exited.
func (c *child) alive() error {
	select {
	case <-c.done:
		return fmt.Errorf("serve exited during the run (%s); its log:\n%s", c.cmd.ProcessState, c.logTail(20))
	default:
		return nil
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 20 s.
func (c *child) stop() {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

func (c *child) removeLog() { _ = os.Remove(c.logPath) }

func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
