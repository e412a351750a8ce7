package event_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/event"
)

// TestDocsExamples keeps docs/events.md honest: its JSON examples decode
// (as item records in the catalogue section, as events elsewhere), its
// rejected examples fail with the stated reason and field, and its reasons
// table lists every Reason in check order.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, catalogue := catalogueSection(t, string(b))
	checkExamples(t, catalogue, func(p []byte) error { _, err := event.DecodeItem(p, lim); return err }, 2, 3)
	checkExamples(t, doc, func(p []byte) error { _, err := event.Decode(p, lim); return err }, 3, 5)

	rows := regexp.MustCompile("(?m)^\\| (\\d+) \\| `([a-z_0-9]+)` \\|").FindAllStringSubmatch(doc, -1)
	var got []string
	for _, m := range rows {
		got = append(got, m[2])
	}
	var want []string
	for _, r := range event.Reasons() {
		want = append(want, string(r))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("reasons table of docs/events.md:\n got %v\nwant %v", got, want)
	}
}

// catalogueSection splits docs/events.md into its catalogue records
// section and the rest.
func catalogueSection(t *testing.T, doc string) (rest, section string) {
	t.Helper()
	i := strings.Index(doc, "\n## Catalogue records\n")
	if i < 0 {
		t.Fatal(`docs/events.md has no "## Catalogue records" section`)
	}
	n := strings.Index(doc[i+1:], "\n## ")
	if n < 0 {
		return doc[:i], doc[i:]
	}
	return doc[:i] + doc[i+1+n:], doc[i : i+1+n]
}

// checkExamples decodes the JSON blocks of doc, which must succeed, and the
// payloads of its rejected table, which must fail with the stated reason
// and field; doc must hold at least the given numbers of each.
func checkExamples(t *testing.T, doc string, decode func([]byte) error, minBlocks, minRejected int) {
	t.Helper()
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < minBlocks {
		t.Fatalf("found %d json blocks, want at least %d", len(blocks), minBlocks)
	}
	for _, m := range blocks {
		if err := decode([]byte(strings.TrimSpace(m[1]))); err != nil {
			t.Errorf("docs example %s: %v", m[1], err)
		}
	}
	rejected := regexp.MustCompile("(?m)^\\| `(\\{.*\\})` \\| `([a-z_0-9]+)` \\| `([a-z_]+)` \\|$").FindAllStringSubmatch(doc, -1)
	if len(rejected) < minRejected {
		t.Fatalf("found %d rejected examples, want at least %d", len(rejected), minRejected)
	}
	for _, m := range rejected {
		err := decode([]byte(m[1]))
		var ee *event.Error
		if !errors.As(err, &ee) || string(ee.Reason) != m[2] || ee.Field != m[3] {
			t.Errorf("docs example %s: got %v, want %s on %s", m[1], err, m[2], m[3])
		}
	}
}
