package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/store/schema"
)

// The Lua scripts, and the typed errors their refusals become. A script
// refuses with an error reply whose first word is a code (the Redis
// convention, as in "MOVED" or "NOSCRIPT"), followed by a space and
// details (Redis 7 prefixes "ERR " to a reply of one word, so there is
// always a detail); batchError maps the code to a typed error, so no caller
// matches prose.

// Refusal codes of the scripts (docs/guarantees.md names them).
const (
	codeProgressLost = "PROGRESSLOST" // detail: the stored progress
	codeBatchLost    = "BATCHLOST"    // detail: the in-flight marker found
)

// ErrProgressLost is what every *ProgressLostError is (errors.Is).
var ErrProgressLost = errors.New("redis holds an older progress than recorded: it lost acknowledged writes")

// ErrBatchLost means Redis lost writes of the batch being applied after it
// acknowledged them (it restarted or failed over between two steps). Apply
// the batch again, from reading its customers on.
var ErrBatchLost = errors.New("redis lost acknowledged writes of this batch (restart or failover): apply it again")

// ProgressLostError says that the progress stored for a partition is behind
// the progress its consumer recorded and saw acknowledged: Redis lost a
// suffix of its writes (a crash with AOF everysec, a failover to a replica
// that lagged). Nothing of the batch that met it was written on top of the
// gap; the partition must be read again from Stored + 1.
type ProgressLostError struct {
	Partition        int
	Stored, Recorded int64
}

func (e *ProgressLostError) Error() string {
	return fmt.Sprintf("partition %d: redis holds progress %d, behind the %d recorded before: it lost acknowledged writes",
		e.Partition, e.Stored, e.Recorded)
}

// Unwrap makes errors.Is(err, ErrProgressLost) hold.
func (e *ProgressLostError) Unwrap() error { return ErrProgressLost }

// errorCode returns the code of a Redis error reply (its first word), ""
// for other errors.
func errorCode(err error) (code, detail string) {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return "", ""
	}
	code, detail, _ = strings.Cut(rerr.Error(), " ")
	return code, detail
}

func isNoScript(err error) bool {
	code, _ := errorCode(err)
	return code == "NOSCRIPT"
}

// batchError turns a batch script's refusal into a *ProgressLostError or
// ErrBatchLost, and passes other errors through.
func batchError(err error, partition int, recorded int64) error {
	switch code, detail := errorCode(err); code {
	case codeProgressLost:
		stored, perr := strconv.ParseInt(detail, 10, 64)
		if perr != nil {
			return fmt.Errorf("partition %d: %s refusal with stored progress %q: %w", partition, code, detail, err)
		}
		return &ProgressLostError{Partition: partition, Stored: stored, Recorded: recorded}
	case codeBatchLost:
		return fmt.Errorf("partition %d: %w", partition, ErrBatchLost)
	}
	return err
}

// keepMarkTime is clearDirtyScript's ARGV[1] when members marked again
// keep their mark time.
const keepMarkTime = "-"

// Guard conditions of batchGuard (ARGV[2]).
const (
	guardNone     = "-"
	guardProgress = "p:" // + the progress the batch was computed on
	guardMarker   = "m:" // + the marker the previous step wrote
)

// batchGuard starts every script a batch writes with; see Batches.Apply
// for why. KEYS[2] is the guard hash, ARGV[1] the
// partition's field in it, ARGV[2] the condition:
//
//   - "p:<offset>": the partition's stored progress (KEYS[2] is the progress
//     hash) must not be below offset, the progress the batch was computed
//     on; else the script refuses with PROGRESSLOST <stored>.
//   - "m:<marker>": the partition's in-flight marker (KEYS[2] is the
//     in-flight hash) must equal marker, which the batch's previous step
//     wrote last; else it refuses with BATCHLOST <marker found>.
//   - "-": no condition.
//
// Under a progress condition it leaves the stored progress in floor (-1
// otherwise): applyOps's watermark of a hash that has none for the
// partition (see there).
var batchGuard = guardOn("KEYS[2]")

// guardOn is batchGuard with its guard hash at key (a Lua expression).
func guardOn(key string) string {
	return guardLua + `
local floor, refused = guardCheck(` + key + `, ARGV[1], ARGV[2])
if refused then return redis.error_reply(refused) end
`
}

// guardLua defines guardCheck(key, field, want): batchGuard's check of
// the condition want on the field of the guard hash key. It returns the
// floor, or nil and the refusal (the script returns it as an error
// reply). guardVerdict(got, want) is its rule on the field's value got
// (false: absent): applySumsScript reads the fields of every partition of
// a write that merges several (Batches.ApplyMany) with one HMGET, and
// judges each.
const guardLua = `
local function guardVerdict(got, want)
  if string.sub(want, 1, 2) == '` + guardProgress + `' then
    local stored = tonumber(got or '-1')
    if stored < tonumber(string.sub(want, 3)) then return nil, '` + codeProgressLost + ` ' .. stored end
    return stored
  elseif got ~= string.sub(want, 3) then
    return nil, '` + codeBatchLost + ` ' .. (got or 'none')
  end
  return -1
end
local function guardCheck(key, field, want)
  if want == '` + guardNone + `' then return -1 end
  return guardVerdict(redis.call('HGET', key, field), want)
end
`

// markStepScript records that a step of a batch was written: it is the last
// command of the step's pipeline, so if it survives in Redis, so did the
// step. KEYS[1]: the in-flight hash, KEYS[2] and ARGV[1..2]: batchGuard,
// ARGV[3]: the marker.
var markStepScript = redis.NewScript(batchGuard + `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`)

