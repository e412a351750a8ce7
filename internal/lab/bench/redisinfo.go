package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStats is one reading of Redis's INFO: the server-wide counters the
// cost per event is computed from. They count every client, so the bench
// also measures the rate while it sends nothing (otherLoad).
type redisStats struct {
	at         time.Time
	commands   float64            // total_commands_processed: commands run inside scripts count too
	netIn      float64            // total_net_input_bytes
	netOut     float64            // total_net_output_bytes
	cpu        float64            // used_cpu_sys + used_cpu_user, seconds
	usedMemory float64            // used_memory, bytes
	clients    float64            // connected_clients
	forks      float64            // total_forks: AOF rewrites and RDB saves (0 where INFO lacks it)
	calls      map[string]float64 // calls per command, from commandstats
	// masters holds each master's own reading when Redis is a cluster
	// (the fields above are then their sums), by address.
	masters map[string]redisStats
}

// readRedisStats reads INFO of a single Redis, or of every master of a
// cluster, summed, with each master's reading kept (redisStats.masters).
func readRedisStats(ctx context.Context, rdb redis.UniversalClient) (redisStats, error) {
	cluster, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return readNodeStats(ctx, rdb)
	}
	var mu sync.Mutex
	sum := redisStats{at: time.Now(), calls: map[string]float64{}, masters: map[string]redisStats{}}
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		st, err := readNodeStats(ctx, node)
		if err != nil {
			return fmt.Errorf("%s: %w", node.Options().Addr, err)
		}
		mu.Lock()
		defer mu.Unlock()
		sum.masters[node.Options().Addr] = st
		sum.commands += st.commands
		sum.netIn += st.netIn
		sum.netOut += st.netOut
		sum.cpu += st.cpu
		sum.usedMemory += st.usedMemory
		sum.clients += st.clients
		sum.forks += st.forks
		for cmd, n := range st.calls {
			sum.calls[cmd] += n
		}
		return nil
	})
	return sum, err
}

func readNodeStats(ctx context.Context, rdb redis.UniversalClient) (redisStats, error) {
	text, err := rdb.Info(ctx, "stats", "cpu", "memory", "clients", "commandstats").Result()
	if err != nil {
		return redisStats{}, fmt.Errorf("redis INFO: %w", err)
	}
	return parseInfo(text, time.Now())
}

// parseInfo reads the fields of INFO's text the bench uses.
func parseInfo(text string, at time.Time) (redisStats, error) {
	s := redisStats{at: at, calls: map[string]float64{}}
	fields := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, ":")
		if !ok || line[0] == '#' {
			continue
		}
		if cmd, ok := strings.CutPrefix(k, "cmdstat_"); ok {
			for _, kv := range strings.Split(v, ",") {
				name, val, _ := strings.Cut(kv, "=")
				f, err := strconv.ParseFloat(val, 64)
				if err != nil {
					continue
				}
				if name == "calls" {
					s.calls[cmd] = f
				}
			}
			continue
		}
		fields[k] = v
	}
	num := func(k string) (float64, error) {
		v, ok := fields[k]
		if !ok {
			return 0, fmt.Errorf("redis INFO has no %s", k)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("redis INFO %s=%q: %w", k, v, err)
		}
		return f, nil
	}
	var err error
	for _, f := range []struct {
		p    *float64
		name string
	}{{&s.commands, "total_commands_processed"}, {&s.netIn, "total_net_input_bytes"}, {&s.netOut, "total_net_output_bytes"},
		{&s.usedMemory, "used_memory"}, {&s.clients, "connected_clients"}} {
		if *f.p, err = num(f.name); err != nil {
			return s, err
		}
	}
	// A fork's child (an AOF rewrite, an RDB save) writes the whole
	// dataset on another core, outside used_cpu: on a machine the bench
	// shares with Redis it slows serve and the bench. Redis before 6.2
	// does not count them.
	if _, ok := fields["total_forks"]; ok {
		if s.forks, err = num("total_forks"); err != nil {
			return s, err
		}
	}
	sys, err := num("used_cpu_sys")
	if err != nil {
		return s, err
	}
	user, err := num("used_cpu_user")
	if err != nil {
		return s, err
	}
	s.cpu = sys + user
	return s, nil
}

// redisDelta is what Redis did between two readings.
type redisDelta struct {
	seconds                 float64
	commands, netIn, netOut float64
	cpu                     float64
	forks                   float64
	calls                   map[string]float64
	masters                 map[string]redisDelta // a cluster's, by address
}

func (a redisStats) to(b redisStats) redisDelta {
	d := redisDelta{seconds: b.at.Sub(a.at).Seconds(), commands: b.commands - a.commands, netIn: b.netIn - a.netIn,
		netOut: b.netOut - a.netOut, cpu: b.cpu - a.cpu, forks: b.forks - a.forks, calls: map[string]float64{}}
	for cmd, n := range b.calls {
		if dn := n - a.calls[cmd]; dn > 0 {
			d.calls[cmd] = dn
		}
	}
	for addr, bm := range b.masters {
		if am, ok := a.masters[addr]; ok {
			if d.masters == nil {
				d.masters = map[string]redisDelta{}
			}
			d.masters[addr] = am.to(bm)
		}
	}
	return d
}

// MasterLoad is what one master of a Redis Cluster did in a phase, per
// event of the phase.
type MasterLoad struct {
	Addr                  string  `json:"addr"`
	CmdsPerEvent          Figure  `json:"cmds_per_event"`
	CPUSecPerMillion      Figure  `json:"cpu_sec_per_million"`
	Commands              float64 `json:"commands"`
	CPUSeconds            float64 `json:"cpu_seconds"`
	ScriptCallsPerEvent   Figure  `json:"script_calls_per_event"`
	CommandsShareOfMaster Figure  `json:"commands_share"` // of all the masters' commands
}

// masterLoads returns each master's load in d (sorted by address) and
// the ratio of the busiest master's commands to the least busy's (0 for
// a single Redis).
func masterLoads(d redisDelta, events float64) ([]MasterLoad, Figure) {
	if len(d.masters) == 0 {
		return nil, 0
	}
	out := make([]MasterLoad, 0, len(d.masters))
	lo, hi := math.Inf(1), 0.0
	for addr, m := range d.masters {
		out = append(out, MasterLoad{Addr: addr, CmdsPerEvent: ratio(m.commands, events),
			CPUSecPerMillion: Figure(1e6 * m.cpu / events), Commands: m.commands, CPUSeconds: m.cpu,
			ScriptCallsPerEvent:   ratio(m.calls["evalsha"]+m.calls["eval"], events),
			CommandsShareOfMaster: ratio(m.commands, d.commands)})
		lo, hi = min(lo, m.commands), max(hi, m.commands)
	}
	slices.SortFunc(out, func(a, b MasterLoad) int { return strings.Compare(a.Addr, b.Addr) })
	return out, ratio(hi, lo)
}
