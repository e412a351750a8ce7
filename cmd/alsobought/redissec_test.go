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

// serveFails runs serve with args, which must stop it at start-up, and
// returns its exit error, after checking that it is exit 1 with one line.
func serveFails(t *testing.T, args ...string) (*exitError, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"serve", "-http", "127.0.0.1:0", "-log-level", "debug"}, args...), &stdout, &stderr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("want exit 1 at start-up, got %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if strings.Contains(ee.msg, "\n") {
		t.Fatalf("message %q: want one line", ee.msg)
	}
	t.Logf("serve: %s", ee.msg)
	return ee, stdout.String() + stderr.String()
}

// TestServeWithRefusedRedisCredentialsExitsOnceWithoutTheSecret: a wrong
// Redis password, given in a rediss:// URL or as a setting, stops serve at
// start-up with exit 1 and one line that names authentication and shows
// the address with the password redacted; the password appears nowhere in
// what serve printed.
func TestServeWithRefusedRedisCredentialsExitsOnceWithoutTheSecret(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) {
		srv := testenv.NewSecureRedis(t, env, store.ACLRules(env.Prefix))
		const secret = "wr0ng-Secret-value"
		tests := []struct {
			name string
			args []string
		}{
			{"in the URL", []string{"-redis", secureURL(srv, secret)}},
			{"as a setting", []string{"-redis", srv.Addr, "-redis-tls", "-redis-username", srv.Username, "-redis-password", secret}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ee, printed := serveFails(t, append([]string{"-redis-mode", string(env.RedisMode), "-prefix", env.Prefix,
					"-redis-tls-ca", srv.CAFile}, tc.args...)...)
				if !strings.Contains(ee.msg, "authentication") || !strings.Contains(ee.msg, strings.Split(srv.Addr, ",")[0]) {
					t.Fatalf("message %q: want it to name authentication and %s", ee.msg, srv.Addr)
				}
				for what, text := range map[string]string{"message": ee.msg, "output": printed} {
					if strings.Contains(text, secret) {
						t.Errorf("the password appears in the %s: %q", what, text)
					}
				}
			})
		}
	})
}

// TestServeRejectsAnUntrustedRedisCertificate: a Redis whose certificate
// no trusted CA signed stops serve at start-up with exit 1 and one line
// that names the certificate.
func TestServeRejectsAnUntrustedRedisCertificate(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) {
		srv := testenv.NewSecureRedis(t, env, store.ACLRules(env.Prefix))
		ee, _ := serveFails(t, "-redis-mode", string(env.RedisMode), "-prefix", env.Prefix, "-redis", srv.Addr,
			"-redis-tls", "-redis-tls-ca", srv.OtherCAFile, "-redis-username", srv.Username, "-redis-password-file", srv.PasswordFile)
		if !strings.Contains(ee.msg, "certificate") || strings.Contains(ee.msg, srv.Password) {
			t.Fatalf("message %q: want it to name the certificate, without the password", ee.msg)
		}
	})
}

// TestServeStopsWhenTheRedisUserLacksAPermission: ACL rules without one
// permission the service needs (here EVALSHA, which every write step uses,
// or the key pattern of the prefix) stop serve at start-up with exit 1 and
// one line saying that Redis denied it, and what, rather than a consumer
// that fails at each batch.
func TestServeStopsWhenTheRedisUserLacksAPermission(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) {
		for _, tc := range []struct{ name, rules, want string }{
			{"no EVALSHA", store.ACLRules(env.Prefix) + " -evalsha", "'evalsha'"},
			{"another key prefix", store.ACLRules("other-" + env.Prefix), "keys"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := testenv.NewSecureRedis(t, env, tc.rules)
				ee, _ := serveFails(t, "-redis-mode", string(env.RedisMode), "-prefix", env.Prefix, "-redis", srv.Addr,
					"-redis-tls", "-redis-tls-ca", srv.CAFile, "-redis-username", srv.Username, "-redis-password-file", srv.PasswordFile)
				if !strings.Contains(ee.msg, "Redis at "+srv.Addr+" denied") || !strings.Contains(ee.msg, tc.want) {
					t.Fatalf("message %q: want \"Redis at %s denied\" and %s", ee.msg, srv.Addr, tc.want)
				}
			})
		}
	})
}

// secureURL is a rediss:// URL of srv's user with the given password: in
// cluster mode the first seed, and the others as addr parameters.
func secureURL(srv *testenv.SecureRedis, password string) string {
	seeds := strings.Split(srv.Addr, ",")
	url := "rediss://" + srv.Username + ":" + password + "@" + seeds[0]
	for i, a := range seeds[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		url += sep + "addr=" + a
	}
	return url
}