// finishBatchScript records a batch's progress: it raises the partition's
// progress to ARGV[3] and clears the in-flight marker; it also raises the
// partition's newest applied event time to ARGV[5] (unix ms, 0: none) and
// clears its idle mark, in the clock hash. KEYS[1]: the progress hash,
// KEYS[2] and ARGV[1..2]: batchGuard, KEYS[3]: the in-flight hash,
// KEYS[4]: the clock hash, ARGV[4]: the partition's event time field,
// ARGV[6]: its idle field. Returns the stored progress.
var finishBatchScript = redis.NewScript(batchGuard + `
redis.call('HDEL', KEYS[3], ARGV[1])
local t = tonumber(ARGV[5])
if t > tonumber(redis.call('HGET', KEYS[4], ARGV[4]) or '0') then redis.call('HSET', KEYS[4], ARGV[4], ARGV[5]) end
redis.call('HDEL', KEYS[4], ARGV[6])
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local v = tonumber(ARGV[3])
if v > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]); return v end
return cur
`)

// finishSweepScript records that a partition's sweep is applied: it
// clears the in-flight marker and the plan, and raises the partition's
// sweep sequence to ARGV[4] and the watermark to ARGV[6].
// KEYS[1]: the clock hash, KEYS[2] and ARGV[1..2]: batchGuard, KEYS[3]:
// the in-flight hash; ARGV[3]: the sweep field, ARGV[5]: the plan field,
// ARGV[7]: the watermark field.
var finishSweepScript = redis.NewScript(batchGuard + `
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[5])
if tonumber(ARGV[4]) > tonumber(redis.call('HGET', KEYS[1], ARGV[3]) or '0') then redis.call('HSET', KEYS[1], ARGV[3], ARGV[4]) end
if tonumber(ARGV[6]) > tonumber(redis.call('HGET', KEYS[1], ARGV[7]) or '0') then redis.call('HSET', KEYS[1], ARGV[7], ARGV[6]) end
return 1
`)

// applyOpsScript applies fenced counter changes to one hash, group by
// group. A batch writes its changes with applySumsScript, and this script
// only for the hashes whose fence cuts the batch's groups.
//
// KEYS[1]: the hash. KEYS[2], ARGV[1], ARGV[2]: see batchGuard. KEYS[3],
// for a row: its index (rowIndexOn). ARGV[3]: the watermark field of the
// partition ("#p"). ARGV[4]: the lists' min support, as applySumsScript's.
// ARGV[5]: "1" when the row counts its indexed co-counts (countIndexed).
// ARGV[6..]: groups of (offset, count, field1, delta1, ..., fieldN, deltaN)
// in ascending offset order. A group is applied only when its offset is
// above the stored watermark, so a replay of any range of offsets, cut into
// batches in any way, a retried pipeline, or a zombie writer that races the
// partition's new owner, applies each event's changes exactly once. The
// changes of the admitted groups are summed per field first, so a field
// touched by many events of a batch is written once. Fields that fall to
// zero are deleted so the hash holds only live counters.
//
// A hash without a watermark for the partition counts as fenced at the
// partition's stored progress when the guard read it (single Redis and
// Sentinel; in a cluster the guard cannot read it and the floor is -1):
// every group at or below the progress was applied by the batch that
// raised it, so a hash that lacks the watermark was deleted since (an
// item forgotten by the re-scorer, Lists.Forget; a popularity bucket of a
// day that left the window) and must not take those groups again from a
// zombie's late batch.
// Returns the number of groups applied.
var applyOpsScript = redis.NewScript(batchGuard + rowIndexOn("ARGV[4]") + hashFieldsLua + `
-- The progress floor is the fence of events only: a sweep's fence (#sp)
-- counts sweeps, and a hash without it has had none.
if not string.match(ARGV[3], '^#%d+$') then floor = -1 end
local stored = redis.call('HGET', KEYS[1], ARGV[3])
local wm = tonumber(stored or floor)
local index = KEYS[3]
local counted = ARGV[5] == '1'
local nn, ng, nc = 0, 0, 0
local top = wm
local applied = 0
local sum, order = {}, {}
local i = 6
local n = #ARGV
while i <= n do
  local off = tonumber(ARGV[i])
  local cnt = tonumber(ARGV[i + 1])
  i = i + 2
  if off > wm then
    for j = i, i + 2 * cnt - 2, 2 do
      local f = ARGV[j]
      local s = sum[f]
      if s == nil then order[#order + 1] = f; s = 0 end
      sum[f] = s + tonumber(ARGV[j + 1])
    end
    if off > top then top = off end
    applied = applied + 1
  end
  i = i + 2 * cnt
end
local nf = #order
if counted then order[nf + 1] = '` + schema.FieldIndexedCoCounts + `' end
local got = readFields(KEYS[1], order, #order)
local set, del, ns, nd = {}, {}, 0, 0
for j = 1, nf do
  local f = order[j]
  local d = sum[f]
  if d ~= 0 then
    local v = (tonumber(got[j]) or 0) + d
    if v == 0 then nd = nd + 1; del[nd] = f else set[ns + 1] = f; set[ns + 2] = v; ns = ns + 2 end
    if index and (v == 0 or v == d or (v >= atLeast and v - d < atLeast)) then
      nn, ng, nc = indexChange(f, v, d, nn, ng, nc)
    end
  end
end
if top > wm then
  set[ns + 1] = ARGV[3]; set[ns + 2] = top; ns = ns + 2
  if index and not stored then nn = nn + 1; named[nn] = ARGV[3] end
end
if index then ns, nd = countIndexed(counted, got[nf + 1], writeIndex(index, nn, ng, nc), set, ns, del, nd) end
writeFields(KEYS[1], set, ns, del, nd)
return applied
`)

