package event

import (
	"time"
)

// Status is an item's availability as the catalogue states it.
type Status string

const (
	// Available: the item may be recommended (within its window, if any).
	Available Status = "available"
	// Hidden: the item is never recommended (out of stock, discontinued,
	// recalled); its counters keep counting, so un-hiding it restores it.
	Hidden Status = "hidden"
)

// Valid reports whether s is a known status (Available, Hidden).
func (s Status) Valid() bool { return s == Available || s == Hidden }

// CatalogueSuffix is appended to the events topic to name the catalogue
// topic, which carries item records keyed by item (docs/events.md,
// "Catalogue records").
const CatalogueSuffix = ".catalogue"

// CatalogueTopic returns the catalogue topic of an events topic.
func CatalogueTopic(topic string) string { return topic + CatalogueSuffix }

// Item is an item's catalogue record: what the shop says about the item,
// as opposed to what customers did with it. The catalogue topic carries the
// latest record of each item (it is compacted); a record replaces the
// item's previous one as a whole, and a tombstone (a message without a
// value) removes it, which makes the item available again with the
// category its events carry.
type Item struct {
	ID     string // item_id: also the Kafka message key
	Status Status // Available unless the record says hidden
	// From and Until bound when the item may be recommended: from From
	// (inclusive) until Until (exclusive); a zero time leaves that side
	// open. Both carry millisecond precision, in UTC.
	From, Until time.Time
	// Category, when not empty, wins over the category events carry.
	Category string
}

// VisibleAt reports whether the item may be recommended at the instant
// now: not hidden, and now within [From, Until).
func (it Item) VisibleAt(now time.Time) bool {
	return it.Status != Hidden && (it.From.IsZero() || !now.Before(it.From)) &&
		(it.Until.IsZero() || now.Before(it.Until))
}

// NextChange returns the first instant after now at which VisibleAt(now)
// changes, and false when it never does (no window edge after now, or the
// item is hidden). The service re-scores the lists that hold the item then,
// so that a launch at 9:00 shows at 9:00 on a quiet night.
func (it Item) NextChange(now time.Time) (time.Time, bool) {
	if it.Status == Hidden {
		return time.Time{}, false
	}
	for _, edge := range []time.Time{it.From, it.Until} {
		if !edge.IsZero() && edge.After(now) {
			return edge, true
		}
	}
	return time.Time{}, false
}

// Equal reports whether it and o are the same record (times compared as
// instants).
func (it Item) Equal(o Item) bool {
	return it.ID == o.ID && it.Status == o.Status && it.Category == o.Category &&
		it.From.Equal(o.From) && it.Until.Equal(o.Until)
}

// JSON field names of an item record.
const (
	fieldStatus = "status"
	fieldFrom   = "available_from"
	fieldUntil  = "available_until"
)

// Field slots of the item scanner.
const (
	itemSlotID = iota
	itemSlotStatus
	itemSlotFrom
	itemSlotUntil
	itemSlotCategory
	nItemSlots
)

var itemFields = objectFields{
	names: []string{fieldItem, fieldStatus, fieldFrom, fieldUntil, fieldCategory},
	kinds: []uint8{str, str, str | num, str | num, str},
}

// DecodeItem parses one item record from a catalogue message value
// (docs/events.md, "Catalogue records"). The parsing rules are the events'
// (exact field names, unknown fields ignored, null as absent, a known field
// given twice is invalid_json, the same id rule, the same timestamp forms
// without the event-time window), and the first failure is returned as an
// *Error: too_large, not_utf8, invalid_json, wrong_field_type,
// missing_field (item_id), id_too_long, bad_id_chars, unknown_status,
// bad_timestamp, bad_window (available_until not after available_from).
func DecodeItem(data []byte, lim Limits) (Item, error) {
	it, err := decodeItem(data, lim)
	if err != nil {
		return Item{}, err
	}
	return it, nil
}

func decodeItem(data []byte, lim Limits) (Item, *Error) {
	lim = lim.withDefaults()
	var raw [nItemSlots]rawValue
	if err := scanPayload(data, lim, &itemFields, raw[:]); err != nil {
		return Item{}, err
	}
	it := Item{ID: rawString(raw[itemSlotID]), Status: Status(rawString(raw[itemSlotStatus])),
		Category: rawString(raw[itemSlotCategory])}
	if it.Status == "" {
		it.Status = Available
	}
	if err := it.check(lim); err != nil {
		return Item{}, err
	}
	var err *Error
	if raw[itemSlotFrom].kind != kindNone {
		if it.From, err = parseTime(fieldFrom, raw[itemSlotFrom]); err != nil {
			return Item{}, err
		}
	}
	if raw[itemSlotUntil].kind != kindNone {
		if it.Until, err = parseTime(fieldUntil, raw[itemSlotUntil]); err != nil {
			return Item{}, err
		}
	}
	if err := it.checkWindow(); err != nil {
		return Item{}, err
	}
	return it, nil
}

// Validate checks an Item built in Go (by the catalogue file loader, say)
// against the rules DecodeItem applies, so that whatever a loader publishes
// decodes again.
func (it Item) Validate(lim Limits) error {
	lim = lim.withDefaults()
	if err := it.check(lim); err != nil {
		return err
	}
	if it.From.Truncate(time.Millisecond) != it.From || it.Until.Truncate(time.Millisecond) != it.Until {
		return newError(ReasonBadTimestamp, fieldFrom, "window times must have millisecond precision")
	}
	if err := it.checkWindow(); err != nil {
		return err
	}
	return nil
}

func (it Item) check(lim Limits) *Error {
	if err := checkID(it.ID, lim.MaxIDLen); err != nil {
		err.Field = fieldItem
		return err
	}
	if !it.Status.Valid() {
		return newError(ReasonUnknownStatus, fieldStatus, `want "available" or "hidden", got `+quoteShort(string(it.Status)))
	}
	if it.Category != "" {
		if err := checkID(it.Category, lim.MaxCategoryLen); err != nil {
			err.Field = fieldCategory
			return err
		}
	}
	return nil
}

func (it Item) checkWindow() *Error {
	if !it.From.IsZero() && !it.Until.IsZero() && !it.Until.After(it.From) {
		return newError(ReasonBadWindow, fieldUntil, "available_until "+it.Until.Format(TimeLayout)+
			" is not after available_from "+it.From.Format(TimeLayout))
	}
	return nil
}

// EncodeItem returns the canonical JSON form of an item record: the fields
// in contract order (item_id, status, available_from, available_until,
// category), times as Encode writes ts, absent ones left out. For every it
// that passes Validate, DecodeItem(EncodeItem(it)) is Equal to it.
func EncodeItem(it Item) []byte {
	b := make([]byte, 0, 96+len(it.ID)+len(it.Category))
	b = append(b, `{"item_id":`...)
	b = appendString(b, it.ID)
	b = append(b, `,"status":`...)
	b = appendString(b, string(it.Status))
	for _, f := range []struct {
		name string
		t    time.Time
	}{{fieldFrom, it.From}, {fieldUntil, it.Until}} {
		if !f.t.IsZero() {
			b = append(b, `,"`+f.name+`":"`...)
			b = f.t.UTC().AppendFormat(b, TimeLayout)
			b = append(b, '"')
		}
	}
	if it.Category != "" {
		b = append(b, `,"category":`...)
		b = appendString(b, it.Category)
	}
	return append(b, '}')
}
