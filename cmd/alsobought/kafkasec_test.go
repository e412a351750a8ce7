package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/testenv"
)

// TestServeRefusedByKafkaExitsOnceSayingWhy: a wrong password, a broker
// certificate no trusted CA signed, and a user without ACLs each stop serve
// at start-up with exit 1 and one line naming what failed, never "cannot
// reach Kafka", never the password.
func TestServeRefusedByKafkaExitsOnceSayingWhy(t *testing.T) {
	k := testenv.SecureKafkaListener(t)
	env := testenv.New(t, 1)
	const secret = "wr0ng-Kafka-secret"
	wrongFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(wrongFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Every documented ACL but the group's.
	var noGroup []kafka.ACLEntry
	for _, a := range kafkaadmin.ACLs("User:"+testenv.KafkaService, kafkaadmin.Access{Topic: env.Topic, DLQTopic: env.DLQTopic, CatalogueTopic: env.CatalogueTopic, Group: env.Group}) {
		if a.ResourceType != kafka.ResourceTypeGroup {
			noGroup = append(noGroup, a)
		}
	}
	k.GrantACLs(t, noGroup)
	service := k.Args(testenv.KafkaService, kafkaconn.MechanismSCRAMSHA512)
	replace := func(args []string, flag, v string) []string {
		out := append([]string(nil), args...)
		for i := range out {
			if out[i] == flag {
				out[i+1] = v
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong password", replace(service, "-kafka-password-file", wrongFile),
			"refused the SASL scram-sha-512 login of user alsobought"},
		{"untrusted certificate", replace(service, "-kafka-tls-ca", filepath.Join(k.TLSDir, "other-ca.crt")),
			"certificate not accepted"},
		{"no ACL", k.Args(testenv.KafkaStranger, kafkaconn.MechanismSCRAMSHA256),
			"Kafka denied Describe on topic " + env.Topic + " to user stranger: grant the ACL (docs/security.md)"},
		{"no group ACL", service, "Kafka denied Describe on group " + env.Group + " to user alsobought: grant the ACL (docs/security.md)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"serve", "-topic", env.Topic, "-dlq-topic", env.DLQTopic, "-feed-topic", "off",
				"-group", env.Group, "-prefix", env.Prefix, "-redis", env.RedisAddr, "-http", "127.0.0.1:0", "-log-level", "debug"}, tc.args...),
				&stdout, &stderr)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 1 {
				t.Fatalf("want exit 1, got %v\n%s", err, stderr.String())
			}
			if !strings.Contains(ee.msg, tc.want) || strings.Contains(ee.msg, "\n") || strings.Contains(ee.msg, "cannot reach") {
				t.Fatalf("message %q: want one line saying %q", ee.msg, tc.want)
			}
			t.Logf("serve: %s", ee.msg)
			for what, text := range map[string]string{"message": ee.msg, "stdout": stdout.String(), "stderr": stderr.String()} {
				if strings.Contains(text, secret) {
					t.Errorf("the password appears in the %s", what)
				}
			}
		})
	}
}

// TestMissingTopicWithoutCreatingTopics: with -create-topics=false a
// missing topic stops serve at start-up, exit 1, naming the topic and how
// to create it, and the topic is still missing afterwards.
func TestMissingTopicWithoutCreatingTopics(t *testing.T) {
	env := testenv.New(t, 1)
	feedTopic := env.Topic + ".lists" // testenv.New makes the events and dead-letter topics only
	err := run(context.Background(), []string{"serve", "-brokers", strings.Join(env.Brokers, ","), "-topic", env.Topic, "-dlq-topic", env.DLQTopic,
		"-group", env.Group, "-prefix", env.Prefix, "-redis", env.RedisAddr, "-http", "127.0.0.1:0", "-partitions", "3",
		"-create-topics=false"}, &bytes.Buffer{}, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("want exit 1, got %v", err)
	}
	want := "topic " + feedTopic + " does not exist and topics are not created (-create-topics=false): create it with 3 partitions, config cleanup.policy=compact"
	if !strings.Contains(ee.msg, want) {
		t.Fatalf("message %q: want it to say %q", ee.msg, want)
	}
	if _, err = kafkaadmin.PartitionCount(context.Background(), env.Kafka(), feedTopic); kafkaconn.KindOf(err) != kafkaconn.Missing {
		t.Fatalf("the feed topic: %v; want it still missing", err)
	}
}