// applySumsScript applies a batch's counter changes to hashes as their
// sums per field (delta.Ops.Sums), where a hash's fence admits every group
// of the batch: the common case, in which summing per field is what
// applyOpsScript would do anyway, without sending and reading each group.
// A single Redis (or Sentinel's master) takes many hashes per call, so a
// hash of a paced batch costs no script call and no guard read of its own
// (about 3 µs of Redis per hash and batch, a tenth of a Dunnhumby event's
// Redis time at a paced rate); a cluster sends one hash per call, their
// slots differ (writeFenced). A write that merges the batches of several
// partitions (Batches.ApplyMany) sends a hash once with the sums of all of
// them: a paced batch's rows change a few fields each, and a row costs
// its read and its write whatever it holds. Each partition keeps its own
// guard condition and its own fence in the hash.
//
// KEYS[1]: the guard hash; KEYS[2..]: the hashes, a row followed by its
// index (rowIndexOn). ARGV[1]: the number P of partitions; ARGV[2]: the
// lists' min support (0: no check); ARGV[3..3P+2]: for each partition its
// field in the guard hash and its condition (batchGuard's ARGV[1] and
// ARGV[2]), and its fence field (applyOpsScript's ARGV[3]). Then for each
// hash in KEYS order: the number of partitions whose changes it takes,
// and for each of them its place in ARGV (1..P) and the offsets of its
// first and last group for the hash; the number of sums, "1" when the
// next key is the hash's index, "2" when it is and the row counts its
// indexed co-counts (countIndexed), else "0", and the pairs of (field,
// sum), the sums not zero. Returns each hash's reply, in hash order:
//
// When every partition's watermark is at or above its last offset, every
// group was applied before: nothing is written (0). When each is below
// its first, the sums are added, fields that fall to zero deleted, and
// each watermark raised to its last offset: the reply is
// appliedListMoves, or, for a row whose list cannot move by them,
// appliedListSame (below). Otherwise a replay cut a batch differently
// from the write that raised a watermark (or applied one partition's
// batch and not another's), and only some groups may be applied: nothing
// is written and the reply is cutByFence, and the write applies this
// hash's groups with applyOpsScript instead, partition by partition
// (writeFenced).
//
// A row's list reads its histogram bins (h|), M_X (t|) and its candidates
// at or above the min support (docs/DESIGN.md §4, "What marks a list"):
// sums that change none of them, only co-counts that stay below the
// support before and after and the item's own purchase statistics (p|,
// g|), leave the list as it is but for the drift of T and the candidates'
// B that every list has, and the reply says so. So do sums that change
// only the histogram or M_X of a row that counts its indexed co-counts
// and had and has none: no candidate reaches the support, and its list is
// empty before and after.
var applySumsScript = redis.NewScript(guardLua + rowIndexOn("ARGV[2]") + hashFieldsLua + `
local np = tonumber(ARGV[1])
local fences, floors = {}, {}
local guarded, at = {}, {}
for i = 1, np do
  local b = 3 * i
  fences[i], floors[i] = ARGV[b + 2], -1
  if ARGV[b + 1] ~= '` + guardNone + `' then guarded[#guarded + 1] = ARGV[b]; at[#guarded] = i end
end
if #guarded > 0 then
  local got = redis.call('HMGET', KEYS[1], unpack(guarded))
  for j, i in ipairs(at) do
    local floor, refused = guardVerdict(got[j], ARGV[3 * i + 1])
    if refused then return redis.error_reply(refused) end
    -- The progress floor is the fence of events only (applyOpsScript).
    if string.match(fences[i], '^#%d+$') then floors[i] = floor end
  end
end
local support = tonumber(ARGV[2])
local out = {}
local names, set, del = {}, {}, {}
local a = 3 * np + 3
local k = 2
while k <= #KEYS do
  local key, index = KEYS[k], nil
  local ns = tonumber(ARGV[a])
  local segs = a + 1
  a = segs + 3 * ns
  local n = tonumber(ARGV[a])
  local counted = ARGV[a + 1] == '2'
  if ARGV[a + 1] ~= '0' then index = KEYS[k + 1]; k = k + 2 else k = k + 1 end
  local from, to = a + 2, a + 1 + 2 * n
  a = to + 1
  for s = 1, ns do names[s] = fences[tonumber(ARGV[segs + 3 * s - 3])] end
  local nm = ns
  for i = from, to, 2 do nm = nm + 1; names[nm] = ARGV[i] end
  if counted then nm = nm + 1; names[nm] = '` + schema.FieldIndexedCoCounts + `' end
  local got = readFields(key, names, nm)
  local old, new = 0, 0
  for s = 1, ns do
    local wm = tonumber(got[s] or floors[tonumber(ARGV[segs + 3 * s - 3])])
    if tonumber(ARGV[segs + 3 * s - 1]) <= wm then old = old + 1
    elseif tonumber(ARGV[segs + 3 * s - 2]) > wm then new = new + 1 end
  end
  if old == ns then
    out[#out + 1] = 0
  elseif new < ns then
    out[#out + 1] = ` + strconv.Itoa(cutByFence) + `
  else
    local moves = support <= 0
    local nn, ng, nc, nw, nd = 0, 0, 0, 0, 0
    local j = ns
    for i = from, to, 2 do
      j = j + 1
      local f = ARGV[i]
      local d = tonumber(ARGV[i + 1])
      local v = (tonumber(got[j]) or 0) + d
      if v == 0 then nd = nd + 1; del[nd] = f else set[nw + 1] = f; set[nw + 2] = v; nw = nw + 2 end
      if index and (v == 0 or v == d or (v >= atLeast and v - d < atLeast)) then
        nn, ng, nc = indexChange(f, v, d, nn, ng, nc)
      end
      if not moves then
        local bar = string.find(f, '|', 1, true)
        if bar then
          local c = string.sub(f, 1, bar)
          moves = c == '` + schema.HistFieldPrefix + `' or c == '` + schema.FieldViewedTotal + `'
        else
          moves = v >= support or v - d >= support
        end
      end
    end
    for s = 1, ns do
      set[nw + 1] = names[s]; set[nw + 2] = ARGV[segs + 3 * s - 1]; nw = nw + 2
      if not got[s] and index then nn = nn + 1; named[nn] = names[s] end
    end
    if index then
      -- A row that had and has no candidate at the support keeps its
      -- empty list whatever its histogram and M_X do.
      local none
      nw, nd, none = countIndexed(counted, got[nm], writeIndex(index, nn, ng, nc), set, nw, del, nd)
      if none then moves = false end
    end
    writeFields(key, set, nw, del, nd)
    out[#out + 1] = moves and ` + strconv.Itoa(appliedListMoves) + ` or ` + strconv.Itoa(appliedListSame) + `
  end
end
return out
`)

