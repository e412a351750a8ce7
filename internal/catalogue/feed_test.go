package catalogue

import (
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
)

var lim = event.DefaultLimits(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))

func TestReadCSVFeed(t *testing.T) {
	in := "\ufeffItem_ID,title,status,available_from,available_until,category,price\n" +
		"sku-1,Garden chair,hidden,,,garden,12.50\n" +
		"sku-2,\"Lamp, brass\",available,2026-03-01T09:00:00+01:00,1774994400000,,30\n" +
		"sku-3,Bare minimum\n" +
		"sku 4,Bad id,,,,,\n" +
		"sku-5,Bad status,sold_out,,,,\n"
	feed, err := Read(strings.NewReader(in), FormatCSV, lim)
	if err != nil {
		t.Fatal(err)
	}
	want := []event.Item{
		{ID: "sku-1", Status: event.Hidden, Category: "garden"},
		{ID: "sku-2", Status: event.Available, From: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), Until: time.UnixMilli(1774994400000).UTC()},
		{ID: "sku-3", Status: event.Available},
	}
	if len(feed.Items) != len(want) {
		t.Fatalf("items %+v, want %+v", feed.Items, want)
	}
	for i := range want {
		if !feed.Items[i].Equal(want[i]) {
			t.Errorf("item %d: %+v, want %+v", i, feed.Items[i], want[i])
		}
	}
	if len(feed.Bad) != 2 || feed.Bad[0].Line != 5 || event.ReasonOf(feed.Bad[0].Err) != event.ReasonBadIDChars ||
		feed.Bad[1].Line != 6 || event.ReasonOf(feed.Bad[1].Err) != event.ReasonUnknownStatus {
		t.Fatalf("bad lines %v; want line 5 bad_id_chars and line 6 unknown_status", feed.Bad)
	}
}

func TestReadCSVFeedNeedsItemIDs(t *testing.T) {
	for _, in := range []string{"", "sku,status\nsku-1,hidden\n"} {
		if _, err := Read(strings.NewReader(in), FormatCSV, lim); err == nil {
			t.Errorf("feed %q read without error", in)
		}
	}
}

func TestReadJSONLFeed(t *testing.T) {
	in := `{"item_id":"sku-1","status":"hidden"}

{"item_id":"sku-2","available_until":"2026-03-01T00:00:00Z","available_from":"2026-03-02T00:00:00Z"}
not json
{"item_id":"sku-3","category":"toys","title":"ignored"}
`
	feed, err := Read(strings.NewReader(in), FormatJSONL, lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(feed.Items) != 2 || feed.Items[0].ID != "sku-1" || feed.Items[1].Category != "toys" {
		t.Fatalf("items %+v", feed.Items)
	}
	if len(feed.Bad) != 2 || feed.Bad[0].Line != 3 || event.ReasonOf(feed.Bad[0].Err) != event.ReasonBadWindow ||
		feed.Bad[1].Line != 4 || event.ReasonOf(feed.Bad[1].Err) != event.ReasonInvalidJSON {
		t.Fatalf("bad lines %v; want line 3 bad_window, line 4 invalid_json", feed.Bad)
	}
}

func TestFormatOf(t *testing.T) {
	for path, want := range map[string]string{"feed.csv": FormatCSV, "feed.CSV.gz": FormatCSV, "a.jsonl": FormatJSONL,
		"a.ndjson.gz": FormatJSONL, "feed.txt": "", "feed": ""} {
		if got := FormatOf(path); got != want {
			t.Errorf("FormatOf(%q) = %q, want %q", path, got, want)
		}
	}
}

// FuzzReadCSV: whatever a CSV feed holds, Read never panics, every record
// it returns validates, and every bad line names a line of the input.
func FuzzReadCSV(f *testing.F) {
	f.Add("item_id,status\nsku-1,hidden\n")
	f.Add("item_id,available_from,available_until\na,1,0\n\"b\n")
	f.Fuzz(func(t *testing.T, in string) {
		feed, err := Read(strings.NewReader(in), FormatCSV, lim)
		if err != nil {
			return
		}
		for _, it := range feed.Items {
			if err := it.Validate(lim); err != nil {
				t.Fatalf("a record read from the feed does not validate: %+v: %v", it, err)
			}
		}
		lines := strings.Count(in, "\n") + 1
		for _, b := range feed.Bad {
			if b.Line < 1 || b.Line > lines {
				t.Fatalf("bad line %d of an input of %d lines", b.Line, lines)
			}
		}
	})
}
