package store

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/alsobought/alsobought/scoring"
)

// BenchmarkWriteLists measures a re-score's write of its lists
// (Lists.Write, 200 lists a call as the re-scorer writes them): the bought
// list of every item of the Dunnhumby sample's state, computed as the
// re-scorer computes them, written again and again (each write replaces
// the list under the same revision, as a re-score of an unchanged row
// does). It reports Redis's own CPU (INFO's used_cpu around the writes,
// so run it on a Redis nothing else uses) and its commands per list,
// commands run inside scripts included. Run:
//
//	make up && set -a && . .run/env && set +a
//	go test ./store -run '^$' -bench WriteLists -benchtime 5x
func BenchmarkWriteLists(b *testing.B) {
	addr := os.Getenv("ALSOBOUGHT_REDIS_ADDRS")
	if addr == "" {
		b.Skip("needs ALSOBOUGHT_REDIS_ADDRS (make up)")
	}
	const support = 2
	ctx := context.Background()
	batches, _ := dunnhumbyBatches(b, 2000)
	st, items := dunnhumbyState(b, addr, "wl", batches, support, support)
	rules := scoring.ListRules{Size: 20, MinSupport: support}
	var chunks [][]List
	at := time.Now().UTC()
	for chunk := range slices.Chunk(items, 200) {
		rb, err := st.Lists.ReadRows(ctx, Bought, chunk, support)
		if err != nil {
			b.Fatal(err)
		}
		lists := make([]List, len(rb.Rows))
		for i, row := range rb.Rows {
			entries := scoring.RelatedList(scoring.Amazon2017Prior, row, rb.Globals, rules)
			watch := make([]string, len(entries))
			for j, e := range entries {
				watch[j] = e.Item
			}
			lists[i] = List{List: Bought, Item: row.Item, Method: scoring.Amazon2017Prior, ComputedAt: at,
				Revision: rb.Revisions[i], Items: entries, Watch: watch, Watched: rb.Watched[i]}
		}
		chunks = append(chunks, lists)
	}
	write := func() {
		for _, lists := range chunks {
			if _, err := st.Lists.Write(ctx, lists, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	write() // the first write names each list's fields in its row and records its holders
	for _, lists := range chunks {
		for i := range lists {
			lists[i].Watched = lists[i].Watch // as a re-score reads it back
		}
	}
	cpu0, cmds0 := serverCPU(ctx, b, st), serverCommands(ctx, b, st)
	b.ResetTimer()
	for range b.N {
		write()
	}
	b.StopTimer()
	n := float64(b.N * len(items))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/list")
	b.ReportMetric((serverCPU(ctx, b, st)-cpu0)*1e6/n, "redis-µs/list")
	b.ReportMetric((serverCommands(ctx, b, st)-cmds0)/n, "cmds/list")
	b.ReportMetric(float64(len(items)), "lists")
}
