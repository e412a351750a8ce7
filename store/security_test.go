package store_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// secureConfig is a store of env's state over the TLS port of srv (trusting
// the local CA, with its client certificate) as srv's user.
func secureConfig(env *testenv.Env, srv *testenv.SecureRedis) store.Config {
	cfg := store.Config{Mode: srv.Mode, Addrs: strings.Split(srv.Addr, ","), Prefix: env.Prefix,
		Username: srv.Username, Password: srv.Password,
		TLS: store.TLS{Enabled: true, CAFile: srv.CAFile, CertFile: srv.CertFile, KeyFile: srv.KeyFile}}
	if srv.Mode == store.Cluster {
		cfg.WaitReplicas = 1
	}
	return cfg
}

func open(t *testing.T, cfg store.Config) *store.Store {
	t.Helper()
	st, err := store.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// roundTrip checks access as serve does at start-up, then writes the
// state's settings and reads them back: other settings are then refused,
// which only a read of the first can tell.
func roundTrip(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := st.CheckAccess(ctx); err != nil {
		t.Fatalf("access check: %v", err)
	}
	built := map[string]string{"topic": "shop.events", "history_size": "200"}
	if err := st.Meta.Ensure(ctx, built); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := st.Meta.Ensure(ctx, map[string]string{"topic": "shop.events", "history_size": "300"}); !errors.Is(err, store.ErrStateMismatch) {
		t.Fatalf("read back: want ErrStateMismatch, got %v", err)
	}
}

// TestStoreOverTLSAsLeastPrivilegeUser: over the TLS port of the local
// Redis and of every node of the local cluster, as a user with only the
// documented ACL rules (store.ACLRules), the store writes and reads its
// state, whether the credentials come as settings or in a rediss:// URL;
// the client certificate is sent (one another CA signed is refused); the
// user can do nothing outside the rules.
func TestStoreOverTLSAsLeastPrivilegeUser(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, env *testenv.Env) {
		srv := testenv.NewSecureRedis(t, env, store.ACLRules(env.Prefix))
		ctx := context.Background()
		t.Run("settings", func(t *testing.T) {
			st := open(t, secureConfig(env, srv))
			roundTrip(t, st)
			// Commands that would do no harm had the rules let them through.
			err := st.Client().Do(ctx, "KEYS", "no-such-key-"+env.Prefix).Err()
			if err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Fatalf("KEYS (in -@dangerous) as the least-privilege user: want NOPERM, got %v", err)
			}
			err = st.Client().Set(ctx, "other-"+env.Prefix+":key", "x", time.Minute).Err()
			if err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Fatalf("a key outside the prefix: want NOPERM, got %v", err)
			}
		})
		t.Run("URL", func(t *testing.T) {
			cfg := secureConfig(env, srv)
			seeds := strings.Split(srv.Addr, ",")
			u := "rediss://" + srv.Username + ":" + srv.Password + "@" + seeds[0]
			for i, a := range seeds[1:] {
				u += map[bool]string{true: "?", false: "&"}[i == 0] + "addr=" + a
			}
			cfg.Addrs = []string{u}
			cfg.Username, cfg.Password, cfg.TLS.Enabled = "", "", false
			roundTrip(t, open(t, cfg))
		})
		t.Run("untrusted client certificate", func(t *testing.T) {
			cfg := secureConfig(env, srv)
			cfg.TLS.CertFile, cfg.TLS.KeyFile = testenv.UntrustedClientCert(t)
			err := open(t, cfg).Ping(ctx)
			// TLS 1.3 clients finish their handshake before the server
			// checks their certificate: the refusal comes as the server's
			// alert, or, when its close wins the race with the alert's read
			// (CI saw it), as a reset connection.
			refused := err != nil && (errors.Is(err, store.ErrCertificate) || strings.Contains(err.Error(), "certificate") ||
				errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF))
			if !refused {
				t.Fatalf("a client certificate no trusted CA signed: want it refused, got %v", err)
			}
			t.Logf("refused: %v", err)
		})
	})
}

