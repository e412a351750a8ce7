package event

import (
	"encoding/json"
	"math"
	"strconv"
)

// TimeLayout is the layout Encode writes ts with: RFC 3339 in UTC with
// exactly three fractional digits, e.g. "2014-04-01T03:01:46.083Z".
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Encode returns the canonical JSON form of e: the fields in contract order
// (event_id, type, customer_id, item_id, ts, quantity, price, category), ts
// as RFC 3339 UTC with milliseconds (TimeLayout), numbers in the shortest
// form that reads back to the same float64, and absent optional fields left
// out. For every e that passes Validate, Decode(Encode(e)) is Equal to e.
// Encode does not validate; a NaN or infinite number is written as null.
func Encode(e Event) []byte {
	b := make([]byte, 0, 160+len(e.ID)+len(e.CustomerID)+len(e.ItemID)+len(e.Category))
	return AppendEncode(b, e)
}

// AppendEncode appends Encode(e) to b and returns the extended slice.
func AppendEncode(b []byte, e Event) []byte {
	b = append(b, `{"event_id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, string(e.Type))
	b = append(b, `,"customer_id":`...)
	b = appendString(b, e.CustomerID)
	b = append(b, `,"item_id":`...)
	b = appendString(b, e.ItemID)
	b = append(b, `,"ts":"`...)
	b = e.Time.UTC().AppendFormat(b, TimeLayout)
	b = append(b, '"')
	if e.Quantity != nil {
		b = append(b, `,"quantity":`...)
		b = appendFloat(b, *e.Quantity)
	}
	if e.Price != nil {
		b = append(b, `,"price":`...)
		b = appendFloat(b, *e.Price)
	}
	if e.Category != "" {
		b = append(b, `,"category":`...)
		b = appendString(b, e.Category)
	}
	return append(b, '}')
}

// appendString writes s as a JSON string. Valid ids need no escaping; any
// other string goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !idByte[s[i]] {
			q, err := json.Marshal(s)
			if err != nil { // unreachable: strings always marshal
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat writes f the way encoding/json does: shortest representation,
// exponent form only for very small or very large magnitudes.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
