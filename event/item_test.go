package event_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
)

func TestDecodeItemAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want event.Item
	}{
		{"only the id: available", `{"item_id":"sku-1"}`, event.Item{ID: "sku-1", Status: event.Available}},
		{"hidden", `{"item_id":"sku-1","status":"hidden"}`, event.Item{ID: "sku-1", Status: event.Hidden}},
		{"window in both forms, category", `{"item_id":"sku-1","status":"available","available_from":"2026-03-01T09:00:00+01:00","available_until":1772960400000,"category":"toys"}`,
			event.Item{ID: "sku-1", Status: event.Available, From: ms("2026-03-01T08:00:00Z"), Until: ms("2026-03-08T09:00:00Z"), Category: "toys"}},
		{"open-ended window", `{"item_id":"sku-1","available_until":"2026-03-01T00:00:00.1239Z"}`,
			event.Item{ID: "sku-1", Status: event.Available, Until: ms("2026-03-01T00:00:00.123Z")}},
		{"nulls are absent, unknown fields ignored", `{"item_id":"sku-1","status":null,"available_from":null,"category":null,"price":12,"tags":["a"]}`,
			event.Item{ID: "sku-1", Status: event.Available}},
		{"a window far in the past or future is fine", `{"item_id":"sku-1","available_from":0,"available_until":"2999-01-01T00:00:00Z"}`,
			event.Item{ID: "sku-1", Status: event.Available, From: time.UnixMilli(0).UTC(), Until: ms("2999-01-01T00:00:00Z")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := event.DecodeItem([]byte(tc.in), lim)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeItemRejects(t *testing.T) {
	small := lim
	small.MaxPayloadBytes = 16
	tests := []struct {
		name   string
		in     string
		lim    event.Limits
		reason event.Reason
		field  string
	}{
		{"too large", `{"item_id":"sku-1"}`, small, event.ReasonTooLarge, ""},
		{"not utf8", "{\"item_id\":\"\xff\"}", lim, event.ReasonNotUTF8, ""},
		{"not an object", `["sku-1"]`, lim, event.ReasonInvalidJSON, ""},
		{"duplicate field", `{"item_id":"a","status":"hidden","status":"available"}`, lim, event.ReasonInvalidJSON, "status"},
		{"status not a string", `{"item_id":"a","status":true}`, lim, event.ReasonWrongFieldType, "status"},
		{"from not a time", `{"item_id":"a","available_from":{}}`, lim, event.ReasonWrongFieldType, "available_from"},
		{"no id", `{"status":"hidden"}`, lim, event.ReasonMissingField, "item_id"},
		{"empty id", `{"item_id":""}`, lim, event.ReasonMissingField, "item_id"},
		{"id too long", `{"item_id":"` + strings.Repeat("x", 129) + `"}`, lim, event.ReasonIDTooLong, "item_id"},
		{"id with a brace", `{"item_id":"{a}"}`, lim, event.ReasonBadIDChars, "item_id"},
		{"category with a space", `{"item_id":"a","category":"home garden"}`, lim, event.ReasonBadIDChars, "category"},
		{"status in capitals", `{"item_id":"a","status":"Hidden"}`, lim, event.ReasonUnknownStatus, "status"},
		{"status out of stock", `{"item_id":"a","status":"out_of_stock"}`, lim, event.ReasonUnknownStatus, "status"},
		{"from without offset", `{"item_id":"a","available_from":"2026-03-01 09:00:00"}`, lim, event.ReasonBadTimestamp, "available_from"},
		{"until in float", `{"item_id":"a","available_until":1.7e12}`, lim, event.ReasonBadTimestamp, "available_until"},
		{"empty window", `{"item_id":"a","available_from":1000,"available_until":1000}`, lim, event.ReasonBadWindow, "available_until"},
		{"reversed window", `{"item_id":"a","available_from":"2026-03-02T00:00:00Z","available_until":"2026-03-01T00:00:00Z"}`, lim, event.ReasonBadWindow, "available_until"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := event.DecodeItem([]byte(tc.in), tc.lim)
			var ee *event.Error
			if !errors.As(err, &ee) || ee.Reason != tc.reason || ee.Field != tc.field {
				t.Fatalf("got %+v, %v; want %s on %q", got, err, tc.reason, tc.field)
			}
			if !got.Equal(event.Item{}) {
				t.Errorf("DecodeItem returned %+v with an error, want the zero Item", got)
			}
		})
	}
}

func TestItemVisibility(t *testing.T) {
	nine, five := ms("2026-03-01T09:00:00Z"), ms("2026-03-01T17:00:00Z")
	tests := []struct {
		name     string
		item     event.Item
		at       time.Time
		visible  bool
		next     time.Time // zero: none
		nextWhen string
	}{
		{"available, no window", event.Item{Status: event.Available}, nine, true, time.Time{}, ""},
		{"hidden", event.Item{Status: event.Hidden, From: nine}, nine.Add(-time.Hour), false, time.Time{}, "a hidden item's window changes nothing"},
		{"before launch", event.Item{Status: event.Available, From: nine, Until: five}, nine.Add(-time.Millisecond), false, nine, ""},
		{"at launch: from is inclusive", event.Item{Status: event.Available, From: nine, Until: five}, nine, true, five, ""},
		{"at the end: until is exclusive", event.Item{Status: event.Available, From: nine, Until: five}, five, false, time.Time{}, ""},
		{"only an end", event.Item{Status: event.Available, Until: five}, nine, true, five, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.item.VisibleAt(tc.at); got != tc.visible {
				t.Errorf("VisibleAt = %v, want %v", got, tc.visible)
			}
			next, ok := tc.item.NextChange(tc.at)
			if ok != !tc.next.IsZero() || !next.Equal(tc.next) {
				t.Errorf("NextChange = %v, %v; want %v %s", next, ok, tc.next, tc.nextWhen)
			}
			if ok && tc.item.VisibleAt(next) == tc.item.VisibleAt(tc.at) {
				t.Errorf("visibility does not change at NextChange %v", next)
			}
		})
	}
}

func TestEncodeItemIsCanonical(t *testing.T) {
	it := event.Item{ID: "sku-1", Status: event.Hidden, From: ms("2026-03-01T08:00:00Z"), Category: "toys"}
	want := `{"item_id":"sku-1","status":"hidden","available_from":"2026-03-01T08:00:00.000Z","category":"toys"}`
	if got := string(event.EncodeItem(it)); got != want {
		t.Fatalf("EncodeItem:\n got %s\nwant %s", got, want)
	}
	if err := (event.Item{ID: "a"}).Validate(lim); event.ReasonOf(err) != event.ReasonUnknownStatus {
		t.Errorf("an Item without a status validates: %v", err)
	}
	if err := (event.Item{ID: "a", Status: event.Available, From: ms("2026-03-01T08:00:00.0001Z")}).Validate(lim); event.ReasonOf(err) != event.ReasonBadTimestamp {
		t.Errorf("a window finer than a millisecond validates: %v", err)
	}
}

// FuzzDecodeItem: DecodeItem never panics, every error has a known reason,
// and every accepted record validates and survives EncodeItem/DecodeItem.
func FuzzDecodeItem(f *testing.F) {
	for _, s := range []string{
		`{"item_id":"sku-1"}`, `{"item_id":"sku-1","status":"hidden","available_from":1,"available_until":"2026-03-01T00:00:00Z","category":"c"}`,
		`{"item\u005fid":"a","status":"available","x":{"y":["}"]}}`, `{"item_id":"a","available_from":5,"available_until":5}`,
		`{"item_id":"a","status":"gone"}`, `{}`, `null`, ``, "{\"item_id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := event.DecodeItem(data, lim)
		if err != nil {
			var ee *event.Error
			if !errors.As(err, &ee) || !ee.Reason.Known() {
				t.Fatalf("error without a known reason: %T %v", err, err)
			}
			return
		}
		if err := it.Validate(lim); err != nil {
			t.Fatalf("accepted record fails Validate: %v\ninput: %q", err, data)
		}
		enc := event.EncodeItem(it)
		it2, err := event.DecodeItem(enc, lim)
		if err != nil || !it2.Equal(it) {
			t.Fatalf("round trip: %+v, %v\ninput: %q\nencoded: %s", it2, err, data, enc)
		}
		if !bytes.Equal(enc, event.EncodeItem(it2)) {
			t.Fatalf("EncodeItem not canonical: %s", enc)
		}
	})
}
