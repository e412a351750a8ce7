package testenv

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/tlsfiles"
)

// SecureKafka is the shared broker's SASL_SSL listener (deploy/local/up.sh
// writes it into .run/secure-env): TLS with the local CA, PLAIN and
// SCRAM-SHA-256/512 users admin (super user), alsobought (no ACL until a
// test grants them) and stranger (never granted), ACLs enforced.
type SecureKafka struct {
	Brokers    []string
	TLSDir     string // ca.crt, client.crt, client.key, other-ca.crt
	SecretsDir string // kafka-<user>.password
}

// Kafka users of the SASL_SSL listener.
const (
	KafkaAdmin    = "admin"
	KafkaService  = "alsobought"
	KafkaStranger = "stranger"
)

// SecureKafkaListener returns the SASL_SSL listener, or stops the test as
// Need does (skips under -short, fails under ALSOBOUGHT_REQUIRE_SERVICES=1).
func SecureKafkaListener(t testing.TB) *SecureKafka {
	t.Helper()
	return &SecureKafka{
		Brokers:    strings.Split(Setting(t, "ALSOBOUGHT_TEST_KAFKA_SASL_SSL_BROKERS"), ","),
		TLSDir:     Setting(t, "ALSOBOUGHT_TEST_TLS_DIR"),
		SecretsDir: Setting(t, "ALSOBOUGHT_TEST_SECRETS_DIR"),
	}
}

// PasswordFile is the file holding user's password.
func (k *SecureKafka) PasswordFile(user string) string {
	return filepath.Join(k.SecretsDir, "kafka-"+user+".password")
}

// Config is the connection of user with mechanism (kafkaconn.Mechanism*),
// over TLS trusting the local CA and presenting the client certificate.
func (k *SecureKafka) Config(user, mechanism string) kafkaconn.Config {
	return kafkaconn.Config{Brokers: k.Brokers,
		TLS: tlsfiles.Config{Enabled: true, CAFile: filepath.Join(k.TLSDir, "ca.crt"),
			CertFile: filepath.Join(k.TLSDir, "client.crt"), KeyFile: filepath.Join(k.TLSDir, "client.key")},
		SASL: kafkaconn.SASL{Mechanism: mechanism, Username: user, PasswordFile: k.PasswordFile(user)}}
}

// Conn is Config's connection.
func (k *SecureKafka) Conn(t testing.TB, user, mechanism string) *kafkaconn.Conn {
	t.Helper()
	c, err := kafkaconn.New(k.Config(user, mechanism))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Args are the command-line settings of Config.
func (k *SecureKafka) Args(user, mechanism string) []string {
	c := k.Config(user, mechanism)
	return []string{"-brokers", strings.Join(c.Brokers, ","), "-kafka-tls",
		"-kafka-tls-ca", c.TLS.CAFile, "-kafka-tls-cert", c.TLS.CertFile, "-kafka-tls-key", c.TLS.KeyFile,
		"-kafka-sasl-mechanism", mechanism, "-kafka-username", user, "-kafka-password-file", c.SASL.PasswordFile}
}

// Grant gives user the least-privilege ACLs of a (kafkaadmin.ACLs, the
// documented minimum), as admin; they are deleted at cleanup, or by
// revoke.
func (k *SecureKafka) Grant(t testing.TB, user string, a kafkaadmin.Access) (revoke func()) {
	t.Helper()
	return k.GrantACLs(t, kafkaadmin.ACLs("User:"+user, a))
}

// GrantACLs creates acls as admin; they are deleted at cleanup, or by
// revoke. Tests that leave one of the documented ACLs out use it.
func (k *SecureKafka) GrantACLs(t testing.TB, acls []kafka.ACLEntry) (revoke func()) {
	t.Helper()
	client, done := k.Conn(t, KafkaAdmin, kafkaconn.MechanismSCRAMSHA512).Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaadmin.CreateACLs(ctx, client, acls); err != nil {
		done()
		t.Fatalf("grant the ACLs %+v: %v", acls, err)
	}
	revoke = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := kafkaadmin.DeleteACLs(ctx, client, acls); err != nil {
			t.Errorf("delete the ACLs %+v: %v", acls, err)
		}
	}
	t.Cleanup(func() { revoke(); done() })
	return revoke
}

// Topics creates topics as admin on the SASL_SSL listener (as an operator
// does where alsobought may not create them); they are deleted at cleanup.
func (k *SecureKafka) Topics(t testing.TB, topics ...kafkaadmin.Topic) {
	t.Helper()
	admin := k.Conn(t, KafkaAdmin, kafkaconn.MechanismSCRAMSHA512)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := make([]string, len(topics))
	for i, tp := range topics {
		names[i] = tp.Name
		if err := kafkaadmin.EnsureTopic(ctx, admin, tp); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = kafkaadmin.DeleteTopics(ctx, admin, names...)
	})
}
