package event_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/alsobought/alsobought/event"
)

// FuzzDecode checks that Decode never panics, that every error is an
// *event.Error with a known Reason, and that every accepted event is valid
// and survives Encode/Decode unchanged, with Encode stable (canonical).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"event_id":"e1","type":"purchase","customer_id":"c1","item_id":"i1","ts":"2014-04-01T03:01:46.083Z"}`,
		`{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":1396321306083,"quantity":2,"price":1.5,"category":"S"}`,
		`{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":"2014-03-31T23:01:46.083999-04:00","price":null}`,
		`{"x":[{"y":"}"}],"event_id":"e\u0031","type":"view","customer\u005fid":"c1","item_id":"i1","ts":1396321306083}`,
		`{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":1396321306083,"item_id":"i2"}`,
		`{"event_id":"e1","type":"click","customer_id":"c 1","item_id":"{i}","ts":"2017-01-28T14:06:53-0500"}`,
		`{"event_id":"e1","type":"view","customer_id":"c1","item_id":"i1","ts":1.5e12,"quantity":-0,"price":1e400}`,
		`{}`, `[]`, `null`, ``, `{"ts":true}`, "{\"event_id\":\"\xff\"}", `{"a":1}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := event.Decode(data, lim)
		if err != nil {
			var ee *event.Error
			if !errors.As(err, &ee) || !ee.Reason.Known() {
				t.Fatalf("error without a known reason: %T %v", err, err)
			}
			return
		}
		if err := e.Validate(lim); err != nil {
			t.Fatalf("accepted event fails Validate: %v\ninput: %q", err, data)
		}
		enc := event.Encode(e)
		e2, err := event.Decode(enc, lim)
		if err != nil {
			t.Fatalf("Decode(Encode(e)) failed: %v\ninput: %q\nencoded: %s", err, data, enc)
		}
		if !e2.Equal(e) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v\ninput: %q", e, e2, data)
		}
		if enc2 := event.Encode(e2); !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode not canonical:\n%s\n%s", enc, enc2)
		}
	})
}

var benchPayload = []byte(`{"event_id":"yoochoose:events.csv.gz:123456","type":"purchase","customer_id":"448834","item_id":"214820942","ts":"2014-04-01T03:01:46.083Z","quantity":2,"price":1.5,"category":"S"}`)

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"rfc3339", benchPayload},
		{"epoch_ms", []byte(`{"event_id":"yoochoose:events.csv.gz:123456","type":"view","customer_id":"448834","item_id":"214820942","ts":1396321306083}`)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.data)))
			for b.Loop() {
				if _, err := event.Decode(bc.data, lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	e, err := event.Decode(benchPayload, lim)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = event.AppendEncode(buf[:0], e)
	}
}
