package lag_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/testenv"
)

// On the real broker: a sample counts the catalogue records not applied
// yet, per partition, from the topic's end offset and the progress the
// consumer stores.
func TestSampleCountsTheCatalogueRecordsWaiting(t *testing.T) {
	env := testenv.New(t, 1)
	ctx := context.Background()
	w := env.Kafka().Writer(env.CatalogueTopic)
	err := w.WriteMessages(ctx,
		kafka.Message{Key: []byte("i1"), Value: []byte(`{"item_id":"i1","status":"hidden"}`)},
		kafka.Message{Key: []byte("i2"), Value: []byte(`{"item_id":"i2","status":"hidden"}`)},
		kafka.Message{Key: []byte("i3"), Value: []byte(`{"item_id":"i3","status":"hidden"}`)})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := &lag.Sampler{Kafka: env.Kafka(), Topic: env.Topic, Group: env.Group, State: env.Store.Batches,
		Catalogue: env.CatalogueTopic, CatalogueState: env.Store.Catalogue}
	sample, err := s.Sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := sample.CatalogueLag[0]; got != 3 {
		t.Errorf("nothing applied: catalogue lag %d, want 3", got)
	}
	// The consumer applied the first two records (its progress: the next
	// offset to apply, 2).
	if _, err := env.Store.Catalogue.Apply(ctx, 0, nil, 2, time.Now()); err != nil {
		t.Fatal(err)
	}
	if sample, err = s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sample.CatalogueLag[0]; got != 1 {
		t.Errorf("two applied: catalogue lag %d, want 1", got)
	}
}
