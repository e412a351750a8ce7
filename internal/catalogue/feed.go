package catalogue

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alsobought/alsobought/event"
)

// Feed formats `alsobought catalogue load` reads (docs/events.md,
// "Catalogue records").
const (
	// FormatCSV is a product feed with a header row naming its columns:
	// item_id, and any of status, available_from, available_until and
	// category; other columns (a title, a price) are ignored, and an empty
	// cell is an absent field.
	FormatCSV = "csv"
	// FormatJSONL is one item record per line, as on the topic.
	FormatJSONL = "jsonl"
)

// FormatOf names the format of a feed file by its extension (.csv, .jsonl
// or .ndjson, each optionally .gz); "" when it says none.
func FormatOf(path string) string {
	ext := strings.ToLower(strings.TrimSuffix(path, ".gz"))
	switch filepath.Ext(ext) {
	case ".csv":
		return FormatCSV
	case ".jsonl", ".ndjson":
		return FormatJSONL
	}
	return ""
}

// BadLine is a feed line that is not a valid item record.
type BadLine struct {
	Line int // 1-based, the header counting as line 1 in CSV
	Err  error
}

func (b BadLine) Error() string { return fmt.Sprintf("line %d: %v", b.Line, b.Err) }

// Feed is what a feed file holds: its valid records, in file order, and its
// invalid lines.
type Feed struct {
	Items []event.Item
	Bad   []BadLine
}

// ReadFile reads a feed file (gzip-compressed when its name ends in .gz)
// in the given format. Every line is checked with the rules the topic's
// consumer applies (event.DecodeItem), so what a load publishes is
// applied, and a bad line is reported with its number rather than
// dead-lettered later.
func ReadFile(path, format string, lim event.Limits) (Feed, error) {
	f, err := os.Open(path)
	if err != nil {
		return Feed{}, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(strings.ToLower(path), ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return Feed{}, fmt.Errorf("%s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	return Read(r, format, lim)
}

// Read reads a feed in the given format.
func Read(r io.Reader, format string, lim event.Limits) (Feed, error) {
	switch format {
	case FormatCSV:
		return readCSV(r, lim)
	case FormatJSONL:
		return readJSONL(r, lim)
	}
	return Feed{}, fmt.Errorf("feed format %q: use %s or %s", format, FormatCSV, FormatJSONL)
}

func readJSONL(r io.Reader, lim event.Limits) (Feed, error) {
	var feed Feed
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		feed.add(n, line, lim)
	}
	if err := sc.Err(); err != nil {
		return Feed{}, fmt.Errorf("read feed: %w", err)
	}
	return feed, nil
}

// csvFields are the columns a CSV feed may carry, as record fields.
var csvFields = []string{"item_id", "status", "available_from", "available_until", "category"}

func readCSV(r io.Reader, lim event.Limits) (Feed, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return Feed{}, errors.New("feed is empty: want a header row naming item_id and any of " + strings.Join(csvFields[1:], ", "))
	}
	if err != nil {
		return Feed{}, fmt.Errorf("read feed header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := col["item_id"]; !ok {
		return Feed{}, fmt.Errorf("feed header %q has no item_id column", strings.Join(header, ","))
	}
	var feed Feed
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return feed, nil
		}
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				feed.Bad = append(feed.Bad, BadLine{Line: perr.StartLine, Err: err})
				continue
			}
			return Feed{}, fmt.Errorf("read feed: %w", err)
		}
		line, _ := cr.FieldPos(0)
		// The row as a JSON record, so that it passes the topic's rules.
		rec := map[string]any{}
		for _, f := range csvFields {
			i, ok := col[f]
			if !ok || i >= len(row) || strings.TrimSpace(row[i]) == "" {
				continue
			}
			v := strings.TrimSpace(row[i])
			if (f == "available_from" || f == "available_until") && isDigits(v) {
				rec[f] = json.Number(v) // epoch milliseconds
			} else {
				rec[f] = v
			}
		}
		b, _ := json.Marshal(rec) // strings and numbers always marshal
		feed.add(line, b, lim)
	}
}

func (f *Feed) add(line int, record []byte, lim event.Limits) {
	it, err := event.DecodeItem(record, lim)
	if err != nil {
		f.Bad = append(f.Bad, BadLine{Line: line, Err: err})
		return
	}
	f.Items = append(f.Items, it)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
