package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/testenv"
)

// A redis-server that an older up.sh started (no TLS port, no admin user)
// is secured by up.sh without a restart: the same process, its keys kept,
// then also answers on its TLS port to the admin user, with a certificate
// the local CA signed, and refuses a client that trusts another CA.
func TestUpSecuresARunningRedisWithoutARestart(t *testing.T) {
	testenv.Setting(t, "ALSOBOUGHT_REDIS_ADDRS") // redis-server is installed where the services run
	runDir := t.TempDir()
	port, tlsPort := testenv.FreePort(t), testenv.FreePort(t)
	env := append(os.Environ(), "ALSOBOUGHT_LOCAL_SERVICES=redis", "ALSOBOUGHT_LOCAL_RUN_DIR="+runDir,
		"ALSOBOUGHT_LOCAL_HOST=127.0.0.1", "ALSOBOUGHT_LOCAL_REDIS_PORT="+strconv.Itoa(port),
		"ALSOBOUGHT_LOCAL_REDIS_TLS_PORT="+strconv.Itoa(tlsPort),
		"ALSOBOUGHT_LOCAL_KAFKA_PORT=1", "ALSOBOUGHT_LOCAL_KAFKA_CONTROLLER_PORT=1", "ALSOBOUGHT_LOCAL_KAFKA_SASL_PORT=1")
	script := func(name string) {
		t.Helper()
		cmd := exec.Command("bash", name+".sh")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s.sh: %v\n%s", name, err, out)
		}
	}
	// What the up.sh before the TLS port ran, in the directory up.sh uses.
	dir := filepath.Join(runDir, "redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--daemonize", "yes", "--pidfile", filepath.Join(dir, "redis.pid"), "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"), "--appendonly", "yes", "--save", "", "--maxmemory-policy", "noeviction")
	if out, err := old.CombinedOutput(); err != nil {
		t.Fatalf("redis-server: %v\n%s", err, out)
	}
	t.Cleanup(func() { script("down") })
	ctx := context.Background()
	plain := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
	defer plain.Close()
	for deadline := time.Now().Add(30 * time.Second); plain.Set(ctx, "kept", "yes", 0).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("the old-style redis-server does not answer within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pidBefore := readFile(t, filepath.Join(dir, "redis.pid"))

	script("up")

	if pid := readFile(t, filepath.Join(dir, "redis.pid")); pid != pidBefore {
		t.Fatalf("up.sh restarted redis-server: pid %s, was %s", pid, pidBefore)
	}
	tlsDir := filepath.Join(runDir, "tls")
	admin := func(caFile string) *redis.Client {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(readFile(t, caFile))) {
			t.Fatalf("%s holds no certificate", caFile)
		}
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(tlsPort), MaxRetries: -1,
			Username: "alsobought-admin", Password: readFile(t, filepath.Join(runDir, "secrets", "redis-admin.password")),
			TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := admin(filepath.Join(tlsDir, "ca.crt"))
	if v, err := c.Get(ctx, "kept").Result(); err != nil || v != "yes" {
		t.Fatalf("over TLS as the admin user: GET kept = %q, %v; want the key written before up.sh", v, err)
	}
	if who, err := c.Do(ctx, "ACL", "WHOAMI").Text(); err != nil || who != "alsobought-admin" {
		t.Fatalf("ACL WHOAMI = %q, %v", who, err)
	}
	if err := admin(filepath.Join(tlsDir, "other-ca.crt")).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client trusting another CA: want a certificate error, got %v", err)
	}
	// The plain port and the default user are as before: the plain tests
	// need nothing new.
	if err := plain.Ping(ctx).Err(); err != nil {
		t.Fatalf("plain port after up.sh: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
