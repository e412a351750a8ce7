package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/dataset"
	"github.com/alsobought/alsobought/internal/lab/eval"
	"github.com/alsobought/alsobought/internal/testenv"
)

// evalJSON runs `alsobought eval -json` in this process and decodes the
// report.
func evalJSON(t *testing.T, args ...string) *eval.Report {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := run(ctx, append([]string{"eval", "-json"}, args...), &out, &errOut); err != nil {
		t.Fatalf("eval %v: %v\n%s", args, err, errOut.String())
	}
	var r eval.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("eval -json printed no report: %v\n%s", err, out.String())
	}
	return &r
}

// TestEvalViaKafkaGivesIdenticalNumbers is the promise behind the
// evaluator: the in-process streaming trainer (the default), the oracle
// retrained at every cutoff (-trainer oracle) and the real pipeline (Kafka,
// consumer, Redis, re-scorer) train exactly the same lists, window after
// window, so every method's figures, discovery and baseline included, are
// identical. Both protocols, with views and purchases.
func TestEvalViaKafkaGivesIdenticalNumbers(t *testing.T) {
	testenv.Setting(t, "ALSOBOUGHT_KAFKA_BROKERS")
	testenv.Setting(t, "ALSOBOUGHT_REDIS_ADDRS")
	yoochoose, err := dataset.Load(filepath.Join(testenv.SharedData(t), "yoochoose-1pct", "events.csv.gz"),
		dataset.Yoochoose, event.DefaultLimits(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	dunnhumby, _ := testenv.EventsFile(t, 15000)
	cases := []struct {
		name string
		args []string
	}{
		{"sessions with views", []string{"-data", testenv.WriteEvents(t, yoochoose[:40000]), "-format", "events",
			"-protocol", "session", "-windows", "2", "-horizon", "5d"}},
		{"customers", []string{"-data", dunnhumby, "-format", "events", "-windows", "2", "-horizon", "14d"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := evalJSON(t, tc.args...)
			if want.Trainer != "stream" {
				t.Fatalf("default trainer %q, want stream", want.Trainer)
			}
			if want.Customers == 0 || len(want.Results) < 7 {
				t.Fatalf("a degenerate evaluation (%d customers, %d results): pick a larger sample", want.Customers, len(want.Results))
			}
			for _, other := range []struct{ flag, trainer string }{{"-trainer=oracle", "oracle"}, {"-via-kafka", "kafka"}} {
				got := evalJSON(t, append(tc.args, other.flag)...)
				if got.Trainer != other.trainer {
					t.Fatalf("%s: trainer %q, want %q", other.flag, got.Trainer, other.trainer)
				}
				if !reflect.DeepEqual(got.Results, want.Results) || !reflect.DeepEqual(got.Baseline, want.Baseline) ||
					got.Customers != want.Customers || got.ViewCustomers != want.ViewCustomers {
					t.Fatalf("%s:\n%+v\nwant (streamed):\n%+v", other.flag, got.Results, want.Results)
				}
			}
			t.Logf("%d customers, %d results identical; served HR %.4f", want.Customers, len(want.Results), served(want))
		})
	}
}

func served(r *eval.Report) float64 {
	for _, res := range r.Results {
		if res.Method == eval.MethodServed && res.Target == eval.TargetBought {
			return res.HR
		}
	}
	return -1
}

func TestParseHorizonAndCutoff(t *testing.T) {
	for in, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "0.5d": 12 * time.Hour, "36h": 36 * time.Hour} {
		if got, err := parseDays(in); err != nil || got != want {
			t.Errorf("parseDays(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "-3d", "0d", "soon", "-1h"} {
		if _, err := parseDays(bad); err == nil {
			t.Errorf("parseDays(%q): want an error", bad)
		}
	}
	for in, want := range map[string]time.Time{
		"auto":                      {},
		"2017-06-01":                time.Date(2017, 6, 1, 0, 0, 0, 0, time.UTC),
		"2017-06-01T12:00:00+02:00": time.Date(2017, 6, 1, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := parseCutoff(in); err != nil || !got.Equal(want) {
			t.Errorf("parseCutoff(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseCutoff("June"); err == nil {
		t.Error("parseCutoff(June): want an error")
	}
}

// TestEvalAppliesHistoryMaxAge: eval trains its model with -history-max-age,
// as the stream would (docs/EVALUATION.md, "Forgetting: history age"). c1
// bought a on day 1 and b on day 40; with a 30-day age, the day-40 purchase
// drops a from c1's history, so a is no longer owned and the popularity
// list (without owned items; a is the best seller of the 14 days before the
// cutoff) recommends it to c1, who buys it again in the window.
func TestEvalAppliesHistoryMaxAge(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, d) }
	buy := func(id, customer, item string, d int) event.Event {
		return event.Event{ID: id, Type: event.Purchase, CustomerID: customer, ItemID: item, Time: day(d)}
	}
	file := testenv.WriteEvents(t, []event.Event{
		buy("e1", "c1", "a", 1), buy("e2", "c1", "b", 40),
		buy("e3", "c2", "a", 45), buy("e4", "c3", "a", 46),
		buy("e5", "c1", "a", 51),
	})
	args := []string{"-data", file, "-format", "events", "-cutoff", "2024-02-20", "-k", "1"}
	for _, tc := range []struct {
		age    string
		wantHR float64
	}{{"0", 0}, {"720h", 1}} {
		r := evalJSON(t, append(args, "-history-max-age", tc.age)...)
		for _, res := range r.Results {
			if res.Method == eval.MethodPopularity && res.Target == eval.TargetBought {
				if res.Customers != 1 || res.HR != tc.wantHR {
					t.Errorf("-history-max-age %s: popularity HR %.2f over %d customers, want %.0f over 1", tc.age, res.HR, res.Customers, tc.wantHR)
				}
			}
		}
	}
}

// TestPrintReportMarksTheBaseline: the table gives every method's discovery
// figures, marks the goal's baseline row and prints served over it.
func TestPrintReportMarksTheBaseline(t *testing.T) {
	r := &eval.Report{Dataset: "shop/events.jsonl", Protocol: eval.Customers, Windows: 1, HorizonDays: 14, K: 6, Trainer: "stream",
		Served: "amazon2017_prior", ItemsSeen: 100,
		Results: []eval.Result{
			{Method: eval.MethodPopularity, Target: eval.TargetBought, HR: 0.05, Customers: 200, Hits: 10, DiscoveryHR: 0.055, DiscoveryHits: 10, DiscoveryCustomers: 180},
			{Method: eval.MethodBuyAgain, Target: eval.TargetBought, HR: 0.09, Customers: 200, Hits: 18, DiscoveryHR: 0.0056, DiscoveryHits: 1, DiscoveryCustomers: 180},
			{Method: eval.MethodServed, Target: eval.TargetBought, HR: 0.099, Customers: 200, Hits: 20, DiscoveryHR: 0.03, DiscoveryHits: 6, DiscoveryCustomers: 180},
		},
		Baseline: map[eval.Target]eval.Baseline{eval.TargetBought: {Method: eval.MethodBuyAgain, HR: 0.09, ServedHR: 0.099, ServedOverBaseline: 1.1}},
	}
	var out bytes.Buffer
	if err := printReport(&out, r); err != nil {
		t.Fatal(err)
	}
	var marked []string
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 9 && f[8] == "baseline" {
			marked = append(marked, f[0])
		}
	}
	for _, want := range []string{"200 customers judged, 180 of them with a target they did not own",
		"buy_again  0.0900  0.0000  0  0.0%  18  0.0056  1  baseline",
		"buy_again, HR 0.0900; served 0.0990, 1.10 times the baseline"} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), "  "), strings.Join(strings.Fields(want), "  ")) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	if len(marked) != 1 || marked[0] != eval.MethodBuyAgain {
		t.Errorf("rows marked as the baseline: %v, want buy_again only\n%s", marked, out.String())
	}
}
