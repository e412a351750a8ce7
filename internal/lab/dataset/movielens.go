package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/alsobought/alsobought/event"
)

// readMovieLens reads MovieLens ratings without a header: u.data of
// MovieLens 100K ("user_id<TAB>item_id<TAB>rating<TAB>unix_seconds"), or
// ratings.dat of MovieLens 1M/10M (the same fields separated by "::").
//
// Each rating becomes a purchase, read as "watched" (the seed article's
// Prime Video setting): customer = user_id, item = item_id. The rating
// itself is ignored: a 1-star film was still watched. No quantity, price or
// category. Blank lines are skipped.
//
// Time: unix_seconds are whole seconds since the epoch, UTC; the event time
// is seconds*1000 milliseconds. Event ids are derived:
// "movielens:<file>:<line>".
func readMovieLens(br *bufio.Reader, src *source) ([]event.Event, error) {
	var evs []event.Event
	err := eachLine(br, src, func(b []byte, line int) error {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil
		}
		sep := []byte{'\t'}
		if bytes.Contains(b, []byte("::")) {
			sep = []byte("::")
		}
		f := bytes.Split(b, sep)
		if len(f) != 4 {
			return fmt.Errorf("want 4 fields (user_id, item_id, rating, unix_seconds) separated by tabs or \"::\", got %d", len(f))
		}
		sec, err := strconv.ParseInt(string(f[3]), 10, 64)
		if err != nil {
			return &event.Error{Reason: event.ReasonBadTimestamp, Field: "unix_seconds", Detail: "not integer seconds: " + strconv.Quote(string(f[3]))}
		}
		e := event.Event{ID: src.id(line), Type: event.Purchase, CustomerID: string(f[0]), ItemID: string(f[1]),
			Time: time.Unix(sec, 0).UTC()}
		if err := src.finish(&e, line); err != nil {
			return err
		}
		evs = append(evs, e)
		return nil
	})
	return evs, err
}

// eachLine calls fn for every line of br with its 1-based number; the line
// excludes "\n" and a trailing "\r" and is only valid during the call.
func eachLine(br *bufio.Reader, src *source, fn func(b []byte, line int) error) error {
	var long []byte
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading line %d: %w", line, err)
		}
		if len(b) == 0 && err == io.EOF {
			return nil
		}
		b = bytes.TrimSuffix(b, []byte{'\n'})
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if ferr := fn(b, line); ferr != nil {
			var le *LineError
			if errors.As(ferr, &le) {
				return ferr
			}
			return src.lineErr(line, ferr)
		}
		if err == io.EOF {
			return nil
		}
	}
}
