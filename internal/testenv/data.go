package testenv

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/lab/dataset"
)

var dunnhumby struct {
	once sync.Once
	evs  []event.Event
	err  error
}

// Dunnhumby returns the events of the bundled Dunnhumby sample, in replay
// order, loaded once per test process. Callers must not modify them.
func Dunnhumby(t testing.TB) []event.Event {
	t.Helper()
	dunnhumby.once.Do(func() {
		dunnhumby.evs, dunnhumby.err = dataset.Load(RepoFile("testdata/dunnhumby/transactions.csv.gz"),
			dataset.Dunnhumby, event.DefaultLimits(time.Now()))
	})
	if dunnhumby.err != nil {
		t.Fatal(dunnhumby.err)
	}
	return dunnhumby.evs
}

// EventsFile writes the first n events of the Dunnhumby sample as JSON lines
// (the "events" format of `alsobought verify`) to a temporary file, and
// returns its path and the events (see WriteEvents).
func EventsFile(t testing.TB, n int) (string, []event.Event) {
	t.Helper()
	evs := Dunnhumby(t)
	if n > len(evs) {
		t.Fatalf("the sample has %d events, not %d", len(evs), n)
	}
	evs = evs[:n:n]
	return WriteEvents(t, evs), evs
}

// WriteEvents writes events as JSON lines (the "events" format) to a
// temporary file and returns its path. Events sorted by time reload in the
// same order: the events loader sorts stably.
func WriteEvents(t testing.TB, evs []event.Event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	var line []byte
	for _, e := range evs {
		line = append(event.AppendEncode(line[:0], e), '\n')
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// VerifyCLI re-scores every list with `alsobought rescore --all`, then
// compares the whole state with the oracle built from dataFile with
// `alsobought verify --format events`, under the same settings. The test
// fails unless verify exits 0 and says Redis matches; the report is logged
// either way.
func VerifyCLI(t testing.TB, cfg ServeConfig, dataFile string) {
	t.Helper()
	out, errOut, code := RunCLI(t, cfg, "rescore", "--all")
	if code != 0 {
		t.Fatalf("alsobought rescore --all: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("rescore: %s", strings.TrimSpace(out))
	out, errOut, code = RunCLI(t, cfg, "verify", "--data", dataFile, "--format", "events")
	const ok = "OK: Redis matches the oracle"
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), ok) {
		t.Fatalf("alsobought verify: exit %d, the state differs from the oracle:\n%s%s", code, out, errOut)
	}
	t.Logf("verify:\n%s", strings.TrimSpace(out))
}
