package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/store"
)

// ReadTopic returns the messages of every partition of a topic, from the
// start to its end offset of now (a compacted topic may skip offsets).
func ReadTopic(t testing.TB, conn *kafkaconn.Conn, topic string) []kafka.Message {
	t.Helper()
	ends, err := kafkaadmin.EndOffsets(context.Background(), conn, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for part, end := range ends {
		// Close waits out the fetch in flight, up to MaxWait (10 s by
		// default): a short one keeps reading a small topic quick.
		r := conn.Reader(kafka.ReaderConfig{Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
		for off := int64(0); off < end; {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			m, err := r.ReadMessage(ctx)
			cancel()
			if err != nil {
				t.Fatalf("read %s/%d at offset %d: %v", topic, part, off, err)
			}
			out = append(out, m)
			off = m.Offset + 1
		}
		r.Close()
	}
	return out
}

// MarkDirty writes a purchase of each item by its own new customer, which
// marks the item dirty the way the consumer does.
func MarkDirty(t testing.TB, st *store.Store, offset int64, items ...string) {
	t.Helper()
	b := delta.NewBatch(0)
	for _, it := range items {
		var h delta.History
		b.Purchase(&h, &delta.History{}, it, time.UnixMilli(0), offset, delta.Retention{Purchases: 10, Views: 10})
	}
	if err := st.Batches.Apply(context.Background(), b, nil, offset, -1); err != nil {
		t.Fatal(err)
	}
}
