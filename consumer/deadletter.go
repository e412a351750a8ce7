package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaconn"
)

// errDeadLetter marks a failed dead-letter write that is worth retrying (a
// Kafka error the broker calls retriable, or a network failure).
var errDeadLetter = errors.New("dead-letter topic unavailable")

// Bounds of a dead-letter record (docs/events.md, "Dead letters"). A bad
// message is the one input nothing upstream has checked, so nothing of it
// reaches the dead-letter topic, a header or a log line unbounded: a record
// the broker refuses would otherwise stop the partition behind it
// (docs/DESIGN.md section 5: bad input never stops the pipeline).
const (
	// maxDeadLetterValue bounds the original value kept, well under the
	// broker's default 1 MB message limit.
	maxDeadLetterValue = 64 << 10
	// maxDeadLetterKey bounds the original key kept: a valid key is a
	// customer id of at most 128 bytes, so a longer one is kept only as a
	// sample to recognise it by.
	maxDeadLetterKey = 1 << 10
	// maxErrorText bounds the "error" header and the error text logged.
	maxErrorText = 1 << 10
	// maxDeadLetterHeaders bounds the headers of a record, names and values
	// together: the error text, the source topic (Kafka allows 249 bytes)
	// and short fixed fields.
	maxDeadLetterHeaders = 2 << 10
	// deadLetterBatchBytes is the dead-letter writer's batch limit: well
	// under the broker's default message.max.bytes (1 MB plus 12 bytes),
	// which applies to a whole record batch, so that a batch of bounded
	// records is never refused for its size.
	deadLetterBatchBytes = 512 << 10
)

// Dead-letter header names (docs/events.md, "Dead letters").
const (
	hdrReason          = "reason"
	hdrError           = "error"
	hdrSourceTopic     = "source_topic"
	hdrSourcePartition = "source_partition"
	hdrSourceOffset    = "source_offset"
	hdrKeySize         = "key_size"
	hdrKeySHA256       = "key_sha256"
	hdrValueSize       = "value_size"
	hdrValueSHA256     = "value_sha256"
	// hdrTruncatedFrom and hdrSHA256 describe a cut value; they predate the
	// value_* headers and are kept for readers of version 1.
	hdrTruncatedFrom = "truncated_from"
	hdrSHA256        = "sha256"
	// hdrMinimal marks a minimal record: the broker refused the bounded one
	// for good; its value is the broker's error.
	hdrMinimal = "minimal"
)

// deadLetter writes the rejected messages to the dead-letter topic and waits
// for the broker's acknowledgement: the batch's progress moves only after.
// A record the broker refuses for good (too large, or any error it does not
// call retriable) is written again as a minimal record, without the key and
// value; a minimal record refused for good is counted and logged, and the
// partition moves on: losing a dead-letter copy (the original stays in the
// events topic) beats stopping the partition. A retriable failure returns
// an error wrapping errDeadLetter, and the batch is retried.
func (c *Consumer) deadLetter(ctx context.Context, bad []Rejected) error {
	out := make([]kafka.Message, len(bad))
	for i, r := range bad {
		out[i] = deadLetterRecord(c.sourceTopic(r), r)
		// Sampled: at most a burst per period, the metric counts them all.
		c.dlqLog.Warn().Str("reason", string(r.Reason)).Int("partition", r.Msg.Partition).
			Int64("offset", r.Msg.Offset).Int("key_size", len(r.Msg.Key)).Int("value_size", len(r.Msg.Value)).
			Str("error", errorText(r.Err)).Msg("event dead-lettered")
	}
	refused, err := c.writeDeadLetters(ctx, out)
	if err != nil || len(refused) == 0 {
		return err
	}
	minimal := make([]kafka.Message, len(refused))
	for j, f := range refused {
		r := bad[f.index]
		minimal[j] = minimalRecord(c.sourceTopic(r), r, f.err)
		c.metrics.observeDeadLetterFallback(f.err)
		c.dlqLog.Warn().Str("reason", string(r.Reason)).Int("partition", r.Msg.Partition).
			Int64("offset", r.Msg.Offset).Str("kafka_error", errorText(f.err)).
			Msg("the broker refused the dead-letter record: writing a minimal one without key and value")
	}
	lost, err := c.writeDeadLetters(ctx, minimal)
	if err != nil {
		return err
	}
	for _, f := range lost {
		r := bad[refused[f.index].index]
		c.metrics.observeDeadLetterLost(f.err)
		c.dlqLog.Error().Str("reason", string(r.Reason)).Int("partition", r.Msg.Partition).
			Int64("offset", r.Msg.Offset).Str("kafka_error", errorText(f.err)).
			Msg("the broker refused the minimal dead-letter record too: dead letter lost, the partition moves on (the event stays in the events topic at its offset)")
	}
	return nil
}