// TestRevokedACLMakesServeNotReadySayingWhy: ACLs revoked while serve runs
// make it not ready with the denial as the reason and count Kafka errors
// (the reader's retries are logged at most a few lines per period,
// obs.Repeats); the ACLs granted again make it ready without a restart.
func TestRevokedACLMakesServeNotReadySayingWhy(t *testing.T) {
	k := testenv.SecureKafkaListener(t)
	env := testenv.New(t, 1)
	access := kafkaadmin.Access{Topic: env.Topic, DLQTopic: env.DLQTopic, CatalogueTopic: env.CatalogueTopic, Group: env.Group}
	revoke := k.Grant(t, testenv.KafkaService, access)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	args := append([]string{"-topic", env.Topic, "-dlq-topic", env.DLQTopic, "-feed-topic", "off", "-group", env.Group,
		"-prefix", env.Prefix, "-redis", env.RedisAddr, "-http", addr, "-create-topics=false"},
		k.Args(testenv.KafkaService, kafkaconn.MechanismSCRAMSHA256)...)
	serve := startServe(t, addr, args...)
	log := &serve.log

	revoke()
	reason := waitReadyReason(t, addr, func(r string) bool { return strings.Contains(r, "Kafka denied") }, log)
	if !strings.Contains(reason, "to user alsobought: grant the ACL (docs/security.md)") {
		t.Fatalf("not ready because %q: want the denial named", reason)
	}
	if n := metric(t, addr, "alsobought_kafka_errors_total"); n < 1 {
		t.Fatalf("alsobought_kafka_errors_total %v: want the denials counted", n)
	}
	t.Logf("while denied: %d log lines in all", strings.Count(log.String(), "\n"))
	k.Grant(t, testenv.KafkaService, access)
	serve.waitReady(t)
	serve.stop(t)
}

// waitReadyReason waits until /readyz answers not ready for a reason that
// match accepts, and returns it.
func waitReadyReason(t *testing.T, addr string, match func(string) bool, log *lockedBuffer) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			var body struct{ Reason string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if last = body.Reason; resp.StatusCode == http.StatusServiceUnavailable && match(last) {
				return last
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no such not-ready reason after 2 minutes; the last: %q\n%s", last, log.String())
	return ""
}

// metric reads a counter or gauge without labels from /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestDeniedDeadLetterWriteWaitsWithoutLosingIt: a bad event whose dead
// letter the brokers refuse to write (Describe but no Write on the
// dead-letter topic) holds its partition, not ready with the denial as the
// reason, instead of dropping the dead letter; once Write is granted the
// dead letter is written and the events behind it are applied.
func TestDeniedDeadLetterWriteWaitsWithoutLosingIt(t *testing.T) {
	k := testenv.SecureKafkaListener(t)
	env := testenv.New(t, 1)
	var acls []kafka.ACLEntry
	var dlqWrite kafka.ACLEntry
	for _, a := range kafkaadmin.ACLs("User:"+testenv.KafkaService, kafkaadmin.Access{Topic: env.Topic, DLQTopic: env.DLQTopic, CatalogueTopic: env.CatalogueTopic, Group: env.Group}) {
		if a.ResourceName == env.DLQTopic {
			dlqWrite = a
			a.Operation = kafka.ACLOperationTypeDescribe
		}
		acls = append(acls, a)
	}
	k.GrantACLs(t, acls)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	args := append([]string{"-topic", env.Topic, "-dlq-topic", env.DLQTopic, "-feed-topic", "off", "-group", env.Group,
		"-prefix", env.Prefix, "-redis", env.RedisAddr, "-http", addr, "-create-topics=false"},
		k.Args(testenv.KafkaService, kafkaconn.MechanismSCRAMSHA512)...)
	serve := startServe(t, addr, args...)
	log := &serve.log

	_, evs := testenv.EventsFile(t, 3)
	w := env.Kafka().Writer(env.Topic)
	msgs := []kafka.Message{{Key: []byte(evs[0].CustomerID), Value: []byte("not an event")}}
	for _, e := range evs {
		msgs = append(msgs, kafka.Message{Key: []byte(e.CustomerID), Value: event.Encode(e)})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	reason := waitReadyReason(t, addr, func(r string) bool { return strings.Contains(r, "Kafka denied Write on topic "+env.DLQTopic) }, log)
	t.Logf("not ready: %s", reason)

	k.GrantACLs(t, []kafka.ACLEntry{dlqWrite})
	waitAllApplied(t, env, log)
	if dead := testenv.ReadTopic(t, env.Kafka(), env.DLQTopic); len(dead) != 1 {
		t.Fatalf("%d dead letters, want the 1 refused before", len(dead))
	}
	serve.waitReady(t)
	serve.stop(t)
}

// waitAllApplied waits until the state has applied every message of env's
// topic.
func waitAllApplied(t *testing.T, env *testenv.Env, log *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, err := testenv.AppliedLag(context.Background(), env.Kafka(), env.Topic, env.Store.Batches)
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("applied lag %d (%v) after 2 minutes\n%s", n, err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
