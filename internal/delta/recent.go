package delta

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alsobought/alsobought/store/schema"
)

// Dedup says which event ids a customer remembers, to recognise an event
// appended twice (a producer retry) at a new offset.
type Dedup struct {
	// Window: an id is remembered while its event time is within Window of
	// the customer's newest remembered event time. Zero turns dedup off.
	Window time.Duration
	// Max bounds the ids remembered per customer (the most recent ones).
	Max int
}

// DefaultDedup remembers the ids of a customer's events of the last hour of
// its activity, at most 32: a producer retry lands seconds after the
// original, and the bound keeps memory at a few hundred bytes per customer.
var DefaultDedup = Dedup{Window: time.Hour, Max: 32}

// Validate checks the settings.
func (d Dedup) Validate() error {
	if d.Window < 0 {
		return fmt.Errorf("dedup window %s must not be negative", d.Window)
	}
	if d.Window > 0 && (d.Max < 1 || d.Max > 10000) {
		return fmt.Errorf("dedup max %d: must be from 1 to 10000", d.Max)
	}
	return nil
}

// Recent is the customer's memory of recently applied event ids, in
// arrival order. Only event times decide what is forgotten, never the
// clock or the batch, so a replay and the oracle decide exactly as the
// first pass did.
type Recent struct {
	IDs   []string
	Times []int64 // unix ms of each id's event
}

// Seen reports whether id is remembered.
func (r *Recent) Seen(id string) bool {
	for _, x := range r.IDs {
		if x == id {
			return true
		}
	}
	return false
}

// Add remembers id (an event of time t) and forgets what falls out of the
// window or beyond the bound.
func (r *Recent) Add(id string, t time.Time, d Dedup) {
	if d.Window <= 0 {
		return
	}
	ms := t.UnixMilli()
	r.IDs = append(r.IDs, id)
	r.Times = append(r.Times, ms)
	newest := ms
	for _, x := range r.Times {
		newest = max(newest, x)
	}
	cut := newest - d.Window.Milliseconds()
	keep := 0
	drop := max(0, len(r.IDs)-d.Max) // the oldest arrivals beyond the bound
	for i := range r.IDs {
		if i < drop || r.Times[i] < cut {
			continue
		}
		r.IDs[keep], r.Times[keep] = r.IDs[i], r.Times[i]
		keep++
	}
	r.IDs, r.Times = r.IDs[:keep], r.Times[:keep]
}

// Encode returns the stored form: "id,ms" entries (schema.RecentIDSep)
// joined by schema.RecentSep (the event contract forbids both separators in
// ids).
func (r Recent) Encode() string {
	var sb strings.Builder
	for i, id := range r.IDs {
		if i > 0 {
			sb.WriteString(schema.RecentSep)
		}
		sb.WriteString(id)
		sb.WriteString(schema.RecentIDSep)
		sb.WriteString(strconv.FormatInt(r.Times[i], 10))
	}
	return sb.String()
}

// DecodeRecent parses Encode's output.
func DecodeRecent(s string) (Recent, error) {
	var r Recent
	if s == "" {
		return r, nil
	}
	for _, e := range strings.Split(s, schema.RecentSep) {
		id, ms, ok := strings.Cut(e, schema.RecentIDSep)
		t, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil || id == "" {
			return Recent{}, fmt.Errorf("recent event ids: bad entry %q", e)
		}
		r.IDs = append(r.IDs, id)
		r.Times = append(r.Times, t)
	}
	return r, nil
}
