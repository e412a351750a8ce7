// Package dataset turns interaction files into events (docs/events.md,
// "Replay input formats"): the shared public data sets (Dunnhumby "The
// Complete Journey" transactions, YOOCHOOSE clicks and buys, MovieLens
// ratings) and users' own files in the "events" format.
//
// Every loader reads the whole file (gzip is detected by its magic bytes,
// whatever the file is called), converts each line to an event.Event,
// validates it with the caller's event.Limits, and returns the events sorted
// stably by (time, line number): the order replay produces them in and the
// batch oracle applies them in. A line that cannot be converted or fails
// validation stops the load with a *LineError naming the file and line; no
// line is silently skipped (blank lines of line-oriented formats excepted).
//
// Files without event ids get one derived from (format, base file name,
// line number), e.g. "dunnhumby:transactions.csv.gz:12345", so identical
// rows on different lines stay distinct events and a replay of the same
// file yields the same ids (see DerivedID).
package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/alsobought/alsobought/event"
)

// Format names an input file format.
type Format string

const (
	// Dunnhumby is the transactions table of the completejourney R package
	// (CSV with a header): purchases of household_id x product_id. Time:
	// transaction_timestamp such as "2017-01-28T14:06:53-0500" (not RFC
	// 3339) parsed with DunnhumbyTimeLayout and converted to UTC. Details:
	// readDunnhumby in dunnhumby.go and docs/events.md.
	Dunnhumby Format = "dunnhumby"
	// Yoochoose is the YOOCHOOSE (RecSys Challenge 2015) sample as CSV with
	// a header: views and purchases, a session counting as a customer. Time:
	// timestamp_ms, epoch milliseconds (UTC), as is. Details: readYoochoose.
	Yoochoose Format = "yoochoose"
	// MovieLens is a MovieLens ratings file (u.data: tab-separated, no
	// header): each rating a purchase ("watched"), the rating ignored.
	// Time: unix seconds, times 1000 ms (UTC). Details: readMovieLens.
	MovieLens Format = "movielens"
	// Events is the project's own replay format: JSON lines of the event
	// contract or CSV with named columns. Time: ts as integer epoch
	// milliseconds or RFC 3339 (converted to UTC, truncated to the
	// millisecond). Details: readEvents.
	Events Format = "events"
)

var formats = []Format{Dunnhumby, Yoochoose, MovieLens, Events}

// Formats returns the known formats.
func Formats() []Format { return slices.Clone(formats) }

// ParseFormat returns the Format named s (case-insensitive, surrounding
// spaces ignored). An unknown name is an error that lists the valid ones.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(formats, f) {
		return f, nil
	}
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("dataset: unknown format %q (valid formats: %s)", s, strings.Join(names, ", "))
}

// LineError is a line of an input file that could not be turned into a
// valid event. Err is often an *event.Error, so event.ReasonOf(err) gives
// the dead-letter reason the same problem would get on the topic.
type LineError struct {
	File string // the path given to Load, or the name given to Read
	Line int    // 1-based physical line; for CSV, the line the record starts on
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

func (e *LineError) Unwrap() error { return e.Err }

// Load reads the file at path in format f and returns its events, valid
// under lim and sorted stably by (time, line number). Gzip-compressed files
// are read transparently. Errors name the file and, for bad lines, the line
// (*LineError).
func Load(path string, f Format, lim event.Limits) ([]event.Event, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer file.Close()
	return Read(file, path, f, lim)
}

// Read is Load for an already open input. name stands for the file: errors
// carry it, and derived event ids use its base name (filepath.Base).
func Read(r io.Reader, name string, f Format, lim event.Limits) ([]event.Event, error) {
	var read func(*bufio.Reader, *source) ([]event.Event, error)
	switch f {
	case Dunnhumby:
		read = readDunnhumby
	case Yoochoose:
		read = readYoochoose
	case MovieLens:
		read = readMovieLens
	case Events:
		read = readEvents
	default:
		if _, err := ParseFormat(string(f)); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("dataset: unknown format %q (use ParseFormat)", f)
	}
	br, err := open(r)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", name, err)
	}
	src := &source{name: name, format: f, lim: lim, base: sanitize(filepath.Base(name))}
	evs, err := read(br, src)
	if err != nil {
		var le *LineError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, fmt.Errorf("dataset: %s: %w", name, err)
	}
	slices.SortStableFunc(evs, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	return evs, nil
}

const bufSize = 64 << 10

// open returns a buffered reader of the decompressed content of r, with a
// UTF-8 byte order mark removed.
func open(r io.Reader) (*bufio.Reader, error) {
	br := bufio.NewReaderSize(r, bufSize)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(zr, bufSize)
	}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	return br, nil
}

// source is the file being read.
type source struct {
	name   string
	format Format
	lim    event.Limits
	base   string // sanitized base name, for derived ids
}

func (s *source) lineErr(line int, err error) error {
	return &LineError{File: s.name, Line: line, Err: err}
}

// id returns the derived event id of a line.
func (s *source) id(line int) string {
	return derivedID(s.format, s.base, line, s.lim.MaxIDLen)
}

// finish validates e and wraps a failure with its line.
func (s *source) finish(e *event.Event, line int) error {
	if err := e.Validate(s.lim); err != nil {
		return s.lineErr(line, err)
	}
	return nil
}

// DerivedID returns the event id that loaders give line `line` of a file
// called name in format f: "<format>:<base name>:<line>", the base name
// with every byte outside the id charset replaced by '_' and, if the id
// would exceed maxIDLen (<= 0: event.DefaultMaxIDLen), cut short at its end.
// Two files with the same base name (in different folders) get the same
// ids: de-duplication then treats their lines as the same events.
func DerivedID(f Format, name string, line, maxIDLen int) string {
	return derivedID(f, sanitize(filepath.Base(name)), line, maxIDLen)
}

func derivedID(f Format, base string, line, maxIDLen int) string {
	if maxIDLen <= 0 {
		maxIDLen = event.DefaultMaxIDLen
	}
	suffix := strconv.Itoa(line)
	if room := maxIDLen - len(f) - len(suffix) - 2; len(base) > room && room > 0 {
		base = base[:room]
	}
	return string(f) + ":" + base + ":" + suffix
}

func sanitize(s string) string {
	if s == "" || s == "." || s == string(filepath.Separator) {
		return "input"
	}
	b := []byte(s)
	for i, c := range b {
		if !event.IsIDByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}