// rowIndexOn keeps a row's index (schema.Keys.RowIndex) beside the
// row's writes, in the same script call. indexChange notes in named,
// conamed (co-counts) and gone (their first nn, nc and ng entries: the
// tables are reused from row to row, not made per row) what a counter's
// change means for the index: a
// statistic ("|" fields: M_X and the purchase statistics) enters it when
// it is created (its value equals the change), a co-count when it reaches
// the support (atLeast: the min support, the Lua expression support, at
// least 1), and a co-count leaves it when it falls to zero. Histogram bins
// are never named: they empty and fill all the time, and the reader names
// the few a row can have itself (rowIndexing). A co-count that falls below the
// support stays; the reader skips it by its value. The scripts call
// indexChange only when a test by numbers alone says the change may
// enter or leave the index: most changes (a count that moves and stays
// on one side of the support) do not, and skip its string search. The
// index costs Redis time per event all the same (docs/BENCHMARKS.md,
// "Fifth pass"). writeIndex writes what was noted with a command each (in
// chunks that Lua's unpack takes), the co-counts apart from the rest, and
// returns how many more co-counts the index names than before (fewer:
// negative), from the replies of HSET and HDEL: a co-count that comes
// back to the support may be named already. countIndexed keeps that
// number in the row (schema.FieldIndexedCoCounts).
func rowIndexOn(support string) string {
	return `
local atLeast = math.max(1, tonumber(` + support + `))
local named, gone, conamed = {}, {}, {}
local function indexChange(f, v, d, nn, ng, nc)
  if string.find(f, '|', 1, true) then
    if v == d and string.sub(f, 1, 2) ~= '` + schema.HistFieldPrefix + `' then nn = nn + 1; named[nn] = f end
  elseif v == 0 then ng = ng + 1; gone[ng] = f
  elseif v >= atLeast and v - d < atLeast then nc = nc + 1; conamed[nc] = f end
  return nn, ng, nc
end
local function nameAll(index, names, n)
  local created = 0
  for i = 1, n, 1000 do
    local args = {}
    for j = i, math.min(i + 999, n) do args[#args + 1] = names[j]; args[#args + 1] = '' end
    created = created + redis.call('HSET', index, unpack(args))
  end
  return created
end
local function writeIndex(index, nn, ng, nc)
  nameAll(index, named, nn)
  local more = nameAll(index, conamed, nc)
  for i = 1, ng, 1000 do
    more = more - redis.call('HDEL', index, unpack(gone, i, math.min(i + 999, ng)))
  end
  return more
end
-- countIndexed keeps a row's count of indexed co-counts (counted: the
-- state's rows keep it): had, its value read with the row's fields (false
-- when absent), more what writeIndex returned. It adds the count's write
-- to set or del and returns their new lengths and whether the row had and
-- has none.
local function countIndexed(counted, had, more, set, ns, del, nd)
  if not counted then return ns, nd, false end
  had = tonumber(had) or 0
  local has = had + more
  if has > 0 and has ~= had then set[ns + 1] = '` + schema.FieldIndexedCoCounts + `'; set[ns + 2] = has; ns = ns + 2
  elseif has <= 0 and had > 0 then nd = nd + 1; del[nd] = '` + schema.FieldIndexedCoCounts + `' end
  return ns, nd, had == 0 and has == 0
end
`
}

// hashFieldsLua reads and writes many fields of a hash with one command
// each, in chunks that Lua's unpack takes, instead of one HINCRBY per
// field: the write scripts read a hash's fields (HMGET), add their
// changes in Lua and write the results back (HSET, and HDEL for the
// fields that fall to zero). A Redis command called from Lua costs a
// few microseconds of conversions beside its own work, and a Dunnhumby
// event changes about a hundred fields (docs/BENCHMARKS.md, "Seventh
// pass"). readFields returns the values of names[1..n], false where a
// field is absent; writeFields sets set[1..ns] (field, value pairs) and
// deletes del[1..nd]; callChunks calls cmd on key (with the options o1
// and o2 where given) with args[1..n], in as few calls as unpack allows,
// each chunk an even number of arguments so that pairs stay whole.
const hashFieldsLua = `
local function readFields(key, names, n)
  if n == 0 then return {} end
  if n <= 4000 then return redis.call('HMGET', key, unpack(names, 1, n)) end
  local got = {}
  for i = 1, n, 4000 do
    local part = redis.call('HMGET', key, unpack(names, i, math.min(i + 3999, n)))
    for j = 1, #part do got[i + j - 1] = part[j] end
  end
  return got
end
local function callChunks(cmd, key, args, n, o1, o2)
  for i = 1, n, 4000 do
    local j = math.min(i + 3999, n)
    if o2 then redis.call(cmd, key, o1, o2, unpack(args, i, j))
    elseif o1 then redis.call(cmd, key, o1, unpack(args, i, j))
    else redis.call(cmd, key, unpack(args, i, j)) end
  end
end
local function writeFields(key, set, ns, del, nd)
  callChunks('HSET', key, set, ns)
  callChunks('HDEL', key, del, nd)
end
`

