package bench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
)

// HideReport is how long hiding an item takes to reach every list that
// holds it (docs/DESIGN.md §11): from the moment its record is published
// to the catalogue topic until no stored related or popularity list holds
// it, for the items the most lists hold, hidden one at a time on a caught
// up pipeline.
type HideReport struct {
	Hides     int    `json:"hides"`
	ListsMean Figure `json:"hide_lists_mean"` // lists holding each item before its hide
	ListsMax  int    `json:"hide_lists_max"`
	P50Ms     Figure `json:"hide_p50_ms"`
	P99Ms     Figure `json:"hide_p99_ms"`
	MaxMs     Figure `json:"hide_max_ms"`
}

// hidePoll is how often the hide phase reads the lists that held the item.
const hidePoll = 10 * time.Millisecond

// hideMostListed hides the n items the most lists hold, one at a time.
func (s *state) hideMostListed(ctx context.Context, n int) (HideReport, error) {
	snap, err := s.Store.State.Snapshot(ctx)
	if err != nil {
		return HideReport{}, err
	}
	keys := s.Store.Keys()
	holders := map[string][]string{} // item -> keys of the lists holding it
	for kind, lists := range snap.Lists {
		for x, l := range lists {
			for _, r := range l.Items {
				holders[r.Item] = append(holders[r.Item], keys.List(kind, x))
			}
		}
	}
	for kind, lists := range snap.Popular {
		for cat, l := range lists {
			for _, p := range l.Items {
				holders[p.Item] = append(holders[p.Item], keys.Popular(kind, cat))
			}
		}
	}
	items := make([]string, 0, len(holders))
	for it := range holders {
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := len(holders[items[i]]), len(holders[items[j]])
		return a > b || a == b && items[i] < items[j]
	})
	items = items[:min(n, len(items))]
	w := s.cfg.Kafka.Writer(s.CatalogueTopic)
	w.Balancer = &kafka.Murmur2Balancer{}
	w.RequiredAcks = kafka.RequireAll
	w.BatchTimeout = time.Millisecond
	defer w.Close()
	var took []float64
	rep := HideReport{Hides: len(items)}
	for _, it := range items {
		lists := holders[it]
		rep.ListsMean += Figure(len(lists)) / Figure(len(items))
		rep.ListsMax = max(rep.ListsMax, len(lists))
		start := time.Now()
		rec := event.Item{ID: it, Status: event.Hidden}
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(it), Value: event.EncodeItem(rec)}); err != nil {
			return rep, fmt.Errorf("publish the hide of %s: %w", it, err)
		}
		if err := s.waitGone(ctx, it, lists); err != nil {
			return rep, err
		}
		took = append(took, time.Since(start).Seconds()*1000)
		s.cfg.logf("hid %s, held by %d lists, in %.0f ms", it, len(lists), took[len(took)-1])
	}
	slices.Sort(took)
	if len(took) > 0 {
		rep.P50Ms, rep.P99Ms, rep.MaxMs = Figure(rank(took, 0.5)), Figure(rank(took, 0.99)), Figure(took[len(took)-1])
	}
	return rep, nil
}

// waitGone polls the lists until none holds the item.
func (s *state) waitGone(ctx context.Context, item string, lists []string) error {
	needle := []byte(`"item":"` + item + `"`)
	deadline := time.Now().Add(s.cfg.Timeout)
	rdb := s.Store.Client()
	for {
		pipe := rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(lists))
		for i, k := range lists {
			cmds[i] = pipe.Get(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return fmt.Errorf("read the lists holding %s: %w", item, err)
		}
		left := 0
		for _, c := range cmds {
			if raw, err := c.Bytes(); err == nil && bytes.Contains(raw, needle) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still in %d of %d lists after %s", item, left, len(lists), s.cfg.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(hidePoll):
		}
	}
}

// rank is the q-quantile of sorted values (nearest rank).
func rank(sorted []float64, q float64) float64 {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
