package consumer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
)

func headerMap(t *testing.T, m kafka.Message) map[string]string {
	t.Helper()
	h := map[string]string{}
	for _, x := range m.Headers {
		if _, dup := h[x.Key]; dup {
			t.Errorf("header %s twice", x.Key)
		}
		h[x.Key] = string(x.Value)
	}
	return h
}

func headerBytes(m kafka.Message) int {
	n := 0
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestDeadLetterRecordIsBounded: whatever the rejected message holds, its
// dead-letter record keeps at most 1 KiB of key and 64 KiB of value, says
// the original sizes and sha256, and its headers stay under 2 KiB.
func TestDeadLetterRecordIsBounded(t *testing.T) {
	longTopic := strings.Repeat("t", 249) // Kafka's longest topic name
	ff := bytes.Repeat([]byte{0xff}, 250_000)
	for _, tc := range []struct {
		name               string
		key, value         []byte
		err                error
		wantKey, wantValue int // bytes kept
		wantCut            bool
	}{
		{"small message kept whole", []byte("c1"), []byte(`{"x":1}`), errors.New("event: invalid_json"), 2, 7, false},
		{"empty key and value", nil, nil, errors.New("event: invalid_json"), 0, 0, false},
		{"key at the bound kept whole", bytes.Repeat([]byte("k"), maxDeadLetterKey), []byte("v"), errors.New("x"), maxDeadLetterKey, 1, false},
		{"key of 600 KB cut", bytes.Repeat([]byte("k"), 600_000), []byte("v"), errors.New("x"), maxDeadLetterKey, 1, false},
		{"key of 250 KB of 0xFF cut", ff, []byte("v"), errors.New("x"), maxDeadLetterKey, 1, false},
		{"value at the bound kept whole", []byte("c1"), bytes.Repeat([]byte("v"), maxDeadLetterValue), errors.New("x"), 2, maxDeadLetterValue, false},
		{"value of 1 MB cut", []byte("c1"), bytes.Repeat([]byte("v"), 1<<20), errors.New("x"), 2, maxDeadLetterValue, true},
		{"error of 1 MB cut", []byte("c1"), []byte("v"), errors.New(strings.Repeat("e", 1<<20)), 2, 1, false},
		{"error quoting a 0xFF key", ff, []byte("v"), fmt.Errorf("message key %q", ff), maxDeadLetterKey, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Rejected{Msg: kafka.Message{Partition: 3, Offset: 1234567, Key: tc.key, Value: tc.value},
				Reason: event.ReasonKeyMismatch, Err: tc.err}
			d := deadLetterRecord(longTopic, r)
			if len(d.Key) != tc.wantKey || !bytes.Equal(d.Key, tc.key[:tc.wantKey]) {
				t.Errorf("key: %d bytes kept, want the first %d", len(d.Key), tc.wantKey)
			}
			if len(d.Value) != tc.wantValue || !bytes.Equal(d.Value, tc.value[:tc.wantValue]) {
				t.Errorf("value: %d bytes kept, want the first %d", len(d.Value), tc.wantValue)
			}
			if n := headerBytes(d); n > maxDeadLetterHeaders {
				t.Errorf("headers hold %d bytes, more than %d", n, maxDeadLetterHeaders)
			}
			h := headerMap(t, d)
			want := map[string]string{
				"reason": "key_mismatch", "source_topic": longTopic, "source_partition": "3", "source_offset": "1234567",
				"key_size": strconv.Itoa(len(tc.key)), "key_sha256": hexSum(tc.key),
				"value_size": strconv.Itoa(len(tc.value)), "value_sha256": hexSum(tc.value),
			}
			if tc.wantCut {
				want["truncated_from"], want["sha256"] = strconv.Itoa(len(tc.value)), hexSum(tc.value)
			}
			for k, v := range want {
				if h[k] != v {
					t.Errorf("header %s = %.80q, want %.80q", k, h[k], v)
				}
			}
			if _, ok := h["truncated_from"]; ok != tc.wantCut {
				t.Errorf("truncated_from present: %v, want %v", ok, tc.wantCut)
			}
			e := h["error"]
			if len(e) > maxErrorText || !utf8.ValidString(e) || e == "" {
				t.Errorf("error header: %d bytes, valid UTF-8 %v: want 1 to %d bytes of UTF-8", len(e), utf8.ValidString(e), maxErrorText)
			}
			if len(e) < len(tc.err.Error()) && !strings.HasSuffix(e, cutMark) {
				t.Errorf("a cut error header does not end in %q", cutMark)
			}
			if _, ok := h["minimal"]; ok {
				t.Error("a bounded record is marked minimal")
			}
		})
	}
}

