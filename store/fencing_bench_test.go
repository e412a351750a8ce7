package store

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/delta"
	"github.com/alsobought/alsobought/internal/lab/dataset"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store/schema"
)

// Unfenced versions of the three hot-path scripts: the same writes without
// the per-key watermark checks and the progress guard. They exist only to measure what fencing
// costs; nothing in the product can select them.
var (
	unfencedOpsScript = redis.NewScript(`
local sum, order = {}, {}
local i = 5
while i <= #ARGV do
  local cnt = tonumber(ARGV[i + 1])
  i = i + 2
  for j = i, i + 2 * cnt - 2, 2 do
    local f = ARGV[j]
    if sum[f] == nil then order[#order + 1] = f; sum[f] = 0 end
    sum[f] = sum[f] + tonumber(ARGV[j + 1])
  end
  i = i + 2 * cnt
end
for _, f in ipairs(order) do
  if sum[f] ~= 0 and redis.call('HINCRBY', KEYS[1], f, sum[f]) == 0 then redis.call('HDEL', KEYS[1], f) end
end
return 1
`)
	unfencedSumsScript = redis.NewScript(hashFieldsLua + `
local out, names, set, del = {}, {}, {}, {}
local a = 3 * tonumber(ARGV[1]) + 3
local k = 2
while k <= #KEYS do
  a = a + 1 + 3 * tonumber(ARGV[a])
  local key, n = KEYS[k], tonumber(ARGV[a])
  if ARGV[a + 1] == '1' then k = k + 2 else k = k + 1 end
  local from, to = a + 2, a + 1 + 2 * n
  a = to + 1
  local nm, ns, nd = 0, 0, 0
  for i = from, to, 2 do nm = nm + 1; names[nm] = ARGV[i] end
  local got = readFields(key, names, nm)
  for j = 1, nm do
    local v = (tonumber(got[j]) or 0) + tonumber(ARGV[from + 2 * j - 1])
    if v == 0 then nd = nd + 1; del[nd] = names[j] else set[ns + 1] = names[j]; set[ns + 2] = v; ns = ns + 2 end
  end
  writeFields(key, set, ns, del, nd)
  out[#out + 1] = ` + strconv.Itoa(appliedListMoves) + `
end
return out
`)
	unfencedCustomerScript = redis.NewScript(hashFieldsLua + `
local a = 4
for k = 2, #KEYS do
  local n = tonumber(ARGV[a + 2])
  local from = a + 3
  a = from + 2 * n
  local set, del = {}, {}
  for i = from, a - 2, 2 do
    if ARGV[i + 1] == '' then del[#del + 1] = ARGV[i]
    else set[#set + 1] = ARGV[i]; set[#set + 1] = ARGV[i + 1] end
  end
  writeFields(KEYS[k], set, #set, del, #del)
end
return 1
`)
)

// benchBatch is one consumer batch, computed ahead so the benchmark times
// only the writes to Redis.
type benchBatch struct {
	b         *delta.Batch
	customers []CustomerUpdate
	last      int64
	recorded  int64 // the partition's progress before the batch
}

// dunnhumbyHistory is K_hist of dunnhumbyBatches.
const dunnhumbyHistory = 200

// dunnhumbySettings are the recorded settings of a state kept as serve
// keeps the Dunnhumby sample's: log histogram bins, K_hist of
// dunnhumbyBatches, the lists' min support.
func dunnhumbySettings(support int64) map[string]string {
	return map[string]string{schema.MetaMinSupport: fmt.Sprint(support), schema.MetaHistogramBins: string(scoring.LogBins),
		schema.MetaHistorySize: fmt.Sprint(dunnhumbyHistory), schema.MetaViewHistorySize: "1"}
}

