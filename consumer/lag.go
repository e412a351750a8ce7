package consumer

import (
	"context"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/lag"
)

// AppliedLag is the number of messages on the topic that the state in Redis
// has not applied yet, from the broker's offsets and the progress kept with
// the data, by the formula of the lag monitor (lag.AppliedLag): messages
// retention deleted are not waiting.
func AppliedLag(ctx context.Context, brokers []string, topic string, st StateStore) (int64, error) {
	client, done := kafkaadmin.NewClient(brokers)
	defer done()
	offsets, err := kafkaadmin.TopicOffsets(ctx, client, topic)
	if err != nil {
		return 0, err
	}
	progress, err := st.Progress(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for p, o := range offsets {
		applied, ok := progress[p]
		if !ok {
			applied = -1
		}
		total += lag.AppliedLag(o.End, o.First, applied)
	}
	return total, nil
}
