package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/testenv"
)

// TestDeadLettersAreListedAndRepublishedOnce, on the real broker: serve
// dead-letters an event older than its -min-event-time and a message that
// is no event; `deadletters list` shows both with their reasons and
// sources; after the setting is fixed, `deadletters republish -reason`
// publishes the event again, with its key and value (so its id), once:
// a second republish publishes nothing, the message that is still invalid
// is named and not published, and the fixed serve applies the event once.
func TestDeadLettersAreListedAndRepublishedOnce(t *testing.T) {
	env := testenv.New(t, 1)
	common := []string{"-topic", env.Topic, "-dlq-topic", env.DLQTopic, "-prefix", env.Prefix, "-redis", env.RedisAddr}
	serveArgs := func(addr, minTime string) []string {
		return append([]string{"-group", env.Group, "-feed-topic", "off", "-http", addr, "-min-event-time", minTime}, common...)
	}
	// tool runs `deadletters` with flags (the flags come first), then args.
	tool := func(flags []string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := append(append(append([]string{"deadletters"}, common...), flags...), args...)
		if err := run(context.Background(), cmd, &out, &errOut); err != nil {
			t.Fatalf("deadletters %v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		return out.String()
	}

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	strict := startServe(t, addr, serveArgs(addr, "2025-01-01T00:00:00Z")...)
	old := event.Event{ID: "web-old-1", Type: event.Purchase, CustomerID: "c1", ItemID: "i1", Time: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)}
	fresh := event.Event{ID: "web-new-1", Type: event.Purchase, CustomerID: "c1", ItemID: "i2", Time: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	w := env.Kafka().Writer(env.Topic)
	err := w.WriteMessages(context.Background(),
		kafka.Message{Key: []byte("c1"), Value: event.Encode(old)},
		kafka.Message{Key: []byte("c1"), Value: []byte("not an event")},
		kafka.Message{Key: []byte("c1"), Value: event.Encode(fresh)})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	waitAllApplied(t, env, &strict.log)
	strict.stop(t)

	var listed []listedDeadLetter
	for _, line := range strings.Split(strings.TrimSpace(tool([]string{"-json"}, "list")), "\n") {
		var l listedDeadLetter
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		listed = append(listed, l)
	}
	if len(listed) != 2 || listed[0].Reason != string(event.ReasonTimeOutOfWindow) || listed[1].Reason != string(event.ReasonInvalidJSON) {
		t.Fatalf("listed %+v, want ts_out_of_window then invalid_json", listed)
	}
	if l := listed[0]; l.SourceTopic != env.Topic || l.SourcePartition != 0 || l.SourceOffset != 0 || l.Key != "c1" ||
		l.Value != string(event.Encode(old)) || !l.Whole || l.Republished != nil {
		t.Errorf("the old event listed as %+v", l)
	}
	if table := tool(nil, "list"); !strings.Contains(table, "ts_out_of_window") || !strings.Contains(table, "not an event") {
		t.Errorf("the table names neither the reason nor the value:\n%s", table)
	}

	// The fix: serve and the tool accept older events now.
	fixed := startServe(t, addr, serveArgs(addr, "2020-01-01T00:00:00Z")...)
	out := tool([]string{"-reason", "ts_out_of_window", "-min-event-time", "2020-01-01T00:00:00Z"}, "republish")
	if !strings.Contains(out, "published event web-old-1 again") || !strings.Contains(out, "published 1 dead letters") {
		t.Errorf("republish said:\n%s", out)
	}
	out = tool([]string{"-reason", "ts_out_of_window", "-min-event-time", "2020-01-01T00:00:00Z"}, "republish")
	if !strings.Contains(out, "published again before") || !strings.Contains(out, "published 0 dead letters") {
		t.Errorf("a second republish said:\n%s", out)
	}
	out = tool([]string{"-min-event-time", "2020-01-01T00:00:00Z"}, "republish", fmt.Sprintf("%d:%d", listed[1].Partition, listed[1].Offset))
	if !strings.Contains(out, "still invalid") || !strings.Contains(out, "published 0 dead letters") {
		t.Errorf("republishing what is still invalid said:\n%s", out)
	}
	waitAllApplied(t, env, &fixed.log)
	if n := metric(t, addr, `alsobought_events_applied_total{type="purchase"}`); n != 1 {
		t.Errorf("the fixed serve applied %v purchases, want the republished one", n)
	}
	table := tool(nil, "list")
	if !strings.Contains(table, "republished ") {
		t.Errorf("the table does not say the dead letter was republished:\n%s", table)
	}
	t.Logf("deadletters list:\n%s", table)
	fixed.stop(t)
}
