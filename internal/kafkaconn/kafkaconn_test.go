package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/tlsfiles"
)

// TestValidateSaysWhatToFix: each mistake is refused before anything
// connects, with a message naming the setting to change.
func TestValidateSaysWhatToFix(t *testing.T) {
	b := []string{"k:9093"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" valid
	}{
		{"plain brokers", Config{Brokers: b}, ""},
		{"no broker", Config{}, "ALSOBOUGHT_KAFKA_BROKERS"},
		{"TLS with CA and client pair", Config{Brokers: b, TLS: tlsfiles.Config{Enabled: true, CAFile: "ca", CertFile: "c", KeyFile: "k"}}, ""},
		{"TLS files with TLS off", Config{Brokers: b, TLS: tlsfiles.Config{CAFile: "ca"}}, "-kafka-tls"},
		{"certificate without key", Config{Brokers: b, TLS: tlsfiles.Config{Enabled: true, CertFile: "c"}}, "both files or neither"},
		{"key without certificate", Config{Brokers: b, TLS: tlsfiles.Config{Enabled: true, KeyFile: "k"}}, "both files or neither"},
		{"unknown mechanism", Config{Brokers: b, SASL: SASL{Mechanism: "gssapi", Username: "u", Password: "p"}}, `unknown kafka SASL mechanism "gssapi"`},
		{"password and password file", Config{Brokers: b, SASL: SASL{Mechanism: MechanismPlain, Username: "u", Password: "p", PasswordFile: "f"}}, "once"},
		{"no password", Config{Brokers: b, SASL: SASL{Mechanism: MechanismSCRAMSHA256, Username: "u"}}, "-kafka-password-file"},
		{"no username", Config{Brokers: b, SASL: SASL{Mechanism: MechanismSCRAMSHA512, Password: "p"}}, "-kafka-username"},
		{"credentials without mechanism", Config{Brokers: b, SASL: SASL{Username: "u", Password: "p"}}, "-kafka-sasl-mechanism"},
		// Allowed (docs/security.md warns: the password crosses in clear
		// with PLAIN, and nothing is encrypted).
		{"SASL without TLS", Config{Brokers: b, SASL: SASL{Mechanism: MechanismPlain, Username: "u", Password: "p"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestPasswordFileIsReadAtEachConnection: the mechanism a connection
// starts with holds the file's content of that moment (a rotated Secret
// needs no restart), and an unreadable file fails at New.
func TestPasswordFileIsReadAtEachConnection(t *testing.T) {
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Brokers: []string{"k:1"}, SASL: SASL{Mechanism: MechanismPlain, Username: "u", PasswordFile: file}})
	if err != nil {
		t.Fatal(err)
	}
	initial := func() string {
		_, ir, err := c.Dialer().SASLMechanism.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return string(ir) // PLAIN: authzid \0 user \0 password
	}
	if got := initial(); got != "\x00u\x00first" {
		t.Fatalf("first login sends %q", got)
	}
	if err := os.WriteFile(file, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := initial(); got != "\x00u\x00second" {
		t.Fatalf("after rotation the login sends %q, want the new password", got)
	}
	if c.Dialer().SASLMechanism.Name() != "PLAIN" || c.Transport().SASL.Name() != "PLAIN" {
		t.Fatal("the dialer and the transport must log in with the same mechanism")
	}
	if _, err := New(Config{Brokers: []string{"k:1"}, SASL: SASL{Mechanism: MechanismSCRAMSHA512, Username: "u", PasswordFile: file + ".missing"}}); err == nil {
		t.Fatal("a missing password file must fail at start-up")
	}
}

// TestExplainNamesTheFailure: broker error codes become errors of their
// kind, whose message says what failed (and never the password).
func TestExplainNamesTheFailure(t *testing.T) {
	c, err := New(Config{Brokers: []string{"k:9093"}, SASL: SASL{Mechanism: MechanismSCRAMSHA256, Username: "svc", Password: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	op := Op{Name: "Read", Topic: "events", Group: "grp"}
	for _, tc := range []struct {
		err  error
		kind Kind
		want string
	}{
		{fmt.Errorf("could not successfully authenticate to k:9093 with SASL: %w", kafka.SASLAuthenticationFailed), Authentication,
			"refused the SASL scram-sha-256 login of user svc"},
		{kafka.TopicAuthorizationFailed, Denied, "Kafka denied Read on topic events to user svc: grant the ACL (docs/security.md)"},
		{fmt.Errorf("join: %w", kafka.GroupAuthorizationFailed), Denied, "Kafka denied Read on group grp to user svc"},
		{kafka.ClusterAuthorizationFailed, Denied, "on the cluster to user svc"},
		{kafka.TransactionalIDAuthorizationFailed, Denied, "on a transactional id"},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), Certificate, "certificate not accepted"},
		{errors.New("remote error: tls: handshake failure"), Handshake, "TLS handshake with Kafka at k:9093 failed"},
		{io.ErrUnexpectedEOF, Unreachable, "cannot reach Kafka at k:9093"},
		{fmt.Errorf("topic events: %w", kafka.UnknownTopicOrPartition), Missing, "Kafka at k:9093 has no topic events"},
	} {
		got := c.Explain(tc.err, op)
		if k := KindOf(got); k != tc.kind {
			t.Errorf("%v: kind %d, want %d", tc.err, k, tc.kind)
		}
		if !strings.Contains(got.Error(), tc.want) || strings.Contains(got.Error(), "s3cret") {
			t.Errorf("%v explained as %q, want it to say %q", tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%v: the explained error must wrap it", tc.err)
		}
		if Retryable(got) != (tc.kind == Unreachable || tc.kind == Missing) {
			t.Errorf("%v: retryable %v", tc.err, Retryable(got))
		}
	}
	if c.Explain(nil, op) != nil {
		t.Error("no error explains to nil")
	}
	twice := c.Explain(c.Explain(kafka.TopicAuthorizationFailed, op), Op{Name: "Write", Topic: "other"})
	if !strings.Contains(twice.Error(), "Read on topic events") {
		t.Errorf("an explained error keeps its first explanation: %v", twice)
	}
}