// TestPasswordFileIsReadAtEachConnection: a password rotated in the file
// (and on the server) is used by the next connection, without a new store.
func TestPasswordFileIsReadAtEachConnection(t *testing.T) {
	env := testenv.NewRedis(t)
	srv := testenv.NewSecureRedis(t, env, store.ACLRules(env.Prefix))
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(srv.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := secureConfig(env, srv)
	cfg.Password, cfg.PasswordFile = "", file
	cfg.TLS.CertFile, cfg.TLS.KeyFile = "", ""
	st := open(t, cfg)
	roundTrip(t, st)

	srv.OnEveryNode(t, "ACL", "SETUSER", srv.Username, "resetpass", ">rotated-password")
	if err := os.WriteFile(file, []byte("rotated-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.OnEveryNode(t, "CLIENT", "KILL", "USER", srv.Username)
	// The pool may hand out a killed connection once; the next command
	// dials with the file's new password.
	ctx := context.Background()
	_ = st.Client().Ping(ctx).Err()
	if err := st.Meta.Ensure(ctx, map[string]string{"topic": "shop.events", "history_size": "200"}); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

// TestRefusedCredentialsCertificatesAndPermissionsAreNamed: a wrong
// password, an untrusted server certificate and ACL rules that lack a
// permission the service needs each give one error that says which.
func TestRefusedCredentialsCertificatesAndPermissionsAreNamed(t *testing.T) {
	env := testenv.NewRedis(t)
	srv := testenv.NewSecureRedis(t, env, store.ACLRules(env.Prefix))
	ctx := context.Background()
	wrong := secureConfig(env, srv)
	wrong.Password = "not-the-password"
	err := open(t, wrong).Ping(ctx)
	if !errors.Is(err, store.ErrAuthentication) || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("wrong password: want an authentication error, got %v", err)
	}
	untrusted := secureConfig(env, srv)
	untrusted.TLS.CAFile = srv.OtherCAFile
	err = open(t, untrusted).Ping(ctx)
	if !errors.Is(err, store.ErrCertificate) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted CA: want a certificate error, got %v", err)
	}
	plain := secureConfig(env, srv)
	plain.TLS = store.TLS{}
	if err := open(t, plain).Ping(ctx); err == nil {
		t.Fatal("plain TCP to a TLS port: want an error")
	}
	// Each permission the access check proves, taken away in turn.
	for what, rules := range map[string]string{
		"no EVALSHA":         store.ACLRules(env.Prefix) + " -evalsha",
		"no SCRIPT LOAD":     store.ACLRules(env.Prefix) + " -script|load",
		"another key prefix": store.ACLRules("other-" + env.Prefix),
		"no writes":          store.ACLRules(env.Prefix) + " -@write",
	} {
		t.Run(what, func(t *testing.T) {
			lacking := testenv.NewSecureRedis(t, env, rules)
			st := open(t, secureConfig(env, lacking))
			err := st.Ping(ctx)
			if err == nil {
				err = st.CheckAccess(ctx)
			}
			if !errors.Is(err, store.ErrPermission) || !strings.Contains(err.Error(), "ACL rules") {
				t.Fatalf("want ErrPermission at Ping or CheckAccess, got %v", err)
			}
			t.Logf("%s: %v", what, err)
		})
	}
}

// TestSecuritySettingsThatContradict are refused before anything
// connects, and their messages show no password.
func TestSecuritySettingsThatContradict(t *testing.T) {
	tests := []struct {
		name string
		cfg  store.Config
		want string
	}{
		{"credentials twice", store.Config{Addrs: []string{"redis://u:hunter2@127.0.0.1:6379"}, Username: "v"}, "given twice"},
		{"password and file", store.Config{Addrs: []string{"127.0.0.1:6379"}, Password: "hunter2", PasswordFile: "/x"}, "once"},
		{"TLS on, redis:// URL", store.Config{Addrs: []string{"redis://127.0.0.1:6379"}, TLS: store.TLS{Enabled: true}}, "rediss://"},
		{"TLS files, TLS off", store.Config{Addrs: []string{"127.0.0.1:6379"}, TLS: store.TLS{CAFile: "/ca.pem"}}, "TLS off"},
		{"certificate without key", store.Config{Addrs: []string{"127.0.0.1:6379"}, TLS: store.TLS{Enabled: true, CertFile: "/c.pem"}}, "both"},
		{"URL and more addresses", store.Config{Addrs: []string{"redis://:hunter2@127.0.0.1:6379", "127.0.0.1:6380"}, Mode: store.Cluster}, "addr="},
		{"bad URL", store.Config{Addrs: []string{"redis://:hunter2@127.0.0.1:6379/?nonsense=1"}}, "URL"},
		{"two addresses, single", store.Config{Addrs: []string{"redis://:hunter2@a:1", "b:2"}}, "single"},
		{"sentinel without a master name", store.Config{Addrs: []string{"127.0.0.1:26379"}, Mode: store.Sentinel}, "SENTINEL_MASTER"},
		{"sentinel URL", store.Config{Addrs: []string{"127.0.0.1:26379", "redis://:hunter2@127.0.0.1:26380"}, Mode: store.Sentinel,
			Sentinel: store.SentinelConfig{Master: "m"}}, "host:port"},
		{"sentinel password and file", store.Config{Addrs: []string{"127.0.0.1:26379"}, Mode: store.Sentinel,
			Sentinel: store.SentinelConfig{Master: "m", Password: "hunter2", PasswordFile: "/x"}}, "once"},
		{"sentinel password file missing", store.Config{Addrs: []string{"127.0.0.1:26379"}, Mode: store.Sentinel,
			Sentinel: store.SentinelConfig{Master: "m", PasswordFile: "/nonexistent/sentinel.password"}}, "sentinel password file"},
		{"sentinel password in cluster mode", store.Config{Addrs: []string{"127.0.0.1:7001"}, Mode: store.Cluster,
			Sentinel: store.SentinelConfig{Password: "hunter2"}}, "outside sentinel mode"},
		{"wait replicas, single", store.Config{Addrs: []string{"127.0.0.1:6379"}, WaitReplicas: 1}, "cluster and sentinel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error mentioning %q, got %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the message shows the password: %v", err)
			}
		})
	}
}

func TestRedactHidesPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:6379":                        "127.0.0.1:6379",
		"a:1,b:2":                               "a:1,b:2",
		"redis://u:hunter2@h:6379/0":            "redis://u:xxxxx@h:6379/0",
		"rediss://:hunter2@h:6379?addr=h2:6379": "rediss://:xxxxx@h:6379?addr=h2:6379",
		"redis://u@h:6379":                      "redis://u@h:6379",
		"redis://u:hun%zzter2@h:6379":           "redis://xxxxx@h:6379",
	} {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCheckAccessLoadsTheScriptsAgain: a script cache flushed between Ping
// and CheckAccess (SCRIPT FLUSH, a failover to a node without the scripts)
// is no permission problem: the check loads them again and passes. On a
// private redis-server, as the flush would reach every test's scripts.
func TestCheckAccessLoadsTheScriptsAgain(t *testing.T) {
	srv := testenv.PrivateRedis(t)
	st := open(t, store.Config{Addrs: []string{srv.Addr}, Prefix: "probe"})
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckAccess(ctx); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	if n, err := st.Client().Exists(ctx, st.Keys().Prefix+":{#}:accessprobe").Result(); err != nil || n != 0 {
		t.Fatalf("the probe key stayed: EXISTS = %d, %v", n, err)
	}
}
