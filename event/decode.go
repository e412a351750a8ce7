package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Decode parses one event from a Kafka message value (docs/events.md).
//
// The payload must be a single JSON object with the fields event_id, type,
// customer_id, item_id and ts (required), and quantity, price and category
// (optional). Field names match exactly (case-sensitive); unknown fields are
// ignored; a null value counts as absent; a known field given twice is
// invalid_json. ts is an RFC 3339 string (fractional seconds allowed) or an
// integer JSON number of epoch milliseconds; digits finer than a millisecond
// are truncated, and Time is returned in UTC.
//
// Checks run in this order and the first failure is returned as an *Error:
// payload size (too_large), UTF-8 (not_utf8), JSON syntax: one object,
// nothing after it (invalid_json), field types (wrong_field_type), required
// fields present and non-empty (missing_field), ids and category
// (id_too_long, bad_id_chars), type (unknown_type), ts form
// (bad_timestamp), ts window (ts_out_of_window), quantity and price
// (bad_number: negative, or too large for a float64).
func Decode(data []byte, lim Limits) (Event, error) {
	e, err := decode(data, lim, "")
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

// DecodeDefaultID is Decode for inputs where event_id is optional, such as
// files a user replays: when event_id is absent or null, the event gets
// defaultID instead (which must itself pass the id rule). An empty-string
// event_id is still missing_field.
func DecodeDefaultID(data []byte, lim Limits, defaultID string) (Event, error) {
	e, err := decode(data, lim, defaultID)
	if err != nil {
		return Event{}, err
	}
	return e, nil
}

// Field slots of the event scanner.
const (
	slotID = iota
	slotType
	slotCustomer
	slotItem
	slotTS
	slotQuantity
	slotPrice
	slotCategory
	nSlots
)

// eventFields are the known fields of an event, in slot order.
var eventFields = objectFields{
	names: []string{fieldID, fieldType, fieldCustomer, fieldItem, fieldTS, fieldQuantity, fieldPrice, fieldCategory},
	kinds: []uint8{str, str, str, str, str | num, num, num, str},
}

// objectFields describe the known fields of one kind of JSON object for
// scanObject: their names, in slot order, and for each the JSON kinds it
// accepts (str, num or both).
type objectFields struct {
	names []string
	kinds []uint8
}

// Kinds a field may accept (objectFields.kinds).
const (
	str uint8 = 1 << iota
	num
)

// accepts reports whether a field of the given kinds accepts a value of a
// scanned kind.
func accepts(kinds uint8, kind byte) bool {
	return kind == kindString && kinds&str != 0 || kind == kindNumber && kinds&num != 0
}

// JSON value kinds, as found by the scanner.
const (
	kindNone   = 0
	kindString = 's'
	kindNumber = 'n'
	kindObject = 'o'
	kindArray  = 'a'
	kindBool   = 'b'
	kindNull   = 'z'
)

var kindNames = map[byte]string{
	kindString: "string", kindNumber: "number", kindObject: "object",
	kindArray: "array", kindBool: "boolean", kindNull: "null",
}

type rawValue struct {
	tok  []byte // the JSON token, quotes included for strings
	kind byte
	esc  bool // string token contains a backslash escape
}

func decode(data []byte, lim Limits, defaultID string) (Event, *Error) {
	lim = lim.withDefaults()
	var raw [nSlots]rawValue
	if err := scanPayload(data, lim, &eventFields, raw[:]); err != nil {
		return Event{}, err
	}

	var e Event
	e.ID = rawString(raw[slotID])
	if raw[slotID].kind == kindNone && defaultID != "" {
		e.ID = defaultID
	}
	e.Type = rawType(raw[slotType])
	e.CustomerID = rawString(raw[slotCustomer])
	e.ItemID = rawString(raw[slotItem])
	e.Category = rawString(raw[slotCategory])
	ts := raw[slotTS]
	haveTS := ts.kind == kindNumber || (ts.kind == kindString && len(ts.tok) > 2)
	if err := e.checkIdentity(lim, haveTS); err != nil {
		return Event{}, err
	}

	t, err := parseTS(ts)
	if err != nil {
		return Event{}, err
	}
	e.Time = t
	if err := checkWindow(t, lim); err != nil {
		return Event{}, err
	}

	if e.Quantity, err = parseNumber(fieldQuantity, raw[slotQuantity]); err != nil {
		return Event{}, err
	}
	if e.Price, err = parseNumber(fieldPrice, raw[slotPrice]); err != nil {
		return Event{}, err
	}
	if err := checkNumbers(e.Quantity, e.Price); err != nil {
		return Event{}, err
	}
	return e, nil
}

// scanPayload checks what every message value must be, in order: within
// the size limit (too_large), UTF-8 (not_utf8), one JSON object
// (invalid_json), and records its known fields in raw (scanObject).
func scanPayload(data []byte, lim Limits, f *objectFields, raw []rawValue) *Error {
	if len(data) > lim.MaxPayloadBytes {
		return newError(ReasonTooLarge, "", fmt.Sprintf("%d bytes, limit %d", len(data), lim.MaxPayloadBytes))
	}
	if !utf8.Valid(data) {
		return newError(ReasonNotUTF8, "", "payload is not valid UTF-8")
	}
	if !json.Valid(data) {
		return newError(ReasonInvalidJSON, "", syntaxDetail(data))
	}
	return scanObject(data, f, raw)
}

// syntaxDetail describes why data is not valid JSON.
func syntaxDetail(data []byte) string {
	var v struct{}
	err := json.Unmarshal(data, &v)
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	if err != nil {
		return err.Error()
	}
	return "not valid JSON"
}

// scanObject walks data, which json.Valid has accepted, and records the
// fields known to f in raw (one slot per name). It reports a top-level value that is not an object and a
// known field given twice as invalid_json, and a known field of the wrong
// JSON type as wrong_field_type (after the whole object has been scanned,
// so a later duplicate still wins).
func scanObject(data []byte, f *objectFields, raw []rawValue) *Error {
	i := skipWS(data, 0)
	if data[i] != '{' {
		_, k, _ := valueEnd(data, i)
		return newError(ReasonInvalidJSON, "", "top-level value is a JSON "+kindNames[k]+", not an object")
	}
	var seen uint32 // bit i: slot i given (an object kind has fewer than 32 fields)
	var typeErr *Error
	i = skipWS(data, i+1)
	if data[i] == '}' {
		return nil
	}
	for {
		kend, kesc := stringEnd(data, i)
		key := data[i+1 : kend-1]
		i = skipWS(data, kend) // at ':'
		i = skipWS(data, i+1)
		vend, kind, vesc := valueEnd(data, i)
		slot := f.slotOf(key, kesc)
		if slot >= 0 {
			name := f.names[slot]
			if seen&(1<<slot) != 0 {
				return newError(ReasonInvalidJSON, name, "field given more than once")
			}
			seen |= 1 << slot
			if kind != kindNull && !accepts(f.kinds[slot], kind) && typeErr == nil {
				typeErr = newError(ReasonWrongFieldType, name, "want "+wantKind(f.kinds[slot])+", got "+kindNames[kind])
			}
			if kind != kindNull {
				raw[slot] = rawValue{tok: data[i:vend], kind: kind, esc: vesc}
			}
		}
		i = skipWS(data, vend)
		if data[i] == '}' {
			break
		}
		i = skipWS(data, i+1) // after ','
	}
	if typeErr != nil {
		return typeErr
	}
	return nil
}

// slotOf returns the slot of a field name, -1 for an unknown field.
func (f *objectFields) slotOf(key []byte, esc bool) int {
	k := string(key) // does not escape: no allocation
	if esc {
		var s string
		if json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &s) != nil {
			return -1
		}
		k = s
	}
	for i, n := range f.names {
		if n == k {
			return i
		}
	}
	return -1
}

