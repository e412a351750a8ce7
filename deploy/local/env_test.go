// Package local holds the scripts that run Kafka and Redis without Docker
// (deploy/local/README.md) and the tests of what they promise. It has no Go
// code of its own: run `go test ./deploy/local`.
package local

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/internal/testenv"
)

// Starting one service must keep the other's line in the env file: with the
// Redis line alone, a serve that loads the file falls back to the default
// broker, on a shared machine somebody else's (issue 15). The broker's line
// here is the one an earlier `ALSOBOUGHT_LOCAL_SERVICES=kafka up.sh` wrote;
// the stale Redis line is replaced by the port Redis now runs on.
func TestStartingOneServiceKeepsTheOthersSetting(t *testing.T) {
	testenv.Setting(t, "ALSOBOUGHT_REDIS_ADDRS") // redis-server is installed where the services run
	runDir := t.TempDir()
	port, tlsPort := strconv.Itoa(testenv.FreePort(t)), strconv.Itoa(testenv.FreePort(t))
	envFile := filepath.Join(runDir, "env")
	earlier := "ALSOBOUGHT_KAFKA_BROKERS=127.0.0.1:29999\nALSOBOUGHT_REDIS_ADDRS=127.0.0.1:1\nMY_OWN=kept\n"
	if err := os.WriteFile(envFile, []byte(earlier), 0o644); err != nil {
		t.Fatal(err)
	}
	script := func(name string) string {
		t.Helper()
		cmd := exec.Command("bash", name+".sh")
		// Every setting that says where a service lives, so that nothing
		// lands on the shared run dir or ports.
		cmd.Env = append(os.Environ(), "ALSOBOUGHT_LOCAL_SERVICES=redis", "ALSOBOUGHT_LOCAL_RUN_DIR="+runDir,
			"ALSOBOUGHT_LOCAL_HOST=127.0.0.1", "ALSOBOUGHT_LOCAL_REDIS_PORT="+port, "ALSOBOUGHT_LOCAL_REDIS_TLS_PORT="+tlsPort,
			"ALSOBOUGHT_LOCAL_KAFKA_PORT=1", "ALSOBOUGHT_LOCAL_KAFKA_CONTROLLER_PORT=1")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s.sh: %v\n%s", name, err, stderr.String())
		}
		return string(out)
	}
	t.Cleanup(func() { script("down") })
	printed := script("up")

	redisLine := "ALSOBOUGHT_REDIS_ADDRS=127.0.0.1:" + port
	if printed != redisLine+"\n" {
		t.Errorf("up.sh printed %q, want the started service's line %q", printed, redisLine)
	}
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(lines)
	want := []string{"ALSOBOUGHT_KAFKA_BROKERS=127.0.0.1:29999", redisLine, "MY_OWN=kept"}
	if !slices.Equal(lines, want) {
		t.Fatalf("env file after starting Redis alone:\n%s\nwant the lines %q", b, want)
	}
	// The secured endpoints of the same run: Redis's TLS port, no broker's.
	b, err = os.ReadFile(filepath.Join(runDir, "secure-env"))
	if err != nil {
		t.Fatal(err)
	}
	secure := string(b)
	if !strings.Contains(secure, "ALSOBOUGHT_TEST_REDIS_TLS_ADDRS=127.0.0.1:"+tlsPort+"\n") ||
		strings.Contains(secure, "KAFKA") {
		t.Fatalf("secure-env after starting Redis alone:\n%s\nwant Redis's TLS port %s and no broker", secure, tlsPort)
	}
}
