package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/alsobought/alsobought/event"
)

// csvFile reads a CSV file with a header row (RFC 4180: quoted fields,
// CRLF or LF line ends).
type csvFile struct {
	src  *source
	r    *csv.Reader
	cols map[string]int // lower-cased, trimmed header name -> column
}

func newCSV(r io.Reader, src *source) (*csvFile, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, src.lineErr(1, errors.New("empty file: want a CSV header"))
	}
	if err != nil {
		return nil, csvErr(src, err)
	}
	cols := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := cols[h]; dup {
			return nil, src.lineErr(1, fmt.Errorf("column %q appears twice in the header", h))
		}
		cols[h] = i
	}
	return &csvFile{src: src, r: cr, cols: cols}, nil
}

// col returns the index of a column, or -1.
func (c *csvFile) col(name string) int {
	if i, ok := c.cols[name]; ok {
		return i
	}
	return -1
}

// require returns the indices of the named columns, or an error listing
// those missing from the header.
func (c *csvFile) require(names ...string) ([]int, error) {
	idx := make([]int, len(names))
	var missing []string
	for i, n := range names {
		if idx[i] = c.col(n); idx[i] < 0 {
			missing = append(missing, n)
		}
	}
	if missing != nil {
		return nil, c.src.lineErr(1, fmt.Errorf("header lacks column(s) %s (want %s)",
			strings.Join(missing, ", "), strings.Join(names, ", ")))
	}
	return idx, nil
}

// each calls fn for every record after the header with the record and the
// line it starts on; the record is reused between calls (its strings are
// not). It stops at the first error, wrapped with the line.
func (c *csvFile) each(fn func(rec []string, line int) error) error {
	for {
		rec, err := c.r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return csvErr(c.src, err)
		}
		line, _ := c.r.FieldPos(0)
		if err := fn(rec, line); err != nil {
			var le *LineError
			if errors.As(err, &le) {
				return err
			}
			return c.src.lineErr(line, err)
		}
	}
}

// cell returns column i of a record, or "" for a column the header lacks
// (i < 0).
func cell(rec []string, i int) string {
	if i < 0 {
		return ""
	}
	return rec[i]
}

func csvErr(src *source, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return src.lineErr(pe.StartLine, fmt.Errorf("CSV: line %d, column %d: %w", pe.Line, pe.Column, pe.Err))
	}
	return fmt.Errorf("reading: %w", err)
}

// parseFloat parses an optional non-negative number: "" is absent.
// Negative, NaN and infinite values are left to event.Validate.
func parseFloat(field, s string) (*float64, error) {
	if s == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return nil, &event.Error{Reason: event.ReasonBadNumber, Field: field, Detail: "not a number: " + strconv.Quote(s)}
	}
	if f == 0 {
		f = 0 // no negative zero
	}
	return &f, nil
}

// parseMillis parses integer epoch milliseconds from the named column.
func parseMillis(field, s string) (time.Time, error) {
	ms, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return time.Time{}, &event.Error{Reason: event.ReasonBadTimestamp, Field: field, Detail: "not integer epoch milliseconds: " + strconv.Quote(s)}
	}
	return time.UnixMilli(ms).UTC(), nil
}

// isInteger reports whether s is an optional '-' followed by digits.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ms truncates t to milliseconds, in UTC.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }
