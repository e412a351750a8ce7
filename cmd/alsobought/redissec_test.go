package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// TestServeWithRefusedRedisCredentialsExitsOnceWithoutTheSecret: a wrong
// Redis password, given in a rediss:// URL or as a setting, stops serve at
// start-up with exit 1 and one line that names authentication and shows
// the address with the password redacted; the password appears nowhere in
// what serve printed.
func TestServeWithRefusedRedisCredentialsExitsOnceWithoutTheSecret(t *testing.T) {
	srv := testenv.StartSecureRedis(t, store.ACLRules("sec"), false)
	const secret = "wr0ng-Secret-value"
	tests := []struct {
		name string
		args []string
	}{
		{"in the URL", []string{"-redis", "rediss://" + srv.Username + ":" + secret + "@" + srv.Addr}},
		{"as a setting", []string{"-redis", srv.Addr, "-redis-tls", "-redis-username", srv.Username, "-redis-password", secret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "-redis-mode", "single", "-prefix", "sec", "-redis-tls-ca", srv.CAFile,
				"-http", "127.0.0.1:0", "-log-level", "debug"}, tc.args...)
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, &stdout, &stderr)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 1 {
				t.Fatalf("want exit 1, got %v", err)
			}
			if !strings.Contains(ee.msg, "authentication") || !strings.Contains(ee.msg, srv.Addr) || strings.Contains(ee.msg, "\n") {
				t.Fatalf("message %q: want one line naming authentication and %s", ee.msg, srv.Addr)
			}
			t.Logf("serve: %s", ee.msg)
			for what, text := range map[string]string{"message": ee.msg, "stdout": stdout.String(), "stderr": stderr.String()} {
				if strings.Contains(text, secret) {
					t.Errorf("the password appears in the %s: %q", what, text)
				}
			}
		})
	}
}

// TestServeRejectsAnUntrustedRedisCertificate: a Redis whose certificate
// no trusted CA signed stops serve at start-up with exit 1 and one line
// that names the certificate.
func TestServeRejectsAnUntrustedRedisCertificate(t *testing.T) {
	srv := testenv.StartSecureRedis(t, store.ACLRules("sec"), false)
	err := run(context.Background(), []string{"serve", "-redis-mode", "single", "-prefix", "sec", "-redis", srv.Addr,
		"-redis-tls", "-redis-tls-ca", srv.OtherCAFile, "-redis-username", srv.Username, "-redis-password", srv.Password,
		"-http", "127.0.0.1:0", "-log-level", "warn"}, &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	if !strings.Contains(ee.msg, "certificate") || strings.Contains(ee.msg, "\n") || strings.Contains(ee.msg, srv.Password) {
		t.Fatalf("message %q: want one line naming the certificate, without the password", ee.msg)
	}
	t.Logf("serve: %s", ee.msg)
}

// TestServeRunsOverTLSAsTheLeastPrivilegeUser: serve becomes ready on a
// Redis reached over TLS as a user with only the documented ACL rules
// (store.ACLRules: the Redis guard, the scripts, the consumer's writes),
// and its log shows the address with the URL's password redacted.
func TestServeRunsOverTLSAsTheLeastPrivilegeUser(t *testing.T) {
	env := testenv.New(t, 1)
	srv := testenv.StartSecureRedis(t, store.ACLRules(env.Prefix), true)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	redisArgs := []string{"-topic", env.Topic, "-prefix", env.Prefix,
		"-redis-mode", "single", "-redis", "rediss://" + srv.Username + ":" + srv.Password + "@" + srv.Addr,
		"-redis-tls-ca", srv.CAFile, "-redis-tls-cert", srv.CertFile, "-redis-tls-key", srv.KeyFile}
	var log lockedBuffer
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, append([]string{"serve", "-group", env.Group, "-http", addr, "-log-level", "info"}, redisArgs...),
			&bytes.Buffer{}, &log)
	}()
	waitReady(t, addr, served, &log)
	// The consumer's and the re-scorer's writes, and replay's and
	// verify's reads, all as the least-privilege user.
	data, _ := testenv.EventsFile(t, 300)
	var out bytes.Buffer
	for _, cmd := range [][]string{{"replay", "-data", data, "-wait", "-wait-timeout", "90s", "-quiet"}, {"verify", "-data", data}} {
		if err := run(context.Background(), append(cmd, redisArgs...), &out, &out); err != nil {
			t.Fatalf("%s: %v\n%s\nserve's log:\n%s", cmd[0], err, out.String(), log.String())
		}
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve returned %v after a stop asked for\n%s", err, log.String())
	}
	if strings.Contains(log.String(), "NOPERM") {
		t.Errorf("a command the ACL rules do not allow:\n%s", log.String())
	}
	out.WriteString(log.String())
	if strings.Contains(out.String(), srv.Password) {
		t.Fatalf("the output shows the password:\n%s", out.String())
	}
	if !strings.Contains(log.String(), "rediss://"+srv.Username+":xxxxx@"+srv.Addr) {
		t.Fatalf("want the redacted address in the log:\n%s", log.String())
	}
}
