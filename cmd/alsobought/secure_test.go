package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/internal/feed"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
)

// TestSecuredStreamEndsInVerify is the production set-up end to end: Kafka
// over its SASL_SSL listener (TLS with the client certificate) as user
// alsobought holding only the documented ACLs (kafkaadmin.ACLs), with the
// topics made by admin and -create-topics=false; Redis over TLS as a user
// holding only the documented ACL rules (store.ACLRules), its password in
// the URL. serve becomes ready, replay -wait streams the events through it,
// and verify finds the state equal to the oracle's; in single and cluster
// mode, with each SASL mechanism. Nothing is denied on the way, and no
// secret reaches the output.
func TestSecuredStreamEndsInVerify(t *testing.T) {
	k := testenv.SecureKafkaListener(t)
	for _, tc := range []struct {
		mode store.Mode
		mech string
	}{
		{store.Single, kafkaconn.MechanismSCRAMSHA512},
		{store.Cluster, kafkaconn.MechanismSCRAMSHA256},
		{store.Single, kafkaconn.MechanismPlain},
	} {
		t.Run(string(tc.mode)+"/"+tc.mech, func(t *testing.T) {
			var env *testenv.Env
			if tc.mode == store.Cluster {
				env = testenv.NewCluster(t, 2)
			} else {
				env = testenv.New(t, 2) // the events and dead-letter topics, made through the admin's listener
			}
			feedTopic := env.Topic + ".lists"
			k.Topics(t, kafkaadmin.Topic{Name: feedTopic, Partitions: 2, Replication: 1, Configs: feed.TopicConfig})
			k.Grant(t, testenv.KafkaService, kafkaadmin.Access{Topic: env.Topic, DLQTopic: env.DLQTopic, FeedTopic: feedTopic, CatalogueTopic: env.CatalogueTopic,
				Group: env.Group, Produce: true})
			srv := testenv.NewSecureRedis(t, env, store.ACLRules(env.Prefix))
			args := append([]string{"-topic", env.Topic, "-dlq-topic", env.DLQTopic, "-prefix", env.Prefix, "-create-topics=false",
				"-redis-mode", string(tc.mode), "-redis", secureURL(srv, srv.Password),
				"-redis-tls-ca", srv.CAFile, "-redis-tls-cert", srv.CertFile, "-redis-tls-key", srv.KeyFile},
				k.Args(testenv.KafkaService, tc.mech)...)
			addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			serve := startServe(t, addr, append([]string{"-group", env.Group, "-http", addr, "-log-level", "info"}, args...)...)
			log := &serve.log
			// The consumer's and the re-scorer's writes, and replay's and
			// verify's reads and writes, all as the least-privilege users.
			data, _ := testenv.EventsFile(t, 300)
			var out bytes.Buffer
			for _, cmd := range [][]string{{"replay", "-data", data, "-wait", "-wait-timeout", "90s", "-quiet"},
				{"rescore", "--all"}, {"verify", "-data", data}} {
				if err := run(context.Background(), append(cmd, args...), &out, &out); err != nil {
					t.Fatalf("%s: %v\n%s\nserve's log:\n%s", cmd[0], err, out.String(), log.String())
				}
			}
			if !strings.Contains(out.String(), "OK: Redis matches the oracle") {
				t.Fatalf("verify:\n%s", out.String())
			}
			serve.stop(t)
			all := out.String() + log.String()
			for _, denied := range []string{"NOPERM", "Authorization", "denied"} {
				if strings.Contains(all, denied) {
					t.Errorf("an operation the documented ACLs do not allow (%s):\n%s", denied, all)
				}
			}
			if strings.Contains(all, srv.Password) {
				t.Fatalf("the output shows the Redis password:\n%s", all)
			}
			if !strings.Contains(log.String(), "rediss://"+srv.Username+":xxxxx@"+strings.Split(srv.Addr, ",")[0]) {
				t.Fatalf("want the redacted Redis address in the log:\n%s", log.String())
			}
		})
	}
}
