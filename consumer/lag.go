package consumer

import (
	"context"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
)

// AppliedLag is the number of messages on the topic that the state in Redis
// has not applied yet, from the broker's end offsets and the progress kept
// with the data.
func AppliedLag(ctx context.Context, brokers []string, topic string, st StateStore) (int64, error) {
	ends, err := kafkaadmin.EndOffsets(ctx, brokers, topic)
	if err != nil {
		return 0, err
	}
	progress, err := st.Progress(ctx)
	if err != nil {
		return 0, err
	}
	var lag int64
	for p, end := range ends {
		applied, ok := progress[p]
		if !ok {
			applied = -1
		}
		if d := end - (applied + 1); d > 0 {
			lag += d
		}
	}
	return lag, nil
}
