package testenv

import (
	"context"

	"github.com/alsobought/alsobought/internal/kafkaadmin"
	"github.com/alsobought/alsobought/internal/kafkaconn"
	"github.com/alsobought/alsobought/internal/lag"
)

// Progress reads the applied offset of every partition (store.Batches).
type Progress interface {
	Progress(ctx context.Context) (map[int]int64, error)
}

// AppliedLag is the number of messages of topic the state has not applied
// yet, by the lag monitor's formula (lag.AppliedLag: messages retention
// deleted are not waiting). Tests wait on it to see progress.
func AppliedLag(ctx context.Context, conn *kafkaconn.Conn, topic string, st Progress) (int64, error) {
	client, done := conn.Client(topic)
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
