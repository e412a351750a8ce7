package event_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/event"
)

// TestDocsExamples keeps docs/events.md honest: its JSON examples decode,
// its rejected examples fail with the stated reason and field, and its
// reasons table lists every Reason in check order.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)

	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d json blocks in docs/events.md", len(blocks))
	}
	for _, m := range blocks {
		if _, err := event.Decode([]byte(strings.TrimSpace(m[1])), lim); err != nil {
			t.Errorf("docs example %s: %v", m[1], err)
		}
	}

	rejected := regexp.MustCompile("(?m)^\\| `(\\{.*\\})` \\| `([a-z_0-9]+)` \\| `([a-z_]+)` \\|$").FindAllStringSubmatch(doc, -1)
	if len(rejected) < 5 {
		t.Fatalf("found %d rejected examples in docs/events.md", len(rejected))
	}
	for _, m := range rejected {
		_, err := event.Decode([]byte(m[1]), lim)
		var ee *event.Error
		if !errors.As(err, &ee) || string(ee.Reason) != m[2] || ee.Field != m[3] {
			t.Errorf("docs example %s: got %v, want %s on %s", m[1], err, m[2], m[3])
		}
	}

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