// sourceTopic is the topic a rejected message came from: the events
// topic, or the catalogue topic, whose reader names it.
func (c *Consumer) sourceTopic(r Rejected) string {
	if r.Msg.Topic != "" {
		return r.Msg.Topic
	}
	return c.cfg.Topic
}

// refusal is a record the broker refused for good: its index in a write
// and the broker's error.
type refusal struct {
	index int
	err   error
}

// writeDeadLetters writes records to the dead-letter topic. It returns the
// records the broker refused for good (in order, with the error), or an
// error wrapping errDeadLetter when any record failed in a way worth
// retrying; the caller then retries them all (dead letters are at least
// once).
func (c *Consumer) writeDeadLetters(ctx context.Context, msgs []kafka.Message) ([]refusal, error) {
	err := c.dlq.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil, nil
	}
	var each kafka.WriteErrors
	if !errors.As(err, &each) || len(each) != len(msgs) {
		// One error for the whole call (a client-side size check, a
		// metadata failure, a cancelled context): it holds for every record.
		each = make(kafka.WriteErrors, len(msgs))
		for i := range each {
			each[i] = err
		}
	}
	var refused []refusal
	for i, e := range each {
		switch {
		case e == nil:
		case refusedForGood(e):
			refused = append(refused, refusal{i, e})
		default:
			e = c.cfg.Kafka.Explain(e, kafkaconn.Op{Name: "Write", Topic: c.cfg.DLQTopic})
			return nil, fmt.Errorf("%w: write %d records to %s: %w", errDeadLetter, len(msgs), c.cfg.DLQTopic, e)
		}
	}
	return refused, nil
}

// refusedForGood reports whether the broker refused a record with an error
// it does not call retriable (kafka.Error.Temporary): the record is too
// large (MessageSizeTooLarge, RecordListTooLarge, or kafka-go's own check
// before sending) or invalid. Writing the same record again would fail
// again. Network failures, timeouts and retriable broker errors (no leader
// yet, not enough replicas) are not; nor is a denied write (a missing ACL):
// that holds for every record until an operator grants the ACL, so the
// batch waits, not ready and saying why, rather than losing its dead
// letters. A missing ACL is the deployment's fault, not the input's: the
// promise that bad input never stops the pipeline and is never silently
// dropped (docs/DESIGN.md section 5, promise 3) keeps its second half
// (docs/security.md, "Kafka ACLs").
func refusedForGood(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && !ke.Temporary() && kafkaconn.KindOf(err) != kafkaconn.Denied
}

// deadLetterRecord is the dead-letter record of a rejected message: its key
// and value cut to maxDeadLetterKey and maxDeadLetterValue, with the size
// and sha256 of the originals, and why and where from in headers. The
// headers stay under maxDeadLetterHeaders whatever the message held.
func deadLetterRecord(topic string, r Rejected) kafka.Message {
	headers := append(sourceHeaders(topic, r), originalHeaders(r.Msg)...)
	key, value := r.Msg.Key, r.Msg.Value
	if len(key) > maxDeadLetterKey {
		key = key[:maxDeadLetterKey]
	}
	if len(value) > maxDeadLetterValue {
		headers = append(headers,
			kafka.Header{Key: hdrTruncatedFrom, Value: []byte(strconv.Itoa(len(value)))},
			kafka.Header{Key: hdrSHA256, Value: []byte(sha256Hex(value))})
		value = value[:maxDeadLetterValue]
	}
	return kafka.Message{Key: key, Value: value, Headers: headers}
}

// minimalRecord is what is written when the broker refused the bounded
// record for good (cause): the headers of the source, the reason and the
// sizes and hashes of the original key and value, no key and no value.
func minimalRecord(topic string, r Rejected, cause error) kafka.Message {
	headers := append(sourceHeaders(topic, r), originalHeaders(r.Msg)...)
	headers = append(headers, kafka.Header{Key: hdrMinimal, Value: []byte(cutText(cause.Error(), 128))})
	return kafka.Message{Headers: headers}
}

