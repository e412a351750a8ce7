package bench

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// WriteTable prints a report as a short table.
func WriteTable(w io.Writer, r Report) error {
	fmt.Fprintf(w, "%s: %d events (%d purchases), %d customers, %d items, %d partitions\n",
		r.Dataset, r.Events, r.Purchases, r.Customers, r.Items, r.Partitions)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(name, value, note string) { fmt.Fprintf(tw, "%s\t%18s\t%s\n", name, value, note) }
	row("sustained, end to end", fmt.Sprintf("%.0f events/s", r.EventsPerSec),
		fmt.Sprintf("%d events: produced in %.2fs, applied in %.2fs, no dirty list at %.2fs", r.SustainedEvents, r.ProduceSeconds, r.AppliedSeconds, r.CaughtUpSeconds))
	row("sustained, applied", fmt.Sprintf("%.0f events/s", r.AppliedEventsPerSec), "to zero applied lag, lists not waited for")
	row("Redis commands", fmt.Sprintf("%.2f /event", r.RedisCmdsPerEvent),
		fmt.Sprintf("%.3f script calls/event; commands inside scripts count", r.RedisScriptCallsPerEvent))
	row("Redis bytes in", fmt.Sprintf("%.0f B/event", r.RedisBytesPerEvent), fmt.Sprintf("out %.0f B/event", r.RedisOutBytesPerEvent))
	row("Redis CPU", fmt.Sprintf("%.2f s/M events", r.RedisCPUSecPerMillion), "used_cpu_sys + used_cpu_user, scripts included")
	for _, m := range r.RedisMasters {
		row("Redis master "+m.Addr, fmt.Sprintf("%.2f cmds/event", m.CmdsPerEvent),
			fmt.Sprintf("%.2f s/M events CPU, %.0f%% of the masters' commands", m.CPUSecPerMillion, 100*m.CommandsShareOfMaster))
	}
	if len(r.RedisMasters) > 0 {
		row("Redis masters, busiest/least", fmt.Sprintf("%.2f x", r.RedisMasterCmdsRatio),
			fmt.Sprintf("commands; paced phase %.2f x", r.PacedRedisMasterCmdsRatio))
	}
	row("serve CPU", fmt.Sprintf("%.2f s/M events", r.ConsumerCPUSecPerMillion),
		fmt.Sprintf("%.1f counter changes, %.2f lists re-scored per event", r.StateChangesPerEvent, r.ListsRescoredPerEvent))
	row("producer CPU", fmt.Sprintf("%.2f s/M events", r.ProducerCPUSecPerMillion), "the bench process")
	row("freshness p50", fmt.Sprintf("%.0f ms", r.FreshnessP50Ms),
		fmt.Sprintf("at %.0f events/s offered (%d events, %.0f/s achieved), %.0f lists", r.OfferedEventsPerSec, r.PacedEvents, r.AchievedEventsPerSec, r.FreshnessSamples))
	row("freshness p99", fmt.Sprintf("%.0f ms", r.FreshnessP99Ms),
		fmt.Sprintf("within %.0f-%.0f ms (its bucket); mean %.0f ms (exact)", r.FreshnessP99LowMs, r.FreshnessP99HighMs, r.FreshnessMeanMs))
	if r.PacedSaturated {
		row("WARNING", "saturated", fmt.Sprintf("the pipeline caught up %.1fs after the last paced event: freshness includes queueing; try a lower -paced-load", r.PacedBacklogSeconds))
	}
	row("paced cost", fmt.Sprintf("%.2f cmds/event", r.PacedRedisCmdsPerEvent), fmt.Sprintf("Redis CPU %.2f s/M events, serve CPU %.2f s/M events, %.2f lists re-scored per event", r.PacedRedisCPUSecPerMillion, r.PacedConsumerCPUSecPerMil, r.PacedListsRescoredPerEvt))
	row("Redis forks", fmt.Sprintf("%.0f, %.0f paced", r.RedisForks, r.PacedRedisForks), "AOF rewrites and RDB saves: each child writes the dataset on another core, not in Redis CPU")
	if h := r.Hide; h != nil {
		row("hide p50", fmt.Sprintf("%.0f ms", h.P50Ms), fmt.Sprintf("from the record published to no list holding the item; %d best-sellers, one at a time", h.Hides))
		row("hide p99", fmt.Sprintf("%.0f ms", h.P99Ms), fmt.Sprintf("max %.0f ms; each was in %.0f lists on average, %d at most", h.MaxMs, h.ListsMean, h.ListsMax))
	}
	row("memory per customer", fmt.Sprintf("%.0f B", r.RedisBytesPerCustomer), fmt.Sprintf("%d customer keys", r.RedisCustomerKeys))
	row("memory per item", fmt.Sprintf("%.0f B", r.RedisBytesPerItem), fmt.Sprintf("%d per-item keys, %d B shared keys", r.RedisItemKeys, r.RedisGlobalBytes))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "freshness histogram: %s\n", r.FreshnessBuckets)
	fmt.Fprintf(w, "memory: %s (state %d B; used_memory moved %+.0f B)\n", r.MemoryMethod, r.RedisStateBytes, r.RedisUsedMemoryDeltaBytes)
	if r.RedisShared {
		fmt.Fprintf(w, "WARNING: other clients sent %.0f commands/s before and %.0f/s after the run (%.0f connected): the Redis figures include theirs; re-run on a quiet Redis\n",
			r.RedisOtherCmdsPerSecBefore, r.RedisOtherCmdsPerSecAfter, r.RedisOtherClients)
	}
	top := make([]string, 0, len(r.RedisCommands))
	for cmd := range r.RedisCommands {
		top = append(top, cmd)
	}
	sort.Slice(top, func(i, j int) bool { return r.RedisCommands[top[i]] > r.RedisCommands[top[j]] })
	fmt.Fprint(w, "commands per event:")
	for i, cmd := range top {
		if i == 8 {
			break
		}
		fmt.Fprintf(w, " %s %.2f", cmd, r.RedisCommands[cmd])
	}
	fmt.Fprintln(w)
	return nil
}