// applySumsScript's replies besides 0 (applied before): a hash whose
// watermark falls inside the batch's offsets (cutByFence), and a hash
// whose sums were applied, which may move its list (appliedListMoves) or
// cannot (appliedListSame).
const (
	cutByFence       = -1
	appliedListMoves = 1
	appliedListSame  = 2
)

// writeCustomersScript replaces customers' states, each only when the
// writer's fence for its partition is newer than the stored one, so a
// late write from a zombie consumer cannot overwrite newer state. A single
// Redis (or Sentinel's master) takes a batch's customers in a few calls,
// a cluster one per call (their slots differ), as applySumsScript's
// hashes; a customer costs a read of its fence and one HSET of the fence
// and its fields, not a command per field. The read also asks the fields
// the write empties, and an HDEL goes only for those the hash holds (a
// shopper who never viewed anything has no views to delete at each
// purchase). Only a write that empties every field sets a time to live
// (the tombstone), so a hash that already held one of the fields the
// write sets has no time to live to remove: PERSIST goes only when HSET
// created all of them (a new customer, or a tombstone's return). On the
// Dunnhumby sample's paced events the two were a command per customer
// write each.
//
// KEYS[1]: the guard hash (batchGuard on KEYS[1]; a cluster's customer
// is its own guard key, with no condition); KEYS[2..]: the customer
// hashes. ARGV[1], ARGV[2]: see batchGuard. ARGV[3]: the fence field (an
// event watermark or a sweep fence). Then for each customer in KEYS
// order: the writer's value of the fence (the offset of the customer's
// last event in the batch, or the sweep's sequence), a time to live in ms
// when the state is emptied (the customer is deleted and the hash stays
// as a tombstone of its fences) or 0 to keep it, the number n of fields,
// and n pairs of (field, value); an empty value deletes the field.
// Returns the number of customers written.
var writeCustomersScript = redis.NewScript(guardOn("KEYS[1]") + `
local a = 4
local written = 0
for k = 2, #KEYS do
  local key = KEYS[k]
  local fence, ttl, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local from = a + 3
  a = from + 2 * n
  local ask = {ARGV[3]}
  for i = from, a - 2, 2 do
    if ARGV[i + 1] == '' then ask[#ask + 1] = ARGV[i] end
  end
  local got = redis.call('HMGET', key, unpack(ask))
  if tonumber(fence) > tonumber(got[1] or '-1') then
    local set, del = {ARGV[3], fence}, {}
    for j = 2, #ask do
      if got[j] then del[#del + 1] = ask[j] end
    end
    for i = from, a - 2, 2 do
      if ARGV[i + 1] ~= '' then set[#set + 1] = ARGV[i]; set[#set + 1] = ARGV[i + 1] end
    end
    local created = redis.call('HSET', key, unpack(set))
    if #del > 0 then redis.call('HDEL', key, unpack(del)) end
    if ttl ~= '0' then redis.call('PEXPIRE', key, ttl)
    elseif created == #set / 2 - (got[1] and 1 or 0) then redis.call('PERSIST', key) end
    written = written + 1
  end
end
return written
`)

// advanceScript raises a hash field to ARGV[2] if it is lower (or absent).
// KEYS[1]: the hash, ARGV[1]: the field. Returns the stored value.
var advanceScript = redis.NewScript(`
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local v = tonumber(ARGV[2])
if v > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); return v end
return cur
`)

// The dirty-set scripts take the shards of the set (schema.Shards) in
// groups of keys: a single Redis (or Sentinel's master) takes many shards
// per call (shardScripts bounds a call's arguments), a cluster one shard
// per call (their slots differ). Each shard costs a few commands whatever its number of
// members (the members of a shard go in one command each), not a few per
// member: a paced Dunnhumby batch marks, claims and clears a handful of
// lists in most of the 32 shards (docs/BENCHMARKS.md, "Eighth pass").

// markDirtyScript marks items dirty: it adds one to each item's mark
// version and adds the item to the dirty set with the time of its first
// mark (kept while the item stays dirty, so the oldest entry tells how long
// a change has waited). A shard's versions are read with one HMGET and
// written with one HSET, not a HINCRBY each; they stay the integers an
// older alsobought's HINCRBY takes.
// KEYS: pairs of (dirty set, mark versions) of each shard; ARGV[1]: now
// (unix ms); then for each pair: the number n of its items and the n
// items. Returns the number of items marked.
var markDirtyScript = redis.NewScript(hashFieldsLua + `
local a = 2
local marked = 0
for k = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a])
  local items = {}
  for i = 1, n do items[i] = ARGV[a + i] end
  a = a + n + 1
  local old = readFields(KEYS[k + 1], items, n)
  local scored, versions = {}, {}
  for i = 1, n do
    scored[2 * i - 1] = ARGV[1]; scored[2 * i] = items[i]
    versions[2 * i - 1] = items[i]; versions[2 * i] = (tonumber(old[i]) or 0) + 1
  end
  callChunks('HSET', KEYS[k + 1], versions, 2 * n)
  callChunks('ZADD', KEYS[k], scored, 2 * n, 'NX')
  marked = marked + n
end
return marked
`)

