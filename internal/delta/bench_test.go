package delta_test

import (
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/dataset"
	"github.com/alsobought/alsobought/internal/lab/synth"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// benchBatchSize is the consumer's default batch: the changes of this many
// events are computed together (consumer.applier.apply).
const benchBatchSize = 2000

// benchmarkBatch times what the consumer computes for one batch, between
// reading the customers from Redis and writing the changes: decode the
// stored histories of the batch's customers, turn each event into its
// counter changes (delta.Batch Count, Purchase, View), and encode the new
// histories. The histories are those left by every event before the batch,
// so their lengths (and evictions) are the stream's own.
func benchmarkBatch(b *testing.B, evs []event.Event, kHist, kView int) {
	for _, bins := range scoring.AllBins() {
		b.Run("bins="+string(bins), func(b *testing.B) { benchmarkBatchBins(b, evs, kHist, kView, bins) })
	}
}

func benchmarkBatchBins(b *testing.B, evs []event.Event, kHist, kView int, bins scoring.Bins) {
	if len(evs) <= benchBatchSize {
		b.Fatalf("need more than %d events, have %d", benchBatchSize, len(evs))
	}
	warm, batch := evs[:len(evs)-benchBatchSize], evs[len(evs)-benchBatchSize:]
	purchases, views := warmHistories(warm, kHist, kView)
	get := func(m map[string]*delta.History, c string) *delta.History {
		if m[c] == nil {
			m[c] = &delta.History{}
		}
		return m[c]
	}
	// What Redis holds for the batch's customers: the encoded histories.
	stored := map[string][2]string{}
	for _, e := range batch {
		stored[e.CustomerID] = [2]string{get(purchases, e.CustomerID).Encode(), get(views, e.CustomerID).Encode()}
	}
	// The bytes the entries' counts (schema 4) add to the stored histories.
	var withCounts, withoutCounts int
	for _, m := range []map[string]*delta.History{purchases, views} {
		for _, h := range m {
			withCounts += len(h.Encode())
			withoutCounts += len(schema.EncodeHistory(h.Items, h.Times, h.Seqs, nil))
		}
	}
	type state struct{ h, v delta.History }
	changes, scripts, statChanges, statOnly, writes, histWrites := 0, 0, 0, 0, 0, 0
	b.ReportAllocs()
	for b.Loop() {
		customers := make(map[string]*state, len(stored))
		for c, enc := range stored {
			h, err := delta.DecodeHistory(enc[0])
			if err != nil {
				b.Fatal(err)
			}
			v, err := delta.DecodeHistory(enc[1])
			if err != nil {
				b.Fatal(err)
			}
			customers[c] = &state{h: h, v: v}
		}
		bt := delta.NewBatch(0)
		bt.Bins = bins
		for i, e := range batch {
			off := int64(i)
			c := customers[e.CustomerID]
			bt.Count(e.Type == event.Purchase, e.ItemID, e.Category, e.Time, off)
			if e.Type == event.Purchase {
				bt.Purchase(&c.h, &c.v, e.ItemID, e.Time, off, delta.Retention{Purchases: kHist, Views: kView})
			} else {
				bt.View(&c.h, &c.v, e.ItemID, e.Time, off, delta.Retention{Purchases: kHist, Views: kView})
			}
		}
		for _, c := range customers {
			_, _ = c.h.Encode(), c.v.Encode()
		}
		changes = bt.Changes
		scripts, statChanges, statOnly, writes, histWrites = len(bt.Ops), 0, 0, 0, 0
		for _, ops := range bt.Ops {
			// The HINCRBYs the fence script runs: one per field whose
			// changes in the batch do not sum to zero.
			sums := map[string]int64{}
			for i, f := range ops.Fields {
				sums[f] += ops.Deltas[i]
			}
			for f, s := range sums {
				if s != 0 {
					writes++
					if _, ok, _ := schema.ParseHistField(f); ok {
						histWrites++
					}
				}
			}
			n := 0
			for _, f := range ops.Fields {
				if schema.IsRebuyField(f) {
					n++
				}
			}
			statChanges += n
			if n == len(ops.Fields) {
				statOnly++
			}
		}
	}
	// One applyOps script per key of the batch: scripts/event is what a
	// batch costs Redis, and the purchase statistics (docs/DESIGN.md
	// section 12) add statOnly scripts, for the rows only they change (a
	// repeat's item, when the batch changes nothing else there).
	b.ReportMetric(float64(changes)/benchBatchSize, "changes/event")
	b.ReportMetric(float64(withCounts-withoutCounts)/float64(max(withoutCounts, 1)), "count_bytes/history_byte")
	b.ReportMetric(float64(statChanges)/benchBatchSize, "stat_changes/event")
	b.ReportMetric(float64(writes)/benchBatchSize, "hincrby/event")
	b.ReportMetric(float64(histWrites)/benchBatchSize, "hist_hincrby/event")
	b.ReportMetric(float64(scripts)/benchBatchSize, "scripts/event")
	b.ReportMetric(float64(scripts-statOnly)/benchBatchSize, "scripts_without_stats/event")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchBatchSize, "ns/event")
}