// WriteIncrementalTable prints an incremental report.
func WriteIncrementalTable(w io.Writer, r IncrementalReport) error {
	fmt.Fprintf(w, "%s: %d events, %d customers, %d items; last day %d events on top of %d\n",
		r.Dataset, r.Events, r.Customers, r.Items, r.LastDayEvents, r.HistoryEvents)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\twall s\tCPU s\tRedis cmds\tRedis CPU s\tlists\t")
	fmt.Fprintf(tw, "rebuild all (batch)\t%.2f\t%.2f\t%.0f\t%.2f\t%d\t\n", r.BatchSeconds, r.BatchCPUSeconds, r.BatchRedisCmds, r.BatchRedisCPUSeconds, r.BatchLists)
	fmt.Fprintf(tw, "apply last day (incremental)\t%.2f\t%.2f\t%.0f\t%.2f\t%.0f\t\n", r.IncrementalSeconds, r.IncrementalCPUSeconds, r.IncrementalRedisCmds, r.IncrementalRedisCPUSecs, r.IncrementalListsRescored)
	fmt.Fprintf(tw, "batch / incremental\t%.1fx\t%.1fx\t%.1fx\t\t\t\n", r.WallRatio, r.CPURatio, r.RedisCmdRatio)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "batch steps: oracle %.2fs, write %.2fs, re-score %.2fs; incremental applied in %.2fs; history bootstrap %.2fs (not compared); change feed off on both sides\n",
		r.BatchBuildSeconds, r.BatchWriteSeconds, r.BatchRescoreSeconds, r.IncrementalAppliedSeconds, r.BootstrapSeconds)
	if r.RedisShared {
		fmt.Fprintf(w, "WARNING: other clients sent %.0f commands/s before and %.0f/s after the run: the Redis command counts include theirs; re-run on a quiet Redis\n",
			r.RedisOtherCmdsPerSecBefore, r.RedisOtherCmdsPerSecAfter)
	}
	return nil
}
