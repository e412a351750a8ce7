package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// errDeadLetter marks a failed dead-letter write (a Kafka error).
var errDeadLetter = errors.New("dead-letter topic unavailable")

// maxDeadLetterValue bounds the original bytes kept in a dead-letter record,
// well under the broker's default 1 MB message limit.
const maxDeadLetterValue = 64 << 10

// deadLetter writes the rejected messages to the dead-letter topic and waits
// for the broker's acknowledgement: the batch's progress moves only after.
func (c *Consumer) deadLetter(ctx context.Context, bad []Rejected) error {
	out := make([]kafka.Message, 0, len(bad))
	for _, r := range bad {
		out = append(out, deadLetterRecord(c.cfg.Topic, r))
		// Sampled: at most a burst per period, the metric counts them all.
		c.dlqLog.Warn().Str("reason", string(r.Reason)).Int("partition", r.Msg.Partition).
			Int64("offset", r.Msg.Offset).Err(r.Err).Msg("event dead-lettered")
	}
	if err := c.dlq.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("%w: write %d events to %s: %w", errDeadLetter, len(out), c.cfg.DLQTopic, err)
	}
	return nil
}

// deadLetterRecord keeps the original key and bytes (truncated, with the
// hash of the whole value, when too big) and says why and where from in
// headers.
func deadLetterRecord(topic string, r Rejected) kafka.Message {
	value := r.Msg.Value
	headers := []kafka.Header{
		{Key: "reason", Value: []byte(r.Reason)},
		{Key: "error", Value: []byte(r.Err.Error())},
		{Key: "source_topic", Value: []byte(topic)},
		{Key: "source_partition", Value: []byte(strconv.Itoa(r.Msg.Partition))},
		{Key: "source_offset", Value: []byte(strconv.FormatInt(r.Msg.Offset, 10))},
	}
	if len(value) > maxDeadLetterValue {
		sum := sha256.Sum256(value)
		headers = append(headers,
			kafka.Header{Key: "truncated_from", Value: []byte(strconv.Itoa(len(value)))},
			kafka.Header{Key: "sha256", Value: []byte(hex.EncodeToString(sum[:]))})
		value = value[:maxDeadLetterValue]
	}
	return kafka.Message{Key: r.Msg.Key, Value: value, Headers: headers}
}
