package event

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"
)

// IDChars lists the bytes allowed in ids and categories. Everything else
// (spaces, braces, '#', '|', '~', quotes, control characters, non-ASCII) is
// rejected, so ids can be used in Redis keys and hash tags as they are.
const IDChars = "A-Za-z0-9._:@/+=-"

var idByte = func() (t [256]bool) {
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "._:@/+=-" {
		t[c] = true
	}
	return t
}()

// IsIDByte reports whether c may appear in an id or category (IDChars).
func IsIDByte(c byte) bool { return idByte[c] }

// ValidID checks the id rule: s is 1..maxLen bytes, each in IDChars
// ([A-Za-z0-9._:@/+=-]). maxLen <= 0 means DefaultMaxIDLen. The error is an
// *Error with Reason ReasonMissingField (empty), ReasonIDTooLong or
// ReasonBadIDChars and an empty Field.
func ValidID(s string, maxLen int) error {
	if err := checkID(s, maxLen); err != nil {
		return err
	}
	return nil
}

func checkID(s string, maxLen int) *Error { return checkIDShown(s, maxLen, quoteShort) }

// checkIDShown is checkID whose detail shows the id with show: a customer
// id is personal data, shown only as its Fingerprint.
func checkIDShown(s string, maxLen int, show func(string) string) *Error {
	if maxLen <= 0 {
		maxLen = DefaultMaxIDLen
	}
	if s == "" {
		return newError(ReasonMissingField, "", "empty")
	}
	if len(s) > maxLen {
		return newError(ReasonIDTooLong, "", fmt.Sprintf("%d bytes, limit %d", len(s), maxLen))
	}
	for i := 0; i < len(s); i++ {
		if !idByte[s[i]] {
			return newError(ReasonBadIDChars, "",
				fmt.Sprintf("byte %#02x at offset %d of %s is not in [%s]", s[i], i, show(s), IDChars))
		}
	}
	return nil
}

// Fingerprint stands for a customer id (or a message key, which should
// be one) in error details, dead letters and logs: the first 12 hex digits
// of its SHA-256, and its size. Enough to tell ids apart and to find a
// known one (`printf %s ID | sha256sum`), without writing the id itself
// where personal data is not expected (docs/security.md).
func Fingerprint(id []byte) string {
	sum := sha256.Sum256(id)
	return "sha256:" + hex.EncodeToString(sum[:6]) + " (" + strconv.Itoa(len(id)) + " bytes)"
}

// quoteShort quotes at most the first 40 bytes of s, for error details.
func quoteShort(s string) string {
	const max = 40
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// Validate checks e against the contract and lim, in the order Decode uses:
// required fields (ReasonMissingField; a zero Time counts as absent), ids
// and category (ReasonIDTooLong, ReasonBadIDChars), type
// (ReasonUnknownType), time precision (ReasonBadTimestamp: finer than a
// millisecond), time window (ReasonTimeOutOfWindow), then quantity and price
// (ReasonBadNumber: negative, NaN or infinite). The error is an *Error.
func (e Event) Validate(lim Limits) error {
	lim = lim.withDefaults()
	if err := e.checkIdentity(lim, !e.Time.IsZero()); err != nil {
		return err
	}
	if e.Time.Nanosecond()%int(time.Millisecond) != 0 {
		return newError(ReasonBadTimestamp, fieldTS, "finer than a millisecond: "+e.Time.UTC().Format(time.RFC3339Nano))
	}
	if err := checkWindow(e.Time, lim); err != nil {
		return err
	}
	if err := checkNumbers(e.Quantity, e.Price); err != nil {
		return err
	}
	return nil
}

// JSON field names, also used as Error.Field.
const (
	fieldID       = "event_id"
	fieldType     = "type"
	fieldCustomer = "customer_id"
	fieldItem     = "item_id"
	fieldTS       = "ts"
	fieldQuantity = "quantity"
	fieldPrice    = "price"
	fieldCategory = "category"
)

// checkIdentity runs the required-field, id and type checks. haveTS says
// whether ts is present (Decode checks its form later).
func (e *Event) checkIdentity(lim Limits, haveTS bool) *Error {
	switch {
	case e.ID == "":
		return newError(ReasonMissingField, fieldID, "required")
	case e.Type == "":
		return newError(ReasonMissingField, fieldType, "required")
	case e.CustomerID == "":
		return newError(ReasonMissingField, fieldCustomer, "required")
	case e.ItemID == "":
		return newError(ReasonMissingField, fieldItem, "required")
	case !haveTS:
		return newError(ReasonMissingField, fieldTS, "required")
	}
	if err := checkID(e.ID, lim.MaxIDLen); err != nil {
		err.Field = fieldID
		return err
	}
	if err := checkIDShown(e.CustomerID, lim.MaxIDLen, func(s string) string { return Fingerprint([]byte(s)) }); err != nil {
		err.Field = fieldCustomer
		return err
	}
	if err := checkID(e.ItemID, lim.MaxIDLen); err != nil {
		err.Field = fieldItem
		return err
	}
	if e.Category != "" {
		if err := checkID(e.Category, lim.MaxCategoryLen); err != nil {
			err.Field = fieldCategory
			return err
		}
	}
	if !e.Type.Valid() {
		return newError(ReasonUnknownType, fieldType, quoteShort(string(e.Type))+` is not "purchase" or "view"`)
	}
	return nil
}

func checkWindow(t time.Time, lim Limits) *Error {
	if !lim.MinTime.IsZero() && t.Before(lim.MinTime) {
		return newError(ReasonTimeOutOfWindow, fieldTS,
			fmt.Sprintf("%s is before %s", fmtTime(t), fmtTime(lim.MinTime)))
	}
	if !lim.MaxTime.IsZero() && t.After(lim.MaxTime) {
		return newError(ReasonTimeOutOfWindow, fieldTS,
			fmt.Sprintf("%s is after %s", fmtTime(t), fmtTime(lim.MaxTime)))
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func checkNumbers(q, p *float64) *Error {
	if err := checkNumber(fieldQuantity, q); err != nil {
		return err
	}
	return checkNumber(fieldPrice, p)
}

func checkNumber(field string, v *float64) *Error {
	if v == nil {
		return nil
	}
	f := *v
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return newError(ReasonBadNumber, field, "not finite")
	case f < 0:
		return newError(ReasonBadNumber, field, "negative: "+strconv.FormatFloat(f, 'g', -1, 64))
	}
	return nil
}
