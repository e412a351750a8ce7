package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkReadRows measures a re-score's read of its rows (Lists.ReadRows,
// 200 rows a call as the re-scorer reads them): every bought row of the
// Dunnhumby sample's state, read by its index and read whole. The state is
// written first, outside the timing. Run:
//
//	make up && set -a && . .run/env && set +a
//	go test ./store -run '^$' -bench ReadRows -benchtime 3x
func BenchmarkReadRows(b *testing.B) {
	addr := os.Getenv("ALSOBOUGHT_REDIS_ADDRS")
	if addr == "" {
		b.Skip("needs ALSOBOUGHT_REDIS_ADDRS (make up)")
	}
	const support = 2
	batches, _ := dunnhumbyBatches(b, 2000)
	for _, indexed := range []bool{true, false} {
		name := map[bool]string{true: "by_index", false: "whole"}[indexed]
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			rowIndexes := int64(0)
			if indexed {
				rowIndexes = support
			}
			st, items := dunnhumbyState(b, addr, name, batches, support, rowIndexes)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for chunk := range slices.Chunk(items, 200) {
					if _, err := st.Lists.ReadRows(ctx, Bought, chunk, support); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/row")
			b.ReportMetric(float64(len(items)), "rows")
		})
	}
}

// dunnhumbyState writes batches (dunnhumbyBatches) under a fresh prefix,
// deleted when the benchmark ends, into a state recorded as serve keeps
// it (dunnhumbySettings) with row indexes complete from rowIndexes (0:
// none), and returns its store and the items of its bought rows and
// lists, sorted, each once.
func dunnhumbyState(b *testing.B, addr, name string, batches []benchBatch, support, rowIndexes int64) (*Store, []string) {
	ctx := context.Background()
	st, err := New(Config{Addrs: []string{addr}, Prefix: fmt.Sprintf("bench%d%s", time.Now().UnixNano()%1e6, name)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		deletePrefix(ctx, b, st)
		st.Close()
	})
	if err := st.Meta.EnsureWithRowIndexes(ctx, dunnhumbySettings(support), rowIndexes); err != nil {
		b.Fatal(err)
	}
	if (st.c.rowIndex.Load() != nil) != (rowIndexes > 0) {
		b.Fatalf("row indexes in use: %v, want %v", st.c.rowIndex.Load() != nil, rowIndexes > 0)
	}
	for _, bb := range batches {
		if err := st.Batches.Apply(ctx, bb.b, bb.customers, bb.last, bb.recorded); err != nil {
			b.Fatal(err)
		}
	}
	var items []string
	if err := st.Lists.Scan(ctx, Bought, func(page []string) error { items = append(items, page...); return nil }); err != nil {
		b.Fatal(err)
	}
	slices.Sort(items)
	return st, slices.Compact(items)
}
