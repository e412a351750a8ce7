package kafkaconn_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/internal/tlsfiles"
)

// probe describes a topic, the first thing every command asks the brokers.
func probe(t *testing.T, conn *kafkaconn.Conn, topic string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := kafkaadmin.PartitionCount(ctx, conn, topic)
	return err
}

// TestEveryMechanismOverTLS: each SASL mechanism logs in over TLS with
// the client certificate, and a granted user reads and writes its topics.
func TestEveryMechanismOverTLS(t *testing.T) {
	k := testenv.SecureKafkaListener(t)
	topic := fmt.Sprintf("kafkaconn-test-%d", time.Now().UnixNano())
	k.Topics(t, kafkaadmin.Topic{Name: topic, Partitions: 1, Replication: 1}, kafkaadmin.Topic{Name: topic + ".dlq", Partitions: 1, Replication: 1})
	k.Grant(t, testenv.KafkaService, kafkaadmin.Access{Topic: topic, DLQTopic: topic + ".dlq", Group: topic, Produce: true})
	for _, mech := range []string{kafkaconn.MechanismPlain, kafkaconn.MechanismSCRAMSHA256, kafkaconn.MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			conn := k.Conn(t, testenv.KafkaService, mech)
			if n, err := kafkaadmin.PartitionCount(context.Background(), conn, topic); err != nil || n != 1 {
				t.Fatalf("partitions of %s: %d, %v", topic, n, err)
			}
			w := conn.Writer(topic)
			defer w.Close()
			if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte(mech), Value: []byte(mech)}); err != nil {
				t.Fatalf("write as %s with %s: %v", testenv.KafkaService, mech, err)
			}
			got := testenv.ReadTopic(t, conn, topic)
			if last := got[len(got)-1]; string(last.Value) != mech {
				t.Fatalf("read back %q, want %q", last.Value, mech)
			}
		})
	}
}

// TestRefusalsAreNamed: a wrong password, an untrusted certificate and a
// missing ACL each give an error of their kind that says what to fix, never
// "cannot reach Kafka", and never the password.
func TestRefusalsAreNamed(t *testing.T) {
	k := testenv.SecureKafkaListener(t)
	topic := fmt.Sprintf("kafkaconn-refusals-%d", time.Now().UnixNano())
	k.Topics(t, kafkaadmin.Topic{Name: topic, Partitions: 1, Replication: 1})

	wrong := k.Config(testenv.KafkaService, kafkaconn.MechanismSCRAMSHA512)
	wrong.SASL.PasswordFile = filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(wrong.SASL.PasswordFile, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	untrusted := k.Config(testenv.KafkaService, kafkaconn.MechanismSCRAMSHA512)
	untrusted.TLS.CAFile = filepath.Join(k.TLSDir, "other-ca.crt")
	noTLS := k.Config(testenv.KafkaService, kafkaconn.MechanismSCRAMSHA512)
	noTLS.TLS.Enabled, noTLS.TLS.CAFile, noTLS.TLS.CertFile, noTLS.TLS.KeyFile = false, "", "", ""

	for _, tc := range []struct {
		name string
		cfg  kafkaconn.Config
		kind kafkaconn.Kind
		says []string
	}{
		{"wrong password", wrong, kafkaconn.Authentication, []string{"refused the SASL scram-sha-512 login of user alsobought"}},
		{"untrusted CA", untrusted, kafkaconn.Certificate, []string{"certificate not accepted", "-kafka-tls-ca"}},
		{"no ACL", k.Config(testenv.KafkaStranger, kafkaconn.MechanismSCRAMSHA256), kafkaconn.Denied,
			[]string{"Kafka denied Describe on topic " + topic + " to user stranger: grant the ACL (docs/security.md)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := kafkaconn.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = probe(t, conn, topic)
			if err == nil {
				t.Fatal("want an error")
			}
			if got := kafkaconn.KindOf(err); got != tc.kind {
				t.Errorf("kind %d, want %d: %v", got, tc.kind, err)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "cannot reach") || strings.Contains(err.Error(), "not-the-password") {
				t.Errorf("error %q: want the refusal named, and no password", err)
			}
			if kafkaconn.Retryable(err) {
				t.Errorf("%v: retryable, want not (an operator must act)", err)
			}
		})
	}
}

// TestListenerMismatchSaysSo: TLS against the plaintext listener (the
// broker just closes the connection) and a plaintext client on the TLS
// listener are told to check -kafka-tls; neither waits for ever.
func TestListenerMismatchSaysSo(t *testing.T) {
	k := testenv.SecureKafkaListener(t)
	plain := strings.Split(testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS"), ",")
	tlsOnPlain := k.Config(testenv.KafkaService, kafkaconn.MechanismSCRAMSHA512)
	tlsOnPlain.Brokers = plain
	noTLS := k.Config(testenv.KafkaService, kafkaconn.MechanismSCRAMSHA512)
	noTLS.TLS = tlsfiles.Config{}
	for _, tc := range []struct {
		name string
		cfg  kafkaconn.Config
		kind kafkaconn.Kind
		says string
	}{
		{"TLS on the plaintext listener", tlsOnPlain, kafkaconn.Unreachable, "does this listener take the -kafka-tls"},
		{"no TLS on the TLS listener", noTLS, kafkaconn.Unreachable, "broker appears to be expecting TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := kafkaconn.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = probe(t, conn, "any-topic")
			t.Logf("%v", err)
			if kafkaconn.KindOf(err) != tc.kind || !strings.Contains(fmt.Sprint(err), tc.says) {
				t.Fatalf("got %v (kind %d), want kind %d saying %q", err, kafkaconn.KindOf(err), tc.kind, tc.says)
			}
		})
	}
}
