package event

import "time"

// Defaults of Limits (docs/events.md, "Limits").
const (
	DefaultMaxIDLen        = 128            // bytes, for event_id, customer_id and item_id
	DefaultMaxCategoryLen  = 128            // bytes
	DefaultMaxPayloadBytes = 16 << 10       // 16 KiB, the whole JSON message value
	DefaultMaxSkew         = 24 * time.Hour // how far in the future ts may be
)

// DefaultMinTime is the earliest accepted event time by default:
// 1990-01-01T00:00:00Z (MovieLens, the oldest shared data set, starts in 1997).
func DefaultMinTime() time.Time { return time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC) }

// Limits bound what an event may contain. The zero value of an int field
// (or a negative one) means its default; a zero MinTime or MaxTime leaves
// that side of the time window open.
type Limits struct {
	// MaxIDLen is the maximum length in bytes of event_id, customer_id and
	// item_id. Default DefaultMaxIDLen (128).
	MaxIDLen int
	// MaxCategoryLen is the maximum length in bytes of category.
	// Default DefaultMaxCategoryLen (128).
	MaxCategoryLen int
	// MaxPayloadBytes is the maximum size of an encoded event (the Kafka
	// message value). Default DefaultMaxPayloadBytes (16 KiB).
	MaxPayloadBytes int
	// MinTime and MaxTime bound ts, both inclusive. Zero: no bound.
	MinTime, MaxTime time.Time
}

// DefaultLimits returns the default limits for a process whose clock reads
// now: ids and categories up to 128 bytes, payloads up to 16 KiB, and ts in
// [1990-01-01T00:00:00Z, now + 24h].
func DefaultLimits(now time.Time) Limits {
	return Limits{
		MaxIDLen:        DefaultMaxIDLen,
		MaxCategoryLen:  DefaultMaxCategoryLen,
		MaxPayloadBytes: DefaultMaxPayloadBytes,
		MinTime:         DefaultMinTime(),
		MaxTime:         now.Add(DefaultMaxSkew).UTC(),
	}
}

// withDefaults fills zero or negative sizes with their defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxIDLen <= 0 {
		l.MaxIDLen = DefaultMaxIDLen
	}
	if l.MaxCategoryLen <= 0 {
		l.MaxCategoryLen = DefaultMaxCategoryLen
	}
	if l.MaxPayloadBytes <= 0 {
		l.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	return l
}