// warmHistories returns every customer's purchase and view histories after
// evs, with K_hist and K_view.
func warmHistories(evs []event.Event, kHist, kView int) (purchases, views map[string]*delta.History) {
	purchases, views = map[string]*delta.History{}, map[string]*delta.History{}
	for _, e := range evs {
		m, k := views, kView
		if e.Type == event.Purchase {
			m, k = purchases, kHist
		}
		seq := delta.NextSeq(purchases[e.CustomerID], views[e.CustomerID])
		if m[e.CustomerID] == nil {
			m[e.CustomerID] = &delta.History{}
		}
		m[e.CustomerID].Touch(e.ItemID, e.Time.UnixMilli(), seq, k)
	}
	return purchases, views
}

// BenchmarkOpsSumsDunnhumby times summing a batch's changes per key
// (Ops.Sums, what the store sends each hash) for the last purchases of the
// bundled Dunnhumby sample: 200, the batch a partition takes at a paced
// rate, whose keys mostly hold a few changes each, and 2,000, a full
// batch, whose rows hold hundreds.
func BenchmarkOpsSumsDunnhumby(b *testing.B) {
	evs, err := dataset.Load("../../testdata/dunnhumby/transactions.csv.gz", dataset.Dunnhumby, event.DefaultLimits(time.Now()))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		size int
	}{{"paced", 200}, {"full", 2000}} {
		b.Run(bc.name, func(b *testing.B) {
			size := bc.size
			purchases, views := warmHistories(evs[:len(evs)-size], 200, 30)
			bt := delta.NewBatch(0)
			for i, e := range evs[len(evs)-size:] {
				h, v := purchases[e.CustomerID], views[e.CustomerID]
				if h == nil {
					h = &delta.History{}
				}
				if v == nil {
					v = &delta.History{}
				}
				bt.Purchase(h, v, e.ItemID, e.Time, int64(i), delta.Retention{Purchases: 200, Views: 30})
			}
			ops := make([]*delta.Ops, 0, len(bt.Ops))
			for _, o := range bt.Ops {
				ops = append(ops, o)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, o := range ops {
					o.Sums()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/event")
			b.ReportMetric(float64(len(ops))/float64(size), "keys/event")
		})
	}
}

// A synthetic stream of 200,000 events (95% views, Zipf items,
// heavy-tailed customers), K_hist 200, K_view 30: the last batch.
func BenchmarkBatchSynthetic(b *testing.B) {
	evs, err := synth.Generate(synth.Config{Events: 200_000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkBatch(b, evs, 200, 30)
}

// The bundled Dunnhumby sample (purchases only, long grocery baskets),
// K_hist 200: the last batch of the 75,000 purchases, where histories
// are longest.
func BenchmarkBatchDunnhumby(b *testing.B) {
	evs, err := dataset.Load("../../testdata/dunnhumby/transactions.csv.gz", dataset.Dunnhumby, event.DefaultLimits(time.Now()))
	if err != nil {
		b.Fatal(err)
	}
	benchmarkBatch(b, evs, 200, 30)
}
