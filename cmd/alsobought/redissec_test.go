package main

import (
	"bytes"
	"context"
	"errors"
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