// TestMinimalRecordHasNoKeyOrValue: the fallback record keeps only the
// headers: reason, source, sizes and hashes, and the broker's refusal.
func TestMinimalRecordHasNoKeyOrValue(t *testing.T) {
	key, value := bytes.Repeat([]byte{0xff}, 250_000), bytes.Repeat([]byte("v"), 1<<20)
	r := Rejected{Msg: kafka.Message{Partition: 1, Offset: 9, Key: key, Value: value},
		Reason: event.ReasonTooLarge, Err: errors.New("event: too_large")}
	d := minimalRecord("events", r, kafka.MessageSizeTooLarge)
	if d.Key != nil || d.Value != nil {
		t.Fatalf("minimal record has a key of %d bytes and a value of %d", len(d.Key), len(d.Value))
	}
	h := headerMap(t, d)
	for k, v := range map[string]string{"reason": "too_large", "error": "event: too_large", "source_topic": "events",
		"source_partition": "1", "source_offset": "9", "key_size": "250000", "key_sha256": hexSum(key),
		"value_size": strconv.Itoa(1 << 20), "value_sha256": hexSum(value)} {
		if h[k] != v {
			t.Errorf("header %s = %.80q, want %.80q", k, h[k], v)
		}
	}
	if !strings.Contains(h["minimal"], "Message Size Too Large") {
		t.Errorf("header minimal = %q, want the broker's error", h["minimal"])
	}
	if n := headerBytes(d); n > maxDeadLetterHeaders {
		t.Errorf("headers hold %d bytes, more than %d", n, maxDeadLetterHeaders)
	}
}

// TestCutText: a cut text is valid UTF-8 within the bound, cut between
// runes, marked as cut; a short text is unchanged.
func TestCutText(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"fits", "abc", 10, "abc"},
		{"exactly the bound", "abcdefghij", 10, "abcdefghij"},
		{"cut with the mark", "abcdefghijk", 10, "abcd" + cutMark},
		{"cut before a split rune", "ab€€€€€€€€", 10, "ab" + cutMark},
		{"invalid bytes replaced", "a\xffb", 10, "a\uFFFDb"},
		{"huge input", strings.Repeat("x", 10<<20), 20, strings.Repeat("x", 14) + cutMark},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cutText(tc.in, tc.n)
			if got != tc.want {
				t.Errorf("cutText(%.30q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if len(got) > tc.n || !utf8.ValidString(got) {
				t.Errorf("%d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
			}
		})
	}
}

// TestDeadLetterErrorsShowNoCustomerID: the error texts of key_mismatch,
// wrong_partition and a customer_id's bad_id_chars, which go into the
// dead-letter record's error header and the consumer's log, show the key
// and the customer id only as event.Fingerprint (the first 12 hex digits
// of their SHA-256, and their size), whatever their size or bytes.
func TestDeadLetterErrorsShowNoCustomerID(t *testing.T) {
	const customer = "cust-4711-jane.doe@example.com"
	valid := func(id string) []byte {
		return []byte(`{"event_id":"e1","type":"purchase","customer_id":"` + id + `","item_id":"i1","ts":1396321306083}`)
	}
	fingerprint := func(b []byte) string {
		sum := sha256.Sum256(b)
		return "sha256:" + hex.EncodeToString(sum[:])[:12] + " (" + strconv.Itoa(len(b)) + " bytes)"
	}
	var k keyPartitioner
	k.setCounts([]int{4})
	wrongPartition := 0
	for k.fits([]byte(customer), wrongPartition) {
		wrongPartition++
	}
	a := applier{limits: event.DefaultLimits(time.Now()), maxSkew: time.Hour, partitioner: &k}
	for _, tc := range []struct {
		name   string
		msg    kafka.Message
		reason event.Reason
		shown  []string // the fingerprints the text must show
		hidden []string // what it must not quote
	}{
		{"key_mismatch", kafka.Message{Key: []byte("other-customer-0815"), Value: valid(customer)}, event.ReasonKeyMismatch,
			[]string{fingerprint([]byte("other-customer-0815")), fingerprint([]byte(customer))}, []string{customer, "other-customer", "0815"}},
		{"key_mismatch, a 600 KB key of 0xFF", kafka.Message{Key: bytes.Repeat([]byte{0xff}, 600_000), Value: valid(customer)}, event.ReasonKeyMismatch,
			[]string{fingerprint(bytes.Repeat([]byte{0xff}, 600_000)), fingerprint([]byte(customer))}, []string{customer, `\xff`}},
		{"wrong_partition", kafka.Message{Key: []byte(customer), Value: valid(customer), Partition: wrongPartition}, event.ReasonWrongPartition,
			[]string{fingerprint([]byte(customer))}, []string{customer, "jane"}},
		{"bad_id_chars in customer_id", kafka.Message{Key: []byte("jane doe"), Value: valid("jane doe")}, event.ReasonBadIDChars,
			[]string{fingerprint([]byte("jane doe"))}, []string{"jane"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, bad := a.decode([]kafka.Message{tc.msg})
			if len(bad) != 1 || bad[0].Reason != tc.reason {
				t.Fatalf("want one %s, got %+v", tc.reason, bad)
			}
			text := errorText(bad[0].Err)
			for _, s := range tc.shown {
				if !strings.Contains(text, s) {
					t.Errorf("error %q: want the fingerprint %s", text, s)
				}
			}
			for _, s := range tc.hidden {
				if strings.Contains(text, s) {
					t.Errorf("error %q quotes %q", text, s)
				}
			}
			if len(text) > 300 {
				t.Errorf("error of %d bytes: %q", len(text), text)
			}
			t.Logf("%s", text)
		})
	}
}