// dunnhumbyBatches cuts the bundled Dunnhumby sample the way the consumer
// sees it: murmur2 over 4 partitions, batches of batchSize messages (2000
// when the consumer is behind, about 140 at 1,100 events/s), K_hist 200.
func dunnhumbyBatches(b *testing.B, batchSize int) ([]benchBatch, int) {
	evs, err := dataset.Load("../testdata/dunnhumby/transactions.csv.gz", dataset.Dunnhumby, event.DefaultLimits(time.Now()))
	if err != nil {
		b.Fatal(err)
	}
	const partitions, k = 4, dunnhumbyHistory
	ids := []int{0, 1, 2, 3}
	var bal kafka.Murmur2Balancer
	byPartition := make([][]event.Event, partitions)
	for _, e := range evs {
		p := bal.Balance(kafka.Message{Key: []byte(e.CustomerID)}, ids...)
		byPartition[p] = append(byPartition[p], e)
	}
	histories := map[string]*delta.History{}
	var out []benchBatch
	for p, pevs := range byPartition {
		for start := 0; start < len(pevs); start += batchSize {
			end := min(start+batchSize, len(pevs))
			bb := benchBatch{b: delta.NewBatch(p), last: int64(end - 1), recorded: int64(start - 1)}
			touched := map[string]*CustomerUpdate{}
			for i := start; i < end; i++ {
				e := pevs[i]
				h := histories[e.CustomerID]
				if h == nil {
					h = &delta.History{}
					histories[e.CustomerID] = h
				}
				bb.b.Purchase(h, &delta.History{}, e.ItemID, e.Time, int64(i), delta.Retention{Purchases: k, Views: 1})
				u := touched[e.CustomerID]
				if u == nil {
					u = &CustomerUpdate{ID: e.CustomerID}
					touched[e.CustomerID] = u
				}
				u.Offset = int64(i)
				u.Purchases = h.Clone()
			}
			for _, u := range touched {
				bb.customers = append(bb.customers, *u)
			}
			out = append(out, bb)
		}
	}
	return out, len(evs)
}

// BenchmarkFencing measures what the exactly-once fences cost on the write
// path: the Dunnhumby sample's batches applied to Redis with the fenced
// scripts and with unfenced ones (same writes, no watermark checks). Run:
//
//	make up && set -a && . .run/env && set +a
//	go test ./store -run '^$' -bench Fencing -benchtime 3x
func BenchmarkFencing(b *testing.B) {
	addr := os.Getenv("ALSOBOUGHT_REDIS_ADDRS")
	if addr == "" {
		b.Skip("needs ALSOBOUGHT_REDIS_ADDRS (make up)")
	}
	batches, events := dunnhumbyBatches(b, 2000)
	for _, fenced := range []bool{true, false} {
		name := map[bool]string{true: "fenced", false: "unfenced"}[fenced]
		b.Run(name, func(b *testing.B) {
			ops, sums, cust := applyOpsScript, applySumsScript, writeCustomersScript
			if !fenced {
				applyOpsScript, applySumsScript, writeCustomersScript = unfencedOpsScript, unfencedSumsScript, unfencedCustomerScript
			}
			defer func() { applyOpsScript, applySumsScript, writeCustomersScript = ops, sums, cust }()
			applyEach(b, addr, nil, 0, batches, events)
		})
	}
}

// BenchmarkApplyBatches measures the write path's cost in Redis: the
// Dunnhumby sample's batches applied with Batches.Apply to a state kept as
// serve keeps it (log histogram bins, row indexes, min support 2), in full
// batches, in batches of the size a paced run makes (140: 1,100 events/s
// over 4 partitions, half a second each), in batches of four times that,
// and in paced batches whose four partitions' batches are merged into one
// write (Batches.ApplyMany), as the consumer writes them. It reports
// Redis's own CPU and commands per event (INFO's used_cpu and
// total_commands_processed around the writes, so run it on a Redis nothing
// else uses) beside events/s. Run:
//
//	make up && set -a && . .run/env && set +a
//	go test ./store -run '^$' -bench ApplyBatches -benchtime 2x
func BenchmarkApplyBatches(b *testing.B) {
	addr := os.Getenv("ALSOBOUGHT_REDIS_ADDRS")
	if addr == "" {
		b.Skip("needs ALSOBOUGHT_REDIS_ADDRS (make up)")
	}
	const support = 2
	settings := dunnhumbySettings(support)
	for _, size := range []int{2000, 560, 140} {
		batches, events := dunnhumbyBatches(b, size)
		b.Run(fmt.Sprintf("batch%d", size), func(b *testing.B) {
			applyEach(b, addr, settings, support, batches, events)
		})
	}
	batches, events := dunnhumbyBatches(b, 140)
	b.Run("batch140_merged4", func(b *testing.B) {
		applyMerged(b, addr, settings, support, batches, events)
	})
}

