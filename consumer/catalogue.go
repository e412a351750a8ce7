package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/store"
)

// CatalogueStore is the catalogue state in Redis (store.Catalogue).
type CatalogueStore interface {
	Apply(ctx context.Context, partition int, recs []store.CatalogueRecord, next int64, now time.Time) ([]store.CatalogueChange, error)
	Progress(ctx context.Context) (map[int]int64, error)
}

// followCatalogue applies one partition of the catalogue topic
// (docs/DESIGN.md §11), which the group assigns like the events'
// partitions: an instance reads the catalogue partitions it owns, from the
// progress stored in Redis, dead-letters the invalid records and applies
// the others, fenced by that progress. Records are few next to events, so
// a batch is applied in one script, whatever it holds.
func (c *Consumer) followCatalogue(ctx context.Context, gen *kafka.Generation, partition int) {
	topic := c.cfg.CatalogueTopic
	log := c.log.With().Str("topic", topic).Int("partition", partition).Logger()
	retries := c.retries.With().Str("topic", topic).Int("partition", partition).Logger()
	bo := backoff{}
	var next int64
	for {
		progress, err := c.catalogue.Progress(ctx)
		if err == nil {
			next = progress[partition]
			break
		}
		if ctx.Err() != nil {
			return
		}
		c.cfg.Errors.Redis()
		c.setNotReady(err.Error())
		retries.Warn().Err(err).Msg("cannot read the catalogue progress; retrying")
		if !bo.sleep(ctx) {
			return
		}
	}
	r := c.cfg.Kafka.Reader(kafka.ReaderConfig{Topic: topic, Partition: partition, MinBytes: 1, MaxBytes: 8 << 20,
		MaxWait: 250 * time.Millisecond})
	defer r.Close()
	offset := int64(kafka.FirstOffset)
	if next > 0 {
		offset = next
	}
	if err := r.SetOffset(offset); err != nil {
		log.Error().Err(err).Msg("cannot seek")
		return
	}
	log.Info().Int64("from_offset", next).Msg("following the catalogue partition")
	for ctx.Err() == nil {
		msgs, _, err := c.fetchBatch(ctx, r, nil)
		if errors.Is(err, errIdle) {
			// The reader waited without an error: a failed fetch is over,
			// as consumePartition says on an idle events partition.
			c.clearKafkaNotReady()
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				err = c.cfg.Kafka.Explain(err, kafkaconn.Op{Name: "Read", Topic: topic, Group: c.cfg.GroupID})
				c.cfg.Errors.Kafka()
				c.setNotReady("kafka: " + err.Error())
				logRetry(retries, err).Msg("catalogue fetch failed; retrying")
				bo.sleep(ctx)
			}
			continue
		}
		for {
			err = c.applyCatalogue(ctx, partition, msgs)
			if err == nil || ctx.Err() != nil {
				break
			}
			if errors.Is(err, errDeadLetter) {
				c.cfg.Errors.Kafka()
			} else {
				c.cfg.Errors.Redis()
			}
			c.setNotReady(err.Error())
			logRetry(retries, err).Int64("first_offset", msgs[0].Offset).Msg("catalogue batch failed; retrying")
			if !bo.sleep(ctx) {
				return
			}
		}
		if err != nil {
			return // stopping: the batch is applied again by the partition's next owner
		}
		bo.reset()
		c.setNotReady("")
		last := msgs[len(msgs)-1].Offset
		if err := gen.CommitOffsets(map[string]map[int]int64{topic: {partition: last + 1}}); err != nil {
			log.Debug().Err(err).Msg("offset commit failed")
		}
	}
}

// applyCatalogue dead-letters a batch's invalid records (acknowledged
// before anything else moves), then applies the valid ones and the
// partition's progress in one script.
func (c *Consumer) applyCatalogue(ctx context.Context, partition int, msgs []kafka.Message) error {
	recs, bad := decodeCatalogue(msgs, c.cfg.Limits)
	if len(bad) > 0 {
		if err := c.deadLetter(ctx, bad); err != nil {
			return err
		}
	}
	changes, err := c.catalogue.Apply(ctx, partition, recs, msgs[len(msgs)-1].Offset+1, time.Now())
	if err != nil {
		return fmt.Errorf("apply catalogue records: %w", err)
	}
	c.metrics.observeCatalogue(len(recs), len(changes), bad)
	c.stats.observeDeadLetters(bad)
	return nil
}

// decodeCatalogue checks catalogue messages against the contract
// (docs/events.md, "Catalogue records"): a value is an item record whose
// item_id is the message key; no value is a tombstone of the item the key
// names.
func decodeCatalogue(msgs []kafka.Message, lim event.Limits) (recs []store.CatalogueRecord, bad []Rejected) {
	for _, m := range msgs {
		key := string(m.Key)
		if m.Value == nil {
			if err := event.ValidID(key, lim.MaxIDLen); err != nil {
				bad = append(bad, Rejected{Msg: m, Reason: event.ReasonOf(err),
					Err: fmt.Errorf("tombstone key %s: %w", event.Fingerprint(m.Key), err)})
				continue
			}
			recs = append(recs, store.CatalogueRecord{Offset: m.Offset, Item: key})
			continue
		}
		it, err := event.DecodeItem(m.Value, lim)
		if err != nil {
			bad = append(bad, Rejected{Msg: m, Reason: event.ReasonOf(err), Err: err})
			continue
		}
		if key != it.ID {
			bad = append(bad, Rejected{Msg: m, Reason: event.ReasonKeyMismatch,
				Err: fmt.Errorf("message key %s is not the item_id %q", event.Fingerprint(m.Key), it.ID)})
			continue
		}
		recs = append(recs, store.CatalogueRecord{Offset: m.Offset, Item: it.ID, Record: &it})
	}
	return recs, bad
}
