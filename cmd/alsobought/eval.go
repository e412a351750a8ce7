package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alsobought/alsobought/internal/lab/eval"
	"github.com/alsobought/alsobought/scoring"
)

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, s := newFlags("eval", stderr)
	var d dataFlags
	d.register(fs)
	protocol := fs.String("protocol", "customer", "customer (people active before the cutoff, judged on what they bought or viewed next) or session (data without customer ids: each session reveals its first half)")
	cutoff := fs.String("cutoff", "auto", "the first cutoff: RFC 3339 time, YYYY-MM-DD (UTC midnight) or auto (windows end at the last event)")
	windows := fs.Int("windows", 1, "consecutive evaluation windows (prequential: each trained on everything before its cutoff)")
	horizon := fs.String("horizon", "14d", "window length: days as Nd, or a Go duration such as 36h")
	k := fs.Int("k", 6, "items recommended per customer")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	plot := fs.String("plot", "", "also write a bar chart of the results to this .svg or .png file")
	viaKafka := fs.Bool("via-kafka", false, "train through the real pipeline (a fresh topic and Redis prefix, consumed and re-scored in this process) instead of the in-memory oracle; the numbers must be identical")
	if err := parse(fs, s, args); err != nil {
		return err
	}
	cfg := eval.Config{Windows: *windows, K: *k, Served: scoring.Method(s.method), KeepOwned: s.keepOwned}
	var err error
	if cfg.Protocol, err = eval.ParseProtocol(*protocol); err != nil {
		return &exitError{code: 2, msg: "-protocol: " + err.Error()}
	}
	if cfg.Cutoff, err = parseCutoff(*cutoff); err != nil {
		return &exitError{code: 2, msg: "-cutoff: " + err.Error()}
	}
	if cfg.Horizon, err = parseDays(*horizon); err != nil {
		return &exitError{code: 2, msg: "-horizon: " + err.Error()}
	}
	if *windows < 1 {
		return &exitError{code: 2, msg: fmt.Sprintf("-windows must be at least 1, got %d", *windows)}
	}
	if *k < 1 {
		return &exitError{code: 2, msg: fmt.Sprintf("-k must be at least 1, got %d", *k)}
	}
	if ext := strings.ToLower(filepath.Ext(*plot)); *plot != "" && ext != ".svg" && ext != ".png" {
		return &exitError{code: 2, msg: fmt.Sprintf("-plot %s: the file name must end in .svg or .png", *plot)}
	}
	evs, err := d.load(s)
	if err != nil {
		return err
	}
	var trainer eval.Trainer = eval.OracleTrainer{Settings: s.oracleSettings(), Rules: s.listRules()}
	trainerName := "oracle"
	if *viaKafka {
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
	report.Dataset, report.Trainer = datasetName(d.path), trainerName
	if *plot != "" {
		if err := eval.WritePlot(*plot, report); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSON(stdout, report)
	}
	return printReport(stdout, report)
}

// printReport prints one table per target.
func printReport(w io.Writer, r *eval.Report) error {
	fmt.Fprintf(w, "%s, %s protocol, %d window(s) of %.0f days, HR@%d (trained by the %s; served scorer %s)\n",
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
		for _, res := range r.Results {
			if res.Target != target {
				continue
			}
			if !printed {
				who := "customers"
				if r.Protocol == eval.Sessions {
					who = "sessions"
				}
				fmt.Fprintf(w, "\nhit = an item %s in the window; %d %s judged\n", target, res.Customers, who)
				fmt.Fprintf(tw, "method\tHR@%d\trecall@%d\titems\tcoverage\thits\t\n", r.K, r.K)
				printed = true
			}
			fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%d\t%.1f%%\t%d\t\n", res.Method, res.HR, res.Recall, res.Items, 100*res.Coverage, res.Hits)
		}
		if err := tw.Flush(); err != nil {
			return err
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