// wantKind describes the JSON kinds a field accepts, for wrong_field_type.
func wantKind(kinds uint8) string {
	switch kinds {
	case str | num:
		return "string (RFC 3339) or number (epoch milliseconds)"
	case num:
		return "number"
	}
	return "string"
}

func skipWS(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index after the closing quote of the string token
// starting at d[i] == '"', and whether it contains an escape.
func stringEnd(d []byte, i int) (int, bool) {
	rest := d[i+1:]
	q := bytes.IndexByte(rest, '"')
	if q >= 0 && bytes.IndexByte(rest[:q], '\\') < 0 {
		return i + 1 + q + 1, false // common case: no escapes
	}
	for j := i + 1; j < len(d); j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(d), true // unreachable for valid JSON
}

// valueEnd returns the index after the value starting at d[i], its kind, and
// for a string whether it contains an escape.
func valueEnd(d []byte, i int) (int, byte, bool) {
	switch d[i] {
	case '"':
		end, esc := stringEnd(d, i)
		return end, kindString, esc
	case '{', '[':
		kind := byte(kindObject)
		if d[i] == '[' {
			kind = kindArray
		}
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				end, _ := stringEnd(d, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, kind, false
				}
			}
		}
		return len(d), kind, false
	case 't':
		return i + 4, kindBool, false
	case 'f':
		return i + 5, kindBool, false
	case 'n':
		return i + 4, kindNull, false
	}
	j := i
	for j < len(d) {
		switch c := d[j]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			j++
			continue
		}
		break
	}
	return j, kindNumber, false
}

