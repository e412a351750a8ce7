package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alsobought/alsobought/internal/config"
	"github.com/alsobought/alsobought/internal/lab/eval"
	"github.com/alsobought/alsobought/scoring"
)

// evalCmd is `alsobought eval`.
type evalCmd struct {
	data     dataFlags
	cfg      eval.Config // protocol, cutoff, windows, horizon, k
	asJSON   bool
	plot     string
	viaKafka bool
	trainer  string
}

// settings: the oracle needs no service; -via-kafka trains through the real
// pipeline, which reads Kafka and Redis.
func (c *evalCmd) settings(s *settings) []config.Group {
	viaKafka := []config.Group{s.kafkaOnly(&s.partitions), s.redis().Only(append([]any{&s.redisAddrs, &s.redisMode, &s.redisWait, &s.redisMaster}, s.redisSec.targets()...)...),
		s.consumer().Only(&s.partitioner), s.rescore()}
	for i := range viaKafka {
		viaKafka[i].Note = "with -via-kafka"
	}
	return append([]config.Group{s.histories(), s.lists(), s.events(), s.dedupGroup(), s.recommend(), c.data.group(true),
		{Name: "Evaluation", FlagsOnly: true, Settings: []config.Setting{
			{Flag: "protocol", Help: "customer (people active before the cutoff, judged on what they bought or viewed next) or session (data without customer ids: each session reveals its first half)",
				Value: config.Parse(&c.cfg.Protocol, string(eval.Customers), "customer or session", "string", eval.ParseProtocol, func(p eval.Protocol) string { return string(p) })},
			{Flag: "cutoff", Help: "the first cutoff: RFC 3339 time, YYYY-MM-DD (UTC midnight) or auto (windows end at the last event)",
				Value: config.Parse(&c.cfg.Cutoff, "auto", "auto, an RFC 3339 time or a YYYY-MM-DD date", "time", parseCutoff, formatCutoff)},
			{Flag: "windows", Help: "consecutive evaluation windows (prequential: each trained on everything before its cutoff)", Value: config.Int(&c.cfg.Windows, 1, 1, math.MaxInt)},
			{Flag: "horizon", Help: "window length: days as Nd, or a Go duration such as 36h",
				Value: config.Parse(&c.cfg.Horizon, "14d", "a positive number of days such as 14d, or a duration such as 36h", "duration", parseDays, time.Duration.String)},
			{Flag: "k", Help: "items recommended per customer", Value: config.Int(&c.cfg.K, 6, 1, math.MaxInt)},
			{Flag: "json", Help: "print the report as one JSON object", Value: config.Bool(&c.asJSON, false)},
			{Flag: "plot", Help: "also write a bar chart of the results to this .svg or .png file", Value: config.Text(&c.plot, "", "a file name ending in .svg or .png", func(v string) error {
				if ext := strings.ToLower(filepath.Ext(v)); v != "" && ext != ".svg" && ext != ".png" {
					return errors.New("not .svg or .png")
				}
				return nil
			})},
			{Flag: "trainer", Help: "stream (one pass through the consumer's change code, in memory, the state advanced between cutoffs) or oracle (the batch oracle rebuilt from scratch at every cutoff); the numbers must be identical",
				Value: config.Text(&c.trainer, "stream", "stream or oracle", func(v string) error {
					if v != "stream" && v != "oracle" {
						return errors.New("not stream or oracle")
					}
					return nil
				})},
			{Flag: "via-kafka", Help: "train through the real pipeline (a fresh topic and Redis prefix, consumed and re-scored in this process) instead of in memory (-trainer is then ignored); the numbers must be identical",
				Value: config.Bool(&c.viaKafka, false)},
		}}}, viaKafka...)
}