// sourceHeaders say why the message was rejected and where it came from.
func sourceHeaders(topic string, r Rejected) []kafka.Header {
	return []kafka.Header{
		{Key: hdrReason, Value: []byte(r.Reason)},
		{Key: hdrError, Value: []byte(errorText(r.Err))},
		{Key: hdrSourceTopic, Value: []byte(topic)},
		{Key: hdrSourcePartition, Value: []byte(strconv.Itoa(r.Msg.Partition))},
		{Key: hdrSourceOffset, Value: []byte(strconv.FormatInt(r.Msg.Offset, 10))},
	}
}

// originalHeaders identify the original key and value however they were
// cut: their sizes in bytes and their sha256 in hex.
func originalHeaders(m kafka.Message) []kafka.Header {
	return []kafka.Header{
		{Key: hdrKeySize, Value: []byte(strconv.Itoa(len(m.Key)))},
		{Key: hdrKeySHA256, Value: []byte(sha256Hex(m.Key))},
		{Key: hdrValueSize, Value: []byte(strconv.Itoa(len(m.Value)))},
		{Key: hdrValueSHA256, Value: []byte(sha256Hex(m.Value))},
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// errorText is err's text cut to maxErrorText bytes of valid UTF-8, for
// the error header and the logs. The errors of this path show a customer
// id or a key only as its event.Fingerprint, other ids by a short prefix
// (event's details); the cut holds whatever an error says.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	return cutText(err.Error(), maxErrorText)
}

// cutMark ends a text cut by cutText.
const cutMark = " [cut]"

// cutText returns s as valid UTF-8 of at most n bytes (n > len(cutMark)):
// s itself when it fits, else its longest prefix that fits with cutMark
// after it, cut between runes.
func cutText(s string, n int) string {
	if len(s) > 4*n {
		s = s[:4*n] // enough for the prefix, whatever replacing bad bytes adds
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	i := n - len(cutMark)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + cutMark
}

// DeadLetter is a dead-letter record as read back from the dead-letter
// topic (docs/events.md, "Dead letters"): why the message was rejected,
// where it came from, and as much of it as was kept.
type DeadLetter struct {
	Partition int       // in the dead-letter topic
	Offset    int64     // in the dead-letter topic
	Time      time.Time // when it was dead-lettered
	Reason    event.Reason
	Error     string

	SourceTopic     string
	SourcePartition int
	SourceOffset    int64

	// Key and Value are what the record kept: the originals, or their
	// first maxDeadLetterKey and maxDeadLetterValue bytes, or nothing in
	// a minimal record.
	Key, Value []byte
	// The originals' sizes and sha256 (hex), as the headers say.
	KeySize, ValueSize     int
	KeySHA256, ValueSHA256 string
	// Minimal is the broker's refusal when the record is a minimal one.
	Minimal string
}

// ReadDeadLetter reads a record of the dead-letter topic. Headers it does
// not find leave their fields empty (a record of an older version has no
// key_* or value_* headers: the sizes are then what the record holds,
// unless truncated_from says more).
func ReadDeadLetter(m kafka.Message) DeadLetter {
	d := DeadLetter{Partition: m.Partition, Offset: m.Offset, Time: m.Time, Key: m.Key, Value: m.Value,
		KeySize: len(m.Key), ValueSize: len(m.Value), SourcePartition: -1, SourceOffset: -1}
	for _, h := range m.Headers {
		v := string(h.Value)
		switch h.Key {
		case hdrReason:
			d.Reason = event.Reason(v)
		case hdrError:
			d.Error = v
		case hdrSourceTopic:
			d.SourceTopic = v
		case hdrSourcePartition:
			d.SourcePartition = atoiOr(v, -1)
		case hdrSourceOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				d.SourceOffset = n
			}
		case hdrKeySize:
			d.KeySize = atoiOr(v, d.KeySize)
		case hdrValueSize, hdrTruncatedFrom:
			d.ValueSize = atoiOr(v, d.ValueSize)
		case hdrKeySHA256:
			d.KeySHA256 = v
		case hdrValueSHA256, hdrSHA256:
			d.ValueSHA256 = v
		case hdrMinimal:
			d.Minimal = v
		}
	}
	return d
}

func atoiOr(s string, or int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return or
}

// Whole reports whether the record kept the original message entire, key
// and value (not a minimal record, nothing cut, the hashes match where
// given): only such a record can be published again as it was.
func (d DeadLetter) Whole() bool {
	if d.Minimal != "" || len(d.Key) != d.KeySize || len(d.Value) != d.ValueSize {
		return false
	}
	return (d.KeySHA256 == "" || d.KeySHA256 == sha256Hex(d.Key)) && (d.ValueSHA256 == "" || d.ValueSHA256 == sha256Hex(d.Value))
}
