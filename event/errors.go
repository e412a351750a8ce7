package event

import (
	"errors"
	"strings"
)

// Reason names why an event was rejected. It is the "reason" of a
// dead-lettered message and a metric label, so the strings are part of the
// contract (docs/events.md, "Dead letters"): new reasons may be added within
// version 1, existing ones are never renamed.
type Reason string

// Dead-letter reasons, in the order Decode checks them, then the consumer's.
const (
	ReasonTooLarge        Reason = "too_large"        // payload longer than Limits.MaxPayloadBytes
	ReasonNotUTF8         Reason = "not_utf8"         // payload is not valid UTF-8
	ReasonInvalidJSON     Reason = "invalid_json"     // not one JSON object (syntax, trailing data, duplicate field)
	ReasonWrongFieldType  Reason = "wrong_field_type" // a known field has the wrong JSON type
	ReasonMissingField    Reason = "missing_field"    // a required field is absent, null or empty
	ReasonIDTooLong       Reason = "id_too_long"      // an id or category is longer than its limit
	ReasonBadIDChars      Reason = "bad_id_chars"     // an id or category has a byte outside [A-Za-z0-9._:@/+=-]
	ReasonUnknownType     Reason = "unknown_type"     // type is not "purchase" or "view"
	ReasonBadTimestamp    Reason = "bad_timestamp"    // ts is neither RFC 3339 nor integer epoch milliseconds
	ReasonTimeOutOfWindow Reason = "ts_out_of_window" // ts outside [MinTime, MaxTime]
	ReasonBadNumber       Reason = "bad_number"       // quantity or price negative, infinite or NaN

	// ReasonKeyMismatch is not returned by Decode or Validate: the consumer
	// uses it for a well-formed event whose Kafka message key is not its
	// customer_id (such an event may sit on the wrong partition, out of
	// order with the customer's other events).
	ReasonKeyMismatch Reason = "key_mismatch"

	// ReasonWrongPartition is not returned by Decode or Validate either: the
	// consumer uses it for an event whose partition is not where the murmur2
	// hash of its key puts it (for any partition count the topic has had), so
	// a customer's events would be split between consumers.
	ReasonWrongPartition Reason = "wrong_partition"

	// Reasons of item records on the catalogue topic only (DecodeItem).
	ReasonUnknownStatus Reason = "unknown_status" // status is not "available" or "hidden"
	ReasonBadWindow     Reason = "bad_window"     // available_until is not after available_from
)

var reasons = []Reason{
	ReasonTooLarge, ReasonNotUTF8, ReasonInvalidJSON, ReasonWrongFieldType,
	ReasonMissingField, ReasonIDTooLong, ReasonBadIDChars, ReasonUnknownType,
	ReasonBadTimestamp, ReasonTimeOutOfWindow, ReasonBadNumber, ReasonKeyMismatch,
	ReasonWrongPartition, ReasonUnknownStatus, ReasonBadWindow,
}

// Reasons returns every known Reason in check order (a fresh slice), for
// example to pre-register metric label values.
func Reasons() []Reason { return append([]Reason(nil), reasons...) }

// Known reports whether r is one of the reasons listed by Reasons.
func (r Reason) Known() bool {
	for _, k := range reasons {
		if r == k {
			return true
		}
	}
	return false
}

// Error is a rejected event: why (Reason), which JSON field (Field, empty
// when the problem is the whole payload) and a human-readable Detail.
// Detail may quote a short, escaped part of the offending value.
type Error struct {
	Reason Reason
	Field  string
	Detail string
}

// Error formats as "event: <field>: <reason>: <detail>", leaving out empty
// parts.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("event: ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(string(e.Reason))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// ReasonOf returns the Reason of the first *Error in err's chain, or "" when
// there is none (including err == nil).
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func newError(r Reason, field, detail string) *Error {
	return &Error{Reason: r, Field: field, Detail: detail}
}