// rawType returns the type, without allocating for the known ones.
func rawType(v rawValue) Type {
	if v.kind == kindString && !v.esc {
		switch t := Type(v.tok[1 : len(v.tok)-1]); t {
		case Purchase:
			return Purchase
		case View:
			return View
		}
	}
	return Type(rawString(v))
}

// rawString returns the decoded value of a string token ("" if absent).
func rawString(v rawValue) string {
	if v.kind != kindString {
		return ""
	}
	if !v.esc {
		return string(v.tok[1 : len(v.tok)-1])
	}
	var s string
	if err := json.Unmarshal(v.tok, &s); err != nil {
		return "" // unreachable: the token is valid JSON
	}
	return s
}

func parseTS(v rawValue) (time.Time, *Error) { return parseTime(fieldTS, v) }

// parseTime reads a timestamp field: integer epoch milliseconds or RFC 3339
// (docs/events.md, "Timestamps").
func parseTime(field string, v rawValue) (time.Time, *Error) {
	if v.kind == kindNumber {
		for _, c := range v.tok {
			if c == '.' || c == 'e' || c == 'E' {
				return time.Time{}, newError(ReasonBadTimestamp, field,
					"a number must be integer epoch milliseconds, got "+quoteShort(string(v.tok)))
			}
		}
		ms, err := strconv.ParseInt(string(v.tok), 10, 64)
		if err != nil {
			return time.Time{}, newError(ReasonBadTimestamp, field, "epoch milliseconds out of range: "+quoteShort(string(v.tok)))
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	s := rawString(v)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, newError(ReasonBadTimestamp, field, "not RFC 3339: "+quoteShort(s))
	}
	return t.Truncate(time.Millisecond).UTC(), nil
}

// parseNumber returns nil for an absent value. The token is a valid JSON
// number; the only possible failure is a value beyond float64 range. A
// negative zero becomes zero.
func parseNumber(field string, v rawValue) (*float64, *Error) {
	if v.kind != kindNumber {
		return nil, nil
	}
	f, err := strconv.ParseFloat(string(v.tok), 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, newError(ReasonBadNumber, field, "out of range: "+quoteShort(string(v.tok)))
	}
	if f == 0 {
		f = 0
	}
	return &f, nil
}