// TestRefusedForGood: only the errors the broker does not call retriable,
// a denied write excepted, are final for a record; network failures, timeouts and retriable broker
// errors are retried.
func TestRefusedForGood(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{kafka.MessageSizeTooLarge, true},
		{kafka.RecordListTooLarge, true},
		{kafka.MessageTooLargeError{}, true}, // kafka-go's check before sending
		{fmt.Errorf("write: %w", kafka.InvalidRecord), true},
		{kafka.TopicAuthorizationFailed, false}, // waits for the ACL: no record is lost
		{kafka.NotEnoughReplicas, false},
		{kafka.LeaderNotAvailable, false},
		{kafka.UnknownTopicOrPartition, false},
		{kafka.RequestTimedOut, false},
		{io.ErrUnexpectedEOF, false},
		{context.DeadlineExceeded, false},
		{context.Canceled, false},
		{errors.New("dial tcp: connection refused"), false},
	} {
		if got := refusedForGood(tc.err); got != tc.want {
			t.Errorf("refusedForGood(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestKafkaErrorLabel: the metric label of a Kafka error is its title in
// snake case; anything else is "other".
func TestKafkaErrorLabel(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{kafka.MessageSizeTooLarge, "message_size_too_large"},
		{fmt.Errorf("x: %w", kafka.TopicAuthorizationFailed), "topic_authorization_failed"},
		{kafka.MessageTooLargeError{}, "message_size_too_large"},
		{errors.New("boom"), "other"},
	} {
		err, want := tc.err, tc.want
		if got := kafkaErrorLabel(err); got != want {
			t.Errorf("kafkaErrorLabel(%v) = %q, want %q", err, got, want)
		}
	}
}

// A dead letter reads back as it was written: the reason, the source, and
// whether it kept the original whole, which only then may be published
// again.
func TestDeadLetterReadsBackAsWritten(t *testing.T) {
	big := bytes.Repeat([]byte("v"), maxDeadLetterValue+1)
	for _, tc := range []struct {
		name      string
		rec       func(Rejected) kafka.Message
		value     []byte
		wantWhole bool
	}{
		{"a small message: whole", func(r Rejected) kafka.Message { return deadLetterRecord("events", r) }, []byte(`{"x":1}`), true},
		{"a cut value: not whole", func(r Rejected) kafka.Message { return deadLetterRecord("events", r) }, big, false},
		{"a minimal record: not whole", func(r Rejected) kafka.Message {
			return minimalRecord("events", r, errors.New("message too large"))
		}, []byte(`{"x":1}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Rejected{Msg: kafka.Message{Partition: 3, Offset: 41, Key: []byte("c1"), Value: tc.value},
				Reason: event.ReasonInvalidJSON, Err: errors.New("event: invalid_json")}
			m := tc.rec(r)
			m.Partition, m.Offset = 0, 7 // where the dead-letter topic put it
			d := ReadDeadLetter(m)
			if d.Reason != event.ReasonInvalidJSON || d.Error != "event: invalid_json" || d.SourceTopic != "events" ||
				d.SourcePartition != 3 || d.SourceOffset != 41 || d.Offset != 7 || d.KeySize != 2 || d.ValueSize != len(tc.value) {
				t.Errorf("read back %+v", d)
			}
			if d.Whole() != tc.wantWhole {
				t.Errorf("Whole() = %v, want %v", d.Whole(), tc.wantWhole)
			}
			if tc.wantWhole && (!bytes.Equal(d.Key, r.Msg.Key) || !bytes.Equal(d.Value, r.Msg.Value)) {
				t.Errorf("kept %q %q", d.Key, d.Value)
			}
		})
	}
	// A value changed after the fact does not pass for the original.
	d := ReadDeadLetter(deadLetterRecord("events", Rejected{Msg: kafka.Message{Key: []byte("c1"), Value: []byte("abc")}, Reason: event.ReasonInvalidJSON}))
	d.Value = []byte("abd")
	if d.Whole() {
		t.Error("a value whose sha256 differs passed as whole")
	}
}