func (c *evalCmd) run(ctx context.Context, s *settings, _ []string, stdout, stderr io.Writer) error {
	cfg := c.cfg
	cfg.Served, cfg.KeepOwned = scoring.Method(s.method), s.keepOwned
	evs, err := c.data.load(s)
	if err != nil {
		return err
	}
	var trainer eval.Trainer = &eval.StreamTrainer{Settings: s.oracleSettings(), Rules: s.listRules()}
	trainerName := c.trainer
	if c.trainer == "oracle" {
		trainer = eval.OracleTrainer{Settings: s.oracleSettings(), Rules: s.listRules()}
	}
	if c.viaKafka {
		kt, err := newKafkaTrainer(ctx, s)
		if err != nil {
			return err
		}
		defer kt.Close()
		trainer, trainerName = kt, "kafka"
	}
	report, err := eval.Run(ctx, evs, cfg, trainer)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	report.Dataset, report.Trainer = datasetName(c.data.path), trainerName
	if c.plot != "" {
		if err := eval.WritePlot(c.plot, report); err != nil {
			return err
		}
	}
	if c.asJSON {
		return writeJSON(stdout, report)
	}
	return printReport(stdout, report)
}

// printReport prints one table per target: every method's figures
// overall and for discovery (owned items removed from the answers and the
// targets), the goal's baseline marked.
func printReport(w io.Writer, r *eval.Report) error {
	fmt.Fprintf(w, "%s, %s protocol, %d window(s) of %.0f days, HR@%d (trained by the %s trainer; served scorer %s)\n",
		r.Dataset, r.Protocol, r.Windows, r.HorizonDays, r.K, r.Trainer, r.Served)
	for i, c := range r.Cutoffs {
		if i == 0 || i == len(r.Cutoffs)-1 {
			fmt.Fprintf(w, "  window %d: cutoff %s, end %s\n", i+1, c.Cutoff.Format(time.RFC3339), c.End.Format(time.RFC3339))
		} else if i == 1 {
			fmt.Fprintln(w, "  ...")
		}
	}
	for _, target := range []eval.Target{eval.TargetBought, eval.TargetViewed} {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		printed := false
		base, hasBase := r.Baseline[target]
		for _, res := range r.Results {
			if res.Target != target {
				continue
			}
			if !printed {
				who := "customers"
				if r.Protocol == eval.Sessions {
					who = "sessions"
				}
				fmt.Fprintf(w, "\nhit = an item %s in the window; %d %s judged, %d of them with a target they did not own (discovery)\n",
					target, res.Customers, who, res.DiscoveryCustomers)
				fmt.Fprintf(tw, "method\tHR@%d\trecall@%d\titems\tcoverage\thits\tdiscovery HR@%d\tdiscovery hits\t\t\n", r.K, r.K, r.K)
				printed = true
			}
			mark := ""
			if hasBase && res.Method == base.Method {
				mark = "baseline"
			}
			fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%d\t%.1f%%\t%d\t%.4f\t%d\t%s\t\n", res.Method, res.HR, res.Recall, res.Items, 100*res.Coverage, res.Hits,
				res.DiscoveryHR, res.DiscoveryHits, mark)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if printed && hasBase {
			fmt.Fprintf(w, "baseline (the best of %s): %s, HR %.4f; served %.4f, %.2f times the baseline\n",
				strings.Join(eval.BaselineMethods, ", "), base.Method, base.HR, base.ServedHR, base.ServedOverBaseline)
		}
	}
	fmt.Fprintf(w, "\ncoverage: distinct items recommended, as a share of the %d items seen in training\n", r.ItemsSeen)
	return nil
}

// parseCutoff reads auto, an RFC 3339 time or a UTC date.
func parseCutoff(v string) (time.Time, error) {
	if v == "" || v == "auto" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not auto, an RFC 3339 time or a YYYY-MM-DD date", v)
}

func formatCutoff(t time.Time) string {
	if t.IsZero() {
		return "auto"
	}
	return t.Format(time.RFC3339)
}

// parseDays reads Nd (days) or a Go duration.
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("%q: want a positive number of days such as 14d", v)
		}
		return time.Duration(days * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q: want a positive duration such as 14d or 36h", v)
	}
	return d, nil
}

// datasetName names a data file by its folder and file name, e.g.
// movielens-100k/u.data.gz: the file names of the shared data sets alone
// say little.
func datasetName(path string) string {
	return filepath.Join(filepath.Base(filepath.Dir(path)), filepath.Base(path))
}
