package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// secureConfig is a store on srv over TLS (trusting srv's CA, with the
// client certificate) as srv's least-privilege user.
func secureConfig(srv *testenv.SecureRedis) store.Config {
	return store.Config{Addrs: []string{srv.Addr}, Prefix: "sec", Username: srv.Username, Password: srv.Password,
		TLS: store.TLS{Enabled: true, CAFile: srv.CAFile, CertFile: srv.CertFile, KeyFile: srv.KeyFile}}
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

// roundTrip writes the state's settings and reads them back: other
// settings are then refused, which only a read of the first can tell.
func roundTrip(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	built := map[string]string{"topic": "shop.events", "history_size": "200"}
	if err := st.Meta.Ensure(ctx, built); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := st.Meta.Ensure(ctx, map[string]string{"topic": "shop.events", "history_size": "300"}); !errors.Is(err, store.ErrStateMismatch) {
		t.Fatalf("read back: want ErrStateMismatch, got %v", err)
	}
}

// TestStoreOverTLSAsLeastPrivilegeUser: with the documented ACL rules
// (store.ACLRules) and a Redis that requires TLS and a client certificate,
// the store writes and reads its state, whether the credentials come as
// settings or in a rediss:// URL; the user can do nothing outside them.
func TestStoreOverTLSAsLeastPrivilegeUser(t *testing.T) {
	srv := testenv.StartSecureRedis(t, store.ACLRules("sec"), true)
	t.Run("settings", func(t *testing.T) {
		st := open(t, secureConfig(srv))
		roundTrip(t, st)
		err := st.Client().FlushAll(context.Background()).Err()
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("FLUSHALL as the least-privilege user: want NOPERM, got %v", err)
		}
		err = st.Client().Set(context.Background(), "other:key", "x", 0).Err()
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("a key outside the prefix: want NOPERM, got %v", err)
		}
	})
	t.Run("URL", func(t *testing.T) {
		cfg := secureConfig(srv)
		cfg.Addrs = []string{"rediss://" + srv.Username + ":" + srv.Password + "@" + srv.Addr}
		cfg.Username, cfg.Password, cfg.TLS.Enabled = "", "", false
		roundTrip(t, open(t, cfg))
	})
}

// TestPasswordFileIsReadAtEachConnection: a password rotated in the file
// (and on the server) is used by the next connection, without a new store.
func TestPasswordFileIsReadAtEachConnection(t *testing.T) {
	srv := testenv.StartSecureRedis(t, store.ACLRules("sec"), false)
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(srv.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := secureConfig(srv)
	cfg.Password, cfg.PasswordFile = "", file
	cfg.TLS.CertFile, cfg.TLS.KeyFile = "", ""
	st := open(t, cfg)
	roundTrip(t, st)

	adminCfg := secureConfig(srv)
	adminCfg.Username, adminCfg.Password = srv.Admin, srv.AdminPassword
	admin := open(t, adminCfg).Client()
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", srv.Username, "resetpass", ">rotated-password").Err(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("rotated-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "CLIENT", "KILL", "USER", srv.Username).Err(); err != nil {
		t.Fatal(err)
	}
	// The pool may hand out a killed connection once; the next command
	// dials with the file's new password.
	_ = st.Client().Ping(ctx).Err()
	if err := st.Meta.Ensure(ctx, map[string]string{"topic": "shop.events", "history_size": "200"}); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

// TestRefusedCredentialsAndCertificatesAreNamed: a wrong password and an
// untrusted server certificate each give one error that says which.
func TestRefusedCredentialsAndCertificatesAreNamed(t *testing.T) {
	srv := testenv.StartSecureRedis(t, store.ACLRules("sec"), false)
	ctx := context.Background()
	wrong := secureConfig(srv)
	wrong.Password = "not-the-password"
	err := open(t, wrong).Ping(ctx)
	if !errors.Is(err, store.ErrAuthentication) || !strings.Contains(err.Error(), "authentication") {
		t.Fatalf("wrong password: want an authentication error, got %v", err)
	}
	untrusted := secureConfig(srv)
	untrusted.TLS.CAFile = srv.OtherCAFile
	err = open(t, untrusted).Ping(ctx)
	if !errors.Is(err, store.ErrCertificate) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted CA: want a certificate error, got %v", err)
	}
	plain := secureConfig(srv)
	plain.TLS = store.TLS{}
	if err := open(t, plain).Ping(ctx); err == nil {
		t.Fatal("plain TCP to a TLS port: want an error")
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