// applyEach applies batches to a fresh prefix b.N times, with settings
// recorded first when not nil (row indexes from rowIndexSupport, 0: none),
// and reports events/s, Redis's CPU and its commands (those run inside
// scripts included) per event over the writes; each prefix is deleted
// outside the timing.
func applyEach(b *testing.B, addr string, settings map[string]string, rowIndexSupport int64, batches []benchBatch, events int) {
	writes := make([][]benchBatch, len(batches))
	for i := range batches {
		writes[i] = batches[i : i+1]
	}
	applyWrites(b, addr, settings, rowIndexSupport, writes, events)
}

// applyMerged is applyEach with the n-th batch of every partition merged
// into one write.
func applyMerged(b *testing.B, addr string, settings map[string]string, rowIndexSupport int64, batches []benchBatch, events int) {
	var writes [][]benchBatch
	nth := map[int]int{} // partition -> batches seen
	for _, bb := range batches {
		n := nth[bb.b.Partition]
		nth[bb.b.Partition]++
		if n == len(writes) {
			writes = append(writes, nil)
		}
		writes[n] = append(writes[n], bb)
	}
	applyWrites(b, addr, settings, rowIndexSupport, writes, events)
}

// applyWrites applies writes (each one or more partitions' batches) as
// applyEach describes.
func applyWrites(b *testing.B, addr string, settings map[string]string, rowIndexSupport int64, writes [][]benchBatch, events int) {
	ctx := context.Background()
	var took time.Duration
	var redisCPU, commands float64
	for i := range b.N {
		st, err := New(Config{Addrs: []string{addr}, Prefix: fmt.Sprintf("bench%d_%d", time.Now().UnixNano()%1e6, i)})
		if err != nil {
			b.Fatal(err)
		}
		if settings != nil {
			if err := st.Meta.EnsureWithRowIndexes(ctx, settings, rowIndexSupport); err != nil {
				b.Fatal(err)
			}
		}
		for _, sc := range []*redis.Script{applyOpsScript, applySumsScript, writeCustomersScript} {
			if err := sc.Load(ctx, st.c.rdb).Err(); err != nil {
				b.Fatal(err)
			}
		}
		cpu0, cmds0 := serverCPU(ctx, b, st), serverCommands(ctx, b, st)
		start := time.Now()
		for _, w := range writes {
			many := make([]BatchWrite, len(w))
			for j, bb := range w {
				many[j] = BatchWrite{Batch: bb.b, Customers: bb.customers, LastOffset: bb.last, Recorded: bb.recorded}
			}
			if err := st.Batches.ApplyMany(ctx, many); err != nil {
				b.Fatal(err)
			}
		}
		took += time.Since(start)
		redisCPU += serverCPU(ctx, b, st) - cpu0
		commands += serverCommands(ctx, b, st) - cmds0
		b.StopTimer()
		deletePrefix(ctx, b, st)
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(events*b.N)/took.Seconds(), "events/s")
	b.ReportMetric(redisCPU*1e6/float64(events*b.N), "redis-µs/event")
	b.ReportMetric(commands/float64(events*b.N), "cmds/event")
}

// serverCPU returns the Redis server's used_cpu_sys + used_cpu_user, seconds.
func serverCPU(ctx context.Context, b *testing.B, st *Store) float64 {
	return serverInfo(ctx, b, st, "cpu", "used_cpu_sys", "used_cpu_user")
}

// serverCommands returns the Redis server's total_commands_processed
// (commands run inside scripts count too).
func serverCommands(ctx context.Context, b *testing.B, st *Store) float64 {
	return serverInfo(ctx, b, st, "stats", "total_commands_processed")
}

// serverInfo returns the sum of the named fields of an INFO section.
func serverInfo(ctx context.Context, b *testing.B, st *Store, section string, names ...string) float64 {
	info, err := st.c.rdb.Info(ctx, section).Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	found := 0
	for line := range strings.Lines(info) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && slices.Contains(names, name) {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				b.Fatal(err)
			}
			sum += v
			found++
		}
	}
	if found != len(names) {
		b.Fatalf("INFO %s lacks some of %v", section, names)
	}
	return sum
}

func deletePrefix(ctx context.Context, b *testing.B, st *Store) {
	iter := st.c.rdb.Scan(ctx, 0, st.c.keys.All(), 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for start := 0; start < len(keys); start += 1000 {
		if err := st.c.rdb.Del(ctx, keys[start:min(start+1000, len(keys))]...).Err(); err != nil && !strings.Contains(err.Error(), "nil") {
			b.Fatal(err)
		}
	}
}
