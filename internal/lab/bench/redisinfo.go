package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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
	calls      map[string]float64 // calls per command, from commandstats
}

func readRedisStats(ctx context.Context, rdb redis.UniversalClient) (redisStats, error) {
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
	calls                   map[string]float64
}

func (a redisStats) to(b redisStats) redisDelta {
	d := redisDelta{seconds: b.at.Sub(a.at).Seconds(), commands: b.commands - a.commands, netIn: b.netIn - a.netIn,
		netOut: b.netOut - a.netOut, cpu: b.cpu - a.cpu, calls: map[string]float64{}}
	for cmd, n := range b.calls {
		if dn := n - a.calls[cmd]; dn > 0 {
			d.calls[cmd] = dn
		}
	}
	return d
}
