package event_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
)

// now is the fixed clock of these tests: MaxTime is 2026-01-02T00:00:00Z.
var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var lim = event.DefaultLimits(now)

func f64(v float64) *float64 { return &v }

func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestDecodeAccepts(t *testing.T) {
	base := event.Event{ID: "e1", Type: event.Purchase, CustomerID: "c1", ItemID: "i1", Time: ms("2014-04-01T03:01:46.083Z")}
	with := func(f func(*event.Event)) event.Event { e := base; f(&e); return e }
	tests := []struct {
		name string
		in   string
		want event.Event
	}{
		{"rfc3339 ms", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"2014-04-01T03:01:46.083Z"}`, base},
		{"epoch ms", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083}`, base},
		{"offset converted to UTC", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"2014-03-31T23:01:46.083-04:00"}`, base},
		{"sub-ms digits truncated", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"2014-04-01T03:01:46.083999999Z"}`, base},
		{"no fraction", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"2014-04-01T03:01:46Z"}`,
			with(func(e *event.Event) { e.Time = ms("2014-04-01T03:01:46Z") })},
		{"field order and whitespace", " \n{ \"ts\" : 1396321306083 ,\r\n\t\"item_id\":\"i1\", \"customer_id\":\"c1\",\"type\":\"purchase\",\"event_id\":\"e1\" } \n", base},
		{"view", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":1396321306083}`,
			with(func(e *event.Event) { e.Type = event.View })},
		{"optional fields", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083,"quantity":2,"price":1.5e1,"category":"S"}`,
			with(func(e *event.Event) { e.Quantity = f64(2); e.Price = f64(15); e.Category = "S" })},
		{"zero and negative zero", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083,"quantity":0,"price":-0}`,
			with(func(e *event.Event) { e.Quantity = f64(0); e.Price = f64(0) })},
		{"tiny number underflows to zero", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083,"price":1e-400}`,
			with(func(e *event.Event) { e.Price = f64(0) })},
		{"nulls are absent", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083,"quantity":null,"price":null,"category":null}`, base},
		{"unknown fields ignored", `{"v":2,"event_id":"e1","x":{"a":[1,"}]\"",{"b":null}],"customer_id":7},"type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083,"y":[true,false,null,-1.5e3,"\u007b"],"Customer_ID":"ignored"}`, base},
		{"escaped key and value", `{"event_id":"e1","type":"purch\u0061se","customer\u005fid":"c\u0031","item_id":"i1","ts":"2014-04-01T03:01:46.083Z"}`, base},
		{"all id chars", `{"event_id":"AZaz09._:@/+=-","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083}`,
			with(func(e *event.Event) { e.ID = "AZaz09._:@/+=-" })},
		{"128-byte ids", `{"event_id":"` + strings.Repeat("e", 128) + `","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083,"category":"` + strings.Repeat("k", 128) + `"}`,
			with(func(e *event.Event) { e.ID = strings.Repeat("e", 128); e.Category = strings.Repeat("k", 128) })},
		{"window min inclusive", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"1990-01-01T00:00:00Z"}`,
			with(func(e *event.Event) { e.Time = ms("1990-01-01T00:00:00Z") })},
		{"window max inclusive", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"2026-01-02T00:00:00Z"}`,
			with(func(e *event.Event) { e.Time = ms("2026-01-02T00:00:00Z") })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := event.Decode([]byte(tc.in), lim)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("Decode = %+v, want %+v", got, tc.want)
			}
			if got.Time.Location() != time.UTC {
				t.Errorf("Time location = %v, want UTC", got.Time.Location())
			}
			if err := got.Validate(lim); err != nil {
				t.Errorf("Validate(decoded) = %v", err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	const ok = `"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083`
	small := lim
	small.MaxPayloadBytes = 64
	tests := []struct {
		name   string
		in     string
		lim    event.Limits
		reason event.Reason
		field  string
	}{
		{"too large", `{` + ok + `}`, small, event.ReasonTooLarge, ""},
		{"too large beats bad utf8", "{\xff" + ok + `}`, small, event.ReasonTooLarge, ""},

		{"invalid utf8 in value", `{` + ok + `,"category":"` + "\xff" + `"}`, lim, event.ReasonNotUTF8, ""},
		{"invalid utf8 beats bad json", "\xfe{", lim, event.ReasonNotUTF8, ""},

		{"empty", ``, lim, event.ReasonInvalidJSON, ""},
		{"truncated", `{` + ok, lim, event.ReasonInvalidJSON, ""},
		{"array", `[{` + ok + `}]`, lim, event.ReasonInvalidJSON, ""},
		{"string", `"x"`, lim, event.ReasonInvalidJSON, ""},
		{"null", `null`, lim, event.ReasonInvalidJSON, ""},
		{"two objects", `{` + ok + `}{}`, lim, event.ReasonInvalidJSON, ""},
		{"trailing garbage", `{` + ok + `}x`, lim, event.ReasonInvalidJSON, ""},
		{"single quotes", `{'event_id':'e1'}`, lim, event.ReasonInvalidJSON, ""},
		{"NaN literal", `{` + ok + `,"price":NaN}`, lim, event.ReasonInvalidJSON, ""},
		{"duplicate field", `{` + ok + `,"item_id":"i2"}`, lim, event.ReasonInvalidJSON, "item_id"},
		{"duplicate via escape", `{` + ok + `,"item\u005fid":"i2"}`, lim, event.ReasonInvalidJSON, "item_id"},
		{"duplicate beats wrong type", `{"customer_id":1,` + ok + `}`, lim, event.ReasonInvalidJSON, "customer_id"},

		{"id number", `{"event_id":1,"type":"purchase","customer_id":"c1","item_id":"i1","ts":1}`, lim, event.ReasonWrongFieldType, "event_id"},
		{"customer number", `{"event_id":"e1","type":"purchase","customer_id":42,"item_id":"i1","ts":1396321306083}`, lim, event.ReasonWrongFieldType, "customer_id"},
		{"type array", `{"event_id":"e1","type":["view"],"customer_id":"c1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonWrongFieldType, "type"},
		{"ts bool", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":true}`, lim, event.ReasonWrongFieldType, "ts"},
		{"ts object", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":{}}`, lim, event.ReasonWrongFieldType, "ts"},
		{"quantity string", `{` + ok + `,"quantity":"2"}`, lim, event.ReasonWrongFieldType, "quantity"},
		{"price bool", `{` + ok + `,"price":false}`, lim, event.ReasonWrongFieldType, "price"},
		{"category number", `{` + ok + `,"category":3}`, lim, event.ReasonWrongFieldType, "category"},
		{"wrong type beats missing", `{"customer_id":1}`, lim, event.ReasonWrongFieldType, "customer_id"},

		{"empty object", `{}`, lim, event.ReasonMissingField, "event_id"},
		{"no event_id", `{"type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonMissingField, "event_id"},
		{"no type", `{"event_id":"e1","customer_id":"c1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonMissingField, "type"},
		{"empty customer", `{"event_id":"e1","type":"purchase","customer_id":"","item_id":"i1","ts":1396321306083}`, lim, event.ReasonMissingField, "customer_id"},
		{"null item", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":null,"ts":1396321306083}`, lim, event.ReasonMissingField, "item_id"},
		{"no ts", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1"}`, lim, event.ReasonMissingField, "ts"},
		{"empty ts", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":""}`, lim, event.ReasonMissingField, "ts"},
		{"missing beats bad id", `{"event_id":"a b","type":"purchase","customer_id":"c1","item_id":"i1"}`, lim, event.ReasonMissingField, "ts"},

		{"event id 129 bytes", `{"event_id":"` + strings.Repeat("e", 129) + `","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonIDTooLong, "event_id"},
		{"category 129 bytes", `{` + ok + `,"category":"` + strings.Repeat("k", 129) + `"}`, lim, event.ReasonIDTooLong, "category"},
		{"custom id limit", `{` + ok + `}`, event.Limits{MaxIDLen: 1}, event.ReasonIDTooLong, "event_id"},

		{"space", `{"event_id":"e1","type":"purchase","customer_id":"c 1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonBadIDChars, "customer_id"},
		{"brace", `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"{i1}","ts":1396321306083}`, lim, event.ReasonBadIDChars, "item_id"},
		{"hash", `{"event_id":"e#1","type":"purchase","customer_id":"c1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonBadIDChars, "event_id"},
		{"pipe", `{"event_id":"e1","type":"purchase","customer_id":"c|1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonBadIDChars, "customer_id"},
		{"tilde", `{"event_id":"e1","type":"purchase","customer_id":"c~1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonBadIDChars, "customer_id"},
		{"escaped control char", `{"event_id":"e1","type":"purchase","customer_id":"c\u00001","item_id":"i1","ts":1396321306083}`, lim, event.ReasonBadIDChars, "customer_id"},
		{"non-ASCII", `{"event_id":"e1","type":"purchase","customer_id":"café","item_id":"i1","ts":1396321306083}`, lim, event.ReasonBadIDChars, "customer_id"},
		{"category with space", `{` + ok + `,"category":"home garden"}`, lim, event.ReasonBadIDChars, "category"},
		{"bad id beats unknown type", `{"event_id":"e1","type":"click","customer_id":"c 1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonBadIDChars, "customer_id"},

		{"unknown type", `{"event_id":"e1","type":"click","customer_id":"c1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonUnknownType, "type"},
		{"type is case-sensitive", `{"event_id":"e1","type":"Purchase","customer_id":"c1","item_id":"i1","ts":1396321306083}`, lim, event.ReasonUnknownType, "type"},
		{"unknown type beats bad ts", `{"event_id":"e1","type":"buy","customer_id":"c1","item_id":"i1","ts":"yesterday"}`, lim, event.ReasonUnknownType, "type"},

		{"space instead of T", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":"2014-04-01 03:01:46Z"}`, lim, event.ReasonBadTimestamp, "ts"},
		{"no zone", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":"2014-04-01T03:01:46"}`, lim, event.ReasonBadTimestamp, "ts"},
		{"dunnhumby offset", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":"2017-01-28T14:06:53-0500"}`, lim, event.ReasonBadTimestamp, "ts"},
		{"millis as string", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":"1396321306083"}`, lim, event.ReasonBadTimestamp, "ts"},
		{"fractional millis", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":1396321306083.5}`, lim, event.ReasonBadTimestamp, "ts"},
		{"exponent millis", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":1.396321306083e12}`, lim, event.ReasonBadTimestamp, "ts"},
		{"millis overflow", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":99999999999999999999}`, lim, event.ReasonBadTimestamp, "ts"},
		{"leap second", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":"2016-12-31T23:59:60Z"}`, lim, event.ReasonBadTimestamp, "ts"},

		{"before 1990", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":"1989-12-31T23:59:59.999Z"}`, lim, event.ReasonTimeOutOfWindow, "ts"},
		{"epoch seconds by mistake", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":1396321306}`, lim, event.ReasonTimeOutOfWindow, "ts"},
		{"negative millis", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":-1}`, lim, event.ReasonTimeOutOfWindow, "ts"},
		{"more than a day ahead", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":"2026-01-02T00:00:00.001Z"}`, lim, event.ReasonTimeOutOfWindow, "ts"},
		{"window beats bad number", `{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":5,"price":-1}`, lim, event.ReasonTimeOutOfWindow, "ts"},

		{"negative quantity", `{` + ok + `,"quantity":-1}`, lim, event.ReasonBadNumber, "quantity"},
		{"negative price", `{` + ok + `,"price":-0.01}`, lim, event.ReasonBadNumber, "price"},
		{"price overflow", `{` + ok + `,"price":1e400}`, lim, event.ReasonBadNumber, "price"},
		{"quantity overflow", `{` + ok + `,"quantity":-1e400}`, lim, event.ReasonBadNumber, "quantity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := event.Decode([]byte(tc.in), tc.lim)
			if err == nil {
				t.Fatalf("Decode accepted %+v, want %s", got, tc.reason)
			}
			var ee *event.Error
			if !errors.As(err, &ee) {
				t.Fatalf("error %T %v is not an *event.Error", err, err)
			}
			if ee.Reason != tc.reason || ee.Field != tc.field {
				t.Fatalf("Decode error = %v (reason %q, field %q), want reason %q, field %q", err, ee.Reason, ee.Field, tc.reason, tc.field)
			}
			if r := event.ReasonOf(err); r != tc.reason {
				t.Errorf("ReasonOf = %q", r)
			}
			if !got.Equal(event.Event{}) {
				t.Errorf("Decode returned %+v with an error, want the zero Event", got)
			}
		})
	}
}

func TestEveryReasonTested(t *testing.T) {
	// Guards the table above against a reason added without a test.
	want := map[event.Reason]bool{}
	for _, r := range event.Reasons() {
		want[r] = true
	}
	if len(want) != 15 {
		t.Fatalf("Reasons() has %d entries, want 15", len(want))
	}
	for _, s := range []string{"too_large", "not_utf8", "invalid_json", "wrong_field_type", "missing_field",
		"id_too_long", "bad_id_chars", "unknown_type", "bad_timestamp", "ts_out_of_window", "bad_number", "key_mismatch",
		"wrong_partition", "unknown_status", "bad_window"} {
		if !want[event.Reason(s)] || !event.Reason(s).Known() {
			t.Errorf("reason %q missing", s)
		}
	}
	if event.Reason("nope").Known() {
		t.Error(`Reason("nope").Known() = true`)
	}
}

func TestDecodeDefaultID(t *testing.T) {
	const body = `"type":"view","customer_id":"c1","item_id":"i1","ts":1396321306083`
	for _, tc := range []struct {
		in, want string
		reason   event.Reason
	}{
		{`{` + body + `}`, "events:f.jsonl:3", ""},
		{`{"event_id":null,` + body + `}`, "events:f.jsonl:3", ""},
		{`{"event_id":"own",` + body + `}`, "own", ""},
		{`{"event_id":"",` + body + `}`, "", event.ReasonMissingField},
	} {
		e, err := event.DecodeDefaultID([]byte(tc.in), lim, "events:f.jsonl:3")
		if r := event.ReasonOf(err); r != tc.reason || e.ID != tc.want {
			t.Errorf("DecodeDefaultID(%s) = id %q, err %v; want id %q, reason %q", tc.in, e.ID, err, tc.want, tc.reason)
		}
	}
	if _, err := event.DecodeDefaultID([]byte(`{`+body+`}`), lim, "bad id"); event.ReasonOf(err) != event.ReasonBadIDChars {
		t.Errorf("bad default id: err = %v, want bad_id_chars", err)
	}
}

func TestErrorString(t *testing.T) {
	_, err := event.Decode([]byte(`{"event_id":"e1","type":"view","customer_id":"c1","item_id":"a{b","ts":1396321306083}`), lim)
	if got, want := err.Error(), `event: item_id: bad_id_chars: byte 0x7b at offset 1 of "a{b" is not in [A-Za-z0-9._:@/+=-]`; got != want {
		t.Errorf("Error() = %s\nwant      %s", got, want)
	}
	// A customer id is personal data: shown as its fingerprint alone
	// (sha256 of "a{b" begins acef99516b82).
	_, err = event.Decode([]byte(`{"event_id":"e1","type":"view","customer_id":"a{b","item_id":"i1","ts":1396321306083}`), lim)
	if got, want := err.Error(), `event: customer_id: bad_id_chars: byte 0x7b at offset 1 of sha256:acef99516b82 (3 bytes) is not in [A-Za-z0-9._:@/+=-]`; got != want {
		t.Errorf("Error() = %s\nwant      %s", got, want)
	}
	if got, want := (&event.Error{Reason: event.ReasonTooLarge}).Error(), "event: too_large"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := errors.Join(errors.New("partition 3 offset 9"), err)
	if event.ReasonOf(wrapped) != event.ReasonBadIDChars {
		t.Errorf("ReasonOf(wrapped) = %q", event.ReasonOf(wrapped))
	}
	if event.ReasonOf(nil) != "" || event.ReasonOf(errors.New("x")) != "" {
		t.Error("ReasonOf of a non-event error is not empty")
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		s      string
		max    int
		reason event.Reason
	}{
		{"a", 1, ""},
		{"dunnhumby:transactions.csv.gz:12", 0, ""},
		{"user@example.com/x+y=z-1_2", 128, ""},
		{"", 128, event.ReasonMissingField},
		{"ab", 1, event.ReasonIDTooLong},
		{strings.Repeat("a", 129), 0, event.ReasonIDTooLong},
		{"a\tb", 0, event.ReasonBadIDChars},
		{"a}", 0, event.ReasonBadIDChars},
		{"a\"", 0, event.ReasonBadIDChars},
		{"a\\", 0, event.ReasonBadIDChars},
		{"a,b", 0, event.ReasonBadIDChars},
		{"a*", 0, event.ReasonBadIDChars},
	} {
		if got := event.ReasonOf(event.ValidID(tc.s, tc.max)); got != tc.reason {
			t.Errorf("ValidID(%q, %d) reason = %q, want %q", tc.s, tc.max, got, tc.reason)
		}
	}
}

func TestValidate(t *testing.T) {
	good := event.Event{ID: "e", Type: event.View, CustomerID: "c", ItemID: "i", Time: ms("2020-02-02T02:02:02.002Z")}
	if err := good.Validate(lim); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	for _, tc := range []struct {
		name   string
		mod    func(*event.Event)
		reason event.Reason
		field  string
	}{
		{"no id", func(e *event.Event) { e.ID = "" }, event.ReasonMissingField, "event_id"},
		{"no type", func(e *event.Event) { e.Type = "" }, event.ReasonMissingField, "type"},
		{"zero time", func(e *event.Event) { e.Time = time.Time{} }, event.ReasonMissingField, "ts"},
		{"long item", func(e *event.Event) { e.ItemID = strings.Repeat("i", 129) }, event.ReasonIDTooLong, "item_id"},
		{"bad category", func(e *event.Event) { e.Category = "a b" }, event.ReasonBadIDChars, "category"},
		{"bad type", func(e *event.Event) { e.Type = "rating" }, event.ReasonUnknownType, "type"},
		{"microseconds", func(e *event.Event) { e.Time = e.Time.Add(time.Microsecond) }, event.ReasonBadTimestamp, "ts"},
		{"too old", func(e *event.Event) { e.Time = ms("1970-01-01T00:00:00Z") }, event.ReasonTimeOutOfWindow, "ts"},
		{"NaN price", func(e *event.Event) { e.Price = f64(math.NaN()) }, event.ReasonBadNumber, "price"},
		{"Inf quantity", func(e *event.Event) { e.Quantity = f64(math.Inf(1)) }, event.ReasonBadNumber, "quantity"},
		{"negative price", func(e *event.Event) { e.Price = f64(-2) }, event.ReasonBadNumber, "price"},
	} {
		e := good
		tc.mod(&e)
		err := e.Validate(lim)
		var ee *event.Error
		if !errors.As(err, &ee) || ee.Reason != tc.reason || ee.Field != tc.field {
			t.Errorf("%s: Validate = %v, want %s on %s", tc.name, err, tc.reason, tc.field)
		}
	}
	// Zero MinTime and MaxTime leave the window open.
	old := good
	old.Time = ms("1970-01-01T00:00:00Z")
	if err := old.Validate(event.Limits{}); err != nil {
		t.Errorf("Validate with zero Limits = %v", err)
	}
}

func TestEncode(t *testing.T) {
	e := event.Event{ID: "e1", Type: event.Purchase, CustomerID: "c1", ItemID: "i1",
		Time:     time.Date(2017, 1, 28, 14, 6, 53, 0, time.FixedZone("EST", -5*3600)),
		Quantity: f64(2), Price: f64(1.935), Category: "S"}
	if got, want := string(event.Encode(e)), `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"2017-01-28T19:06:53.000Z","quantity":2,"price":1.935,"category":"S"}`; got != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
	e.Quantity, e.Price, e.Category = nil, f64(1e-7), ""
	if got, want := string(event.Encode(e)), `{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"2017-01-28T19:06:53.000Z","price":1e-7}`; got != want {
		t.Errorf("Encode =\n%s\nwant\n%s", got, want)
	}
	// Strings outside the id charset are still valid JSON.
	bad := event.Event{ID: "a\"b\\c\n", CustomerID: "é", Quantity: f64(math.NaN())}
	if _, err := event.Decode(event.Encode(bad), event.Limits{}); event.ReasonOf(err) == event.ReasonInvalidJSON || event.ReasonOf(err) == event.ReasonNotUTF8 {
		t.Errorf("Encode(invalid event) is not JSON: %s: %v", event.Encode(bad), err)
	}
}

func TestRoundTrip(t *testing.T) {
	times := []time.Time{ms("1990-01-01T00:00:00Z"), ms("1997-09-20T03:05:10Z"), ms("2014-04-01T03:01:46.083Z"), now.Add(24 * time.Hour)}
	nums := []*float64{nil, f64(0), f64(1), f64(0.1), f64(1.935), f64(32623), f64(1e-7), f64(1e21), f64(math.MaxFloat64), f64(math.SmallestNonzeroFloat64)}
	for i, tm := range times {
		for j, q := range nums {
			for k, p := range nums {
				e := event.Event{ID: "x:y/" + string(rune('a'+i)), Type: []event.Type{event.Purchase, event.View}[j%2],
					CustomerID: "c" + string(rune('a'+j)), ItemID: "i-" + string(rune('a'+k)), Time: tm, Quantity: q, Price: p}
				if k%3 == 0 {
					e.Category = "cat.1"
				}
				if err := e.Validate(lim); err != nil {
					t.Fatalf("Validate(%+v) = %v", e, err)
				}
				got, err := event.Decode(event.Encode(e), lim)
				if err != nil || !got.Equal(e) {
					t.Fatalf("Decode(Encode(%+v)) = %+v, %v", e, got, err)
				}
			}
		}
	}
}

func TestKeyAndTopics(t *testing.T) {
	if got := string((event.Event{CustomerID: "c9"}).Key()); got != "c9" {
		t.Errorf("Key = %q", got)
	}
	if got := event.DeadLetterTopic(event.DefaultTopic); got != "alsobought.events.dlq" {
		t.Errorf("DeadLetterTopic = %q", got)
	}
	l := event.DefaultLimits(now)
	if l.MaxIDLen != 128 || l.MaxCategoryLen != 128 || l.MaxPayloadBytes != 16384 ||
		!l.MinTime.Equal(ms("1990-01-01T00:00:00Z")) || !l.MaxTime.Equal(now.Add(24*time.Hour)) {
		t.Errorf("DefaultLimits = %+v", l)
	}
}

func TestEqual(t *testing.T) {
	a := event.Event{ID: "e", Time: ms("2020-01-01T00:00:00Z"), Price: f64(1)}
	b := a
	b.Time = a.Time.In(time.FixedZone("X", 3600))
	b.Price = f64(1)
	if !a.Equal(b) {
		t.Error("same instant and price in other memory: not Equal")
	}
	b.Price = nil
	if a.Equal(b) {
		t.Error("price present vs absent: Equal")
	}
}