// claimDirtyScript claims dirty items first marked at or before ARGV[1]
// (unix ms), oldest first, skipping items another owner holds an
// unexpired claim on, so that several re-scorers share the work without
// two re-scoring one item at a time. A claim lasts ARGV[3] ms from the
// server's clock (TIME: the instances' clocks may differ); a re-scorer
// that dies leaves its items to whoever claims them after that.
// KEYS: triples of (dirty set, mark versions, claims) of each shard;
// ARGV[2]: the owner; then for each triple: how many items to claim in
// that shard. Returns triples (member, first mark ms, version).
var claimDirtyScript = redis.NewScript(hashFieldsLua + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = ARGV[2] .. '|'
local claim = mine .. tostring(now + tonumber(ARGV[3]))
local out = {}
local a = 4
for k = 1, #KEYS, 3 do
  local want = tonumber(ARGV[a])
  a = a + 1
  local offset = 0
  for round = 1, 8 do
    local zs = redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', offset, 2 * want)
    if #zs == 0 then break end
    local members = {}
    for i = 1, #zs, 2 do members[#members + 1] = zs[i] end
    local claims = readFields(KEYS[k + 2], members, #members)
    local taken, set = {}, {}
    for j, m in ipairs(members) do
      local c = claims[j]
      local free = not c or string.sub(c, 1, #mine) == mine
      if not free then
        local expiry = tonumber(string.match(c, '|(%d+)$') or '0')
        free = expiry <= now
      end
      if free and #taken < want then
        taken[#taken + 1] = j
        set[#set + 1] = m; set[#set + 1] = claim
      end
    end
    if #taken > 0 then
      callChunks('HSET', KEYS[k + 2], set, #set)
      local names = {}
      for i, j in ipairs(taken) do names[i] = members[j] end
      local versions = readFields(KEYS[k + 1], names, #names)
      for i, j in ipairs(taken) do
        out[#out + 1] = members[j]
        out[#out + 1] = zs[2 * j]
        out[#out + 1] = versions[i] or ''
      end
      want = want - #taken
    end
    if want <= 0 then break end
    offset = offset + #members
  end
end
return out
`)

// clearDirtyScript removes items from the dirty set only if they were not
// marked again since the re-scorer read them (same mark version), so a
// change that lands while a row is being re-scored keeps the row dirty,
// and releases the re-scorer's claims on them either way. An item that
// stays dirty gets ARGV[1] (unix ms, unless "-") as its first-mark time:
// the list now reflects every change up to then, so only later changes
// wait. Without that, an item marked again during every re-score (a
// best-seller) would keep its first mark forever: it would look ever more
// stale and be re-scored at every poll instead of once per interval.
// KEYS: groups of ARGV[2] keys (2 or 3) of each shard: the dirty set, the
// mark versions, and with 3 the claims; then for each group: the number n
// of its items and n pairs of (item, version as read). Returns the number
// removed. The outbox reuses it (outbox, stamps, no claims,
// keepMarkTime).
var clearDirtyScript = redis.NewScript(hashFieldsLua + `
local per = tonumber(ARGV[2])
local removed = 0
local a = 3
for k = 1, #KEYS, per do
  local n = tonumber(ARGV[a])
  local members, read = {}, {}
  for i = 1, n do members[i] = ARGV[a + 2 * i - 1]; read[i] = ARGV[a + 2 * i] end
  a = a + 2 * n + 1
  if per == 3 then callChunks('HDEL', KEYS[k + 2], members, n) end
  local versions = readFields(KEYS[k + 1], members, n)
  local gone, again = {}, {}
  for i = 1, n do
    if versions[i] == read[i] then gone[#gone + 1] = members[i]
    elseif ARGV[1] ~= '` + keepMarkTime + `' then again[#again + 1] = ARGV[1]; again[#again + 1] = members[i] end
  end
  callChunks('HDEL', KEYS[k + 1], gone, #gone)
  callChunks('ZREM', KEYS[k], gone, #gone)
  callChunks('ZADD', KEYS[k], again, #again, 'XX', 'GT')
  removed = removed + #gone
end
return removed
`)

// writeListsScript replaces items' lists, each unless the stored one was
// computed from a newer revision of the row. A single Redis (or
// Sentinel's master) takes many lists per call, a cluster one (each item
// is in a slot of its own), as writeCustomersScript's customers; a list
// costs one HMGET of its row's revision and watch fields, one HSET of
// those that changed (most re-scores leave the watch as it was) and the
// list's SET or DEL, where it cost a script call and five commands
// inside it (docs/BENCHMARKS.md, "Ninth pass").
//
// KEYS: for each list, its item's row hash (holds the stored list's
// revision), the list key and the row's index (rowIndexOn, which names
// the two fields when they are new and the row has an index: a state
// without indexes gets none), the three with the same hash tag. ARGV[1]:
// the revision field, ARGV[2]: the watch field; then for each list in
// KEYS order: the revision the new list was computed from, the encoded
// list or "" to delete it, and what the list watches (List.Watch), kept
// in the row beside the revision ("" deletes the field).
// A list with items computed from a row with fences (a revision above 0)
// is refused too when the row is gone: the row was deleted since the list
// was computed (Lists.Forget: its item has no state left), and the list is
// stale.
// Returns, per list: 1 when written, 2 when there was nothing to delete
// (no change to publish), 0 when refused.
var writeListsScript = redis.NewScript(hashFieldsLua + `
local out = {}
local a = 3
for k = 1, #KEYS, 3 do
  local row, list, index = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local revision, encoded, watch = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local rev = tonumber(revision)
  a = a + 3
  local got = redis.call('HMGET', row, ARGV[1], ARGV[2])
  local cur = tonumber(got[1] or '-1')
  local reply
  if rev < cur then reply = 0
  elseif got[1] or got[2] or redis.call('EXISTS', row) == 1 then
    local set, del, named = {}, {}, {}
    if rev > cur then
      set[#set + 1] = ARGV[1]; set[#set + 1] = revision
      if not got[1] then named[#named + 1] = ARGV[1]; named[#named + 1] = '' end
    end
    if watch == '' then
      if got[2] then del[1] = ARGV[2] end
    elseif watch ~= got[2] then
      set[#set + 1] = ARGV[2]; set[#set + 1] = watch
      if not got[2] then named[#named + 1] = ARGV[2]; named[#named + 1] = '' end
    end
    writeFields(row, set, #set, del, #del)
    if #named > 0 and redis.call('EXISTS', index) == 1 then callChunks('HSET', index, named, #named) end
  elseif encoded ~= '' and rev > 0 then reply = 0 end
  if reply == nil then
    if encoded ~= '' then redis.call('SET', list, encoded); reply = 1
    elseif redis.call('DEL', list) == 1 then reply = 1
    else reply = 2 end
  end
  out[#out + 1] = reply
end
return out
`)

// forgetItemScript deletes the keys of an item that has no state left
// (Lists.Forget): its rows, lists and holders, all in the item's slot.
//
// KEYS[1..3]: the item's rows (bought, viewed, viewed-then-bought),
// KEYS[4..6]: its lists of the same kinds, KEYS[7]: its holders,
// KEYS[8..10]: the rows' indexes (deleted with the rows; with the fences
// kept, an index names what its row keeps). ARGV[1]:
// forgetKeepFences to keep each row's watermarks and list revision (Redis
// Cluster, where applyOps cannot see the progress: the row's fences are
// the item's tombstone), else forgetDelete; ARGV[2]: the watch field;
// ARGV[3]: the most fields a row without counters can have (a watermark
// and a sweep fence per partition, the list revision, the watch field and
// the item's purchase statistics);
// ARGV[4]: per list kind, "1" when the list was seen and may be deleted
// (marked in the change-feed outbox, with the feed on), else "0". In
// delete mode KEYS[11] is the progress hash and KEYS[12] the clock: a
// watermark is compared with its partition's stored progress, a sweep
// fence with the partition's last completed sweep, both read by the
// script itself.
// The item's purchase statistics (schema.IsRebuyField: "p|" and "g|b")
// are no state of their own: they go with the row, and in keep mode are
// deleted from it. Nothing is done when a row holds a counter (a field
// not starting with '#' and not a statistic: the item has state again; a row longer than ARGV[3] holds one, and
// is not read), when a list exists that was not seen (its deletion would
// not be announced: its own re-score deletes it), or, when the rows go,
// when a watermark is above its partition's progress (a sweep fence above
// its partition's last completed sweep) or its partition has none (a batch that changed the row is not finished: a replay of it must
// still find its fences).
// Returns {1, the keys and fields deleted, then 1 or 0 per list: deleted
// or absent} when the item has no state left (its keys gone, or only its
// tombstone left), {0} otherwise.
var forgetItemScript = redis.NewScript(`
local keep = ARGV[1] == '` + forgetKeepFences + `'
-- how far a fence's partition is done, read here, in the same script as
-- the deletion: a value read before it could come from before Redis lost
-- acknowledged writes, and deleting fences above the progress a replay
-- starts from would let the replay apply their changes twice.
local function done(name)
  local v
  local p = string.match(name, '^#(%d+)$')
  if p then v = redis.call('HGET', KEYS[11], p)
  else
    p = string.match(name, '^#s(%d+)$')
    if p then v = redis.call('HGET', KEYS[12], '` + schema.ClockSweep + `' .. p) end
  end
  if not v then return nil end
  return tonumber(v)
end
for r = 1, 3 do
  if redis.call('HLEN', KEYS[r]) > tonumber(ARGV[3]) then return {0} end
  if string.sub(ARGV[4], r, r) ~= '1' and redis.call('EXISTS', KEYS[r + 3]) == 1 then return {0} end
end
for r = 1, 3 do
  local f = redis.call('HGETALL', KEYS[r])
  for j = 1, #f, 2 do
    local name = f[j]
    local rebuy = name == '` + schema.FieldItemPurchases + `' or string.sub(name, 1, 2) == '` + schema.GapField(0)[:2] + `'
    if string.sub(name, 1, 1) ~= '#' and not rebuy then return {0} end
    if not keep and (string.match(name, '^#%d+$') or string.match(name, '^#s%d+$')) then
      local p = done(name)
      if p == nil or tonumber(f[j + 1]) > p then return {0} end
    end
  end
end
local deleted = 0
for r = 1, 3 do
  if keep then
    deleted = deleted + redis.call('HDEL', KEYS[r], ARGV[2])
    local f = redis.call('HKEYS', KEYS[r])
    for j = 1, #f do
      local name = f[j]
      if name == '` + schema.FieldItemPurchases + `' or string.sub(name, 1, 2) == '` + schema.GapField(0)[:2] + `' then
        deleted = deleted + redis.call('HDEL', KEYS[r], name)
      end
    end
    -- An index names what the row keeps, and nothing else.
    if redis.call('DEL', KEYS[r + 7]) == 1 then
      local kept = {}
      for _, name in ipairs(redis.call('HKEYS', KEYS[r])) do kept[#kept + 1] = name; kept[#kept + 1] = '' end
      if #kept > 0 then redis.call('HSET', KEYS[r + 7], unpack(kept)) end
    end
  else deleted = deleted + redis.call('DEL', KEYS[r], KEYS[r + 7]) end
end
deleted = deleted + redis.call('DEL', KEYS[7])
local out = {1, 0}
for r = 1, 3 do
  local n = 0
  if string.sub(ARGV[4], r, r) == '1' then n = redis.call('DEL', KEYS[r + 3]) end
  out[#out + 1] = n
  deleted = deleted + n
end
out[2] = deleted
return out
`)

// forgetItemScript's modes (ARGV[1]).
const (
	forgetDelete     = "delete"
	forgetKeepFences = "keep"
)

// recordPartitionCountScript appends a count to a comma-separated list
// field unless it is there. KEYS[1]: the hash, ARGV[1]: the field,
// ARGV[2]: the count. Returns the list.
var recordPartitionCountScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cur == '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return ARGV[2]
end
for c in string.gmatch(cur, '[^,]+') do
  if c == ARGV[2] then return cur end
end
cur = cur .. ',' .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], cur)
return cur
`)

// nextEdgeLua defines next_edge(from, until, now): the first window edge
// (unix ms, 0 = open side) after now, or nil.
const nextEdgeLua = `
local function next_edge(from, untl, now)
  if from > now then return from end
  if untl > now then return untl end
  return nil
end
`

// changeItemLua defines change(item): the item's record or window
// changed; raise the revision, record the item's change and make it
// pending. KEYS[3]: revisions, KEYS[4]: revision, KEYS[7] or the given
// key: pending. Returns the revision.
const changeItemLua = `
local function change(item, revisions, revision, pending)
  local rev = redis.call('INCR', revision)
  redis.call('ZADD', revisions, rev, item)
  redis.call('ZADD', pending, rev, item)
  return rev
end
`

// applyCatalogueScript applies a batch of catalogue records of one
// partition (Catalogue.Apply).
//
// KEYS: 1 records, 2 progress, 3 revisions, 4 revision, 5 due, 6 edges,
// 7 pending. ARGV[1]: the partition's field, ARGV[2]: now (unix ms),
// ARGV[3]: the offset after the batch, ARGV[4..]: groups of (offset, item,
// record or "" for none, from, until), in offset order, from/until the
// window of a visible item (0: open). A group below the stored progress is
// skipped; a record equal to the stored one changes nothing; the progress
// only rises. Returns (item, revision) pairs of the changes.
var applyCatalogueScript = redis.NewScript(nextEdgeLua + changeItemLua + `
local prog = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local now = tonumber(ARGV[2])
local out = {}
for i = 4, #ARGV, 5 do
  local off = tonumber(ARGV[i])
  if off >= prog then
    local item, rec = ARGV[i + 1], ARGV[i + 2]
    local old = redis.call('HGET', KEYS[1], item) or ''
    if old ~= rec then
      if rec == '' then redis.call('HDEL', KEYS[1], item) else redis.call('HSET', KEYS[1], item, rec) end
      local from, untl = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
      if from == 0 and untl == 0 then redis.call('HDEL', KEYS[6], item)
      else redis.call('HSET', KEYS[6], item, ARGV[i + 3] .. ',' .. ARGV[i + 4]) end
      local edge = next_edge(from, untl, now)
      if edge then redis.call('ZADD', KEYS[5], edge, item) else redis.call('ZREM', KEYS[5], item) end
      out[#out + 1] = item
      out[#out + 1] = change(item, KEYS[3], KEYS[4], KEYS[7])
    end
  end
end
if tonumber(ARGV[3]) > prog then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
return out
`)

// promoteDueScript makes pending the items whose window edge is at or
// before ARGV[1] (now, unix ms) and schedules their next edge.
// KEYS: 1 due, 2 edges, 3 revisions, 4 revision, 5 pending. Returns how
// many it promoted.
var promoteDueScript = redis.NewScript(nextEdgeLua + changeItemLua + `
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, item in ipairs(due) do
  local w = redis.call('HGET', KEYS[2], item) or '0,0'
  local from, untl = string.match(w, '^(%d+),(%d+)$')
  local edge = next_edge(tonumber(from or '0'), tonumber(untl or '0'), now)
  if edge then redis.call('ZADD', KEYS[1], edge, item) else redis.call('ZREM', KEYS[1], item) end
  change(item, KEYS[3], KEYS[4], KEYS[5])
end
return #due
`)

// donePendingScript removes pending items whose revision is still the
// one read. KEYS[1]: pending; ARGV: pairs of (item, revision as read).
var donePendingScript = redis.NewScript(`
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
`)

// countIndexedScript sets each row's count of the co-counts its index
// names (schema.FieldIndexedCoCounts, absent for none), as the writes of a
// state recorded with schema.MetaRowIndexCounts keep it: the names that
// are neither fences ("#") nor statistics or bins ("|"), as
// schema.IsCoCountField says. A row that is gone is left (its index goes
// with it). KEYS: pairs of (row, its index). Returns the rows counted.
var countIndexedScript = redis.NewScript(`
local counted = 0
for k = 1, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    local n = 0
    for _, name in ipairs(redis.call('HKEYS', KEYS[k + 1])) do
      if string.sub(name, 1, 1) ~= '#' and not string.find(name, '|', 1, true) then n = n + 1 end
    end
    if n > 0 then redis.call('HSET', KEYS[k], '` + schema.FieldIndexedCoCounts + `', n)
    else redis.call('HDEL', KEYS[k], '` + schema.FieldIndexedCoCounts + `') end
    counted = counted + 1
  end
end
return counted
`)

var allScripts = []*redis.Script{applyOpsScript, applySumsScript, writeCustomersScript, advanceScript, markDirtyScript,
	claimDirtyScript, clearDirtyScript, writeListsScript, markStepScript, finishBatchScript, finishSweepScript,
	probeScript, applyCatalogueScript, promoteDueScript, donePendingScript, forgetItemScript, countIndexedScript}
