package delta

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/alsobought/alsobought/store/schema"
)

// Ever is a customer's "ever bought" set beyond the purchase history
// (docs/DESIGN.md section 12): the items that left H_c because a new item
// arrived at a full history (the K_hist bound). H_c holds the K_hist most
// recent purchases exactly; together they say whether the customer ever
// bought an item, so a catalogue nobody re-buys never offers an old
// purchase again. Items that leave by ageing or erasure are not added:
// forgotten purchases are forgotten (section 10).
//
// It is a scalable Bloom filter (Almeida et al., 2007): segment i holds
// up to everBase·2^i items at a false-positive target of everFP/2^i, so
// the whole filter stays under 2·everFP; items go to the newest segment
// and a new segment is added when it is full, up to everSegments segments
// (about 4.3 KB for 2,016 items). A full filter takes no more items: later
// evictions look unowned again, as they did before the set existed,
// rather than letting the false positives climb until everything looks
// owned. An item is added only when the filter does not already report
// it, so the filter's bytes are a function of the sequence of evictions
// alone, which lets the oracle build the same bytes and verify compare
// them.
//
// The zero value is the empty set.
type Ever struct {
	// Newest is the latest entry time (unix ms) of an item when it was
	// added or found already present: every item of the set was last
	// bought at or before it, so once an event's age reaches it, the whole
	// set is forgotten (Expired).
	Newest int64
	n      int    // items added
	bits   []byte // the segments' bits, oldest segment first
}

// The filter's shape: fixed, so that the encoding is one function of the
// items added (changing any of these is a schema change).
const (
	everBase     = 32    // items of the first segment
	everFP       = 0.005 // false-positive target of the first segment
	everSegments = 6     // at most this many segments
)

// everSegment is one segment's shape.
type everSegment struct {
	capacity int // items
	hashes   int // k
	bits     int // m, a multiple of 8
	offset   int // byte offset of the segment in Ever.bits
}

// everShape holds the shapes of every segment; everCapacity is the most
// items a filter takes and everMaxBytes its largest size.
var everShape, everCapacity, everMaxBytes = func() ([]everSegment, int, int) {
	var segs []everSegment
	total, bytes := 0, 0
	for i := range everSegments {
		c := everBase << i
		p := everFP / float64(uint(1)<<i)
		k := int(math.Ceil(math.Log2(1 / p)))
		m := int(math.Ceil(float64(c) * float64(k) / math.Ln2))
		m = (m + 7) &^ 7
		segs = append(segs, everSegment{capacity: c, hashes: k, bits: m, offset: bytes})
		total += c
		bytes += m / 8
	}
	return segs, total, bytes
}()

// everHash is the pair of hashes an item's probes are made of (double
// hashing, Kirsch and Mitzenmacher): FNV-1a 64 of the id, then a 64-bit
// finaliser so that ids differing in their last byte spread over all the
// bits. h2 is odd, so the probes of a segment are distinct when its bits
// are a power of two and rarely collide otherwise.
func everHash(item string) (h1, h2 uint64) {
	x := uint64(14695981039346656037) // FNV-1a 64, inline: no allocation per test
	for i := 0; i < len(item); i++ {
		x ^= uint64(item[i])
		x *= 1099511628211
	}
	// splitmix64's finaliser.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x & 0xffffffff, x>>32 | 1
}

// everSegmentsFor is how many segments hold n items.
func everSegmentsFor(n int) int {
	total := 0
	for i, s := range everShape {
		total += s.capacity
		if n <= total {
			return i + 1
		}
	}
	return len(everShape)
}

// Len is the number of items added.
func (e Ever) Len() int { return e.n }

// Full reports whether the filter takes no more items.
func (e Ever) Full() bool { return e.n >= everCapacity }

// Contains reports whether item was probably added: never false for an
// added item; true for one never added with a probability under 1%.
func (e *Ever) Contains(item string) bool {
	if e == nil || e.n == 0 {
		return false
	}
	h1, h2 := everHash(item)
	for _, s := range everShape[:everSegmentsFor(e.n)] {
		if s.has(e.bits, h1, h2) {
			return true
		}
	}
	return false
}

func (s everSegment) has(bits []byte, h1, h2 uint64) bool {
	for j := range s.hashes {
		b := (h1 + uint64(j)*h2) % uint64(s.bits)
		if bits[s.offset+int(b/8)]&(1<<(b%8)) == 0 {
			return false
		}
	}
	return true
}

func (s everSegment) set(bits []byte, h1, h2 uint64) {
	for j := range s.hashes {
		b := (h1 + uint64(j)*h2) % uint64(s.bits)
		bits[s.offset+int(b/8)] |= 1 << (b % 8)
	}
}

// Add records that item left the purchase history by the K_hist bound,
// its entry time being at (unix ms). An item the filter reports already
// only moves Newest; a full filter takes no new item.
func (e *Ever) Add(item string, at int64) {
	if e.Contains(item) {
		e.Newest = max(e.Newest, at)
		return
	}
	if e.Full() {
		return
	}
	e.n++
	segs := everSegmentsFor(e.n)
	last := everShape[segs-1]
	if need := last.offset + last.bits/8; len(e.bits) < need {
		e.bits = append(e.bits, make([]byte, need-len(e.bits))...)
	}
	h1, h2 := everHash(item)
	last.set(e.bits, h1, h2)
	if e.n == 1 {
		e.Newest = at
	}
	e.Newest = max(e.Newest, at)
}

// Expired reports whether an age cut (unix ms: entries before it are
// forgotten) has reached every item of the set.
func (e Ever) Expired(cut int64) bool { return e.n > 0 && e.Newest < cut }

// Reset empties the set.
func (e *Ever) Reset() { *e = Ever{} }

// Clone returns an independent copy.
func (e Ever) Clone() Ever {
	e.bits = append([]byte(nil), e.bits...)
	return e
}

// Equal reports whether two sets have the same encoding.
func (e Ever) Equal(o Ever) bool { return e.Encode() == o.Encode() }

// Encode returns the set as stored in Redis (schema.CustomerEver): ""
// when empty, else "n,newest,bits": the number of items added and Newest
// in base 36, then the segments' bits in unpadded standard base64.
func (e Ever) Encode() string {
	if e.n == 0 {
		return ""
	}
	return strconv.FormatInt(int64(e.n), 36) + schema.EverSep + strconv.FormatInt(e.Newest, 36) +
		schema.EverSep + base64.RawStdEncoding.EncodeToString(e.bits)
}

// String is the encoding, for reports.
func (e Ever) String() string { return e.Encode() }

// DecodeEver parses Encode's output, checking that the bits have the
// size the number of items calls for.
func DecodeEver(s string) (Ever, error) {
	if s == "" {
		return Ever{}, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("ever bought set: %s in %.40q (want n%snewest%sbase64, schema version %d)",
			why, s, schema.EverSep, schema.EverSep, schema.Version)
	}
	parts := strings.Split(s, schema.EverSep)
	if len(parts) != 3 {
		return Ever{}, bad("not three parts")
	}
	n, err := strconv.ParseInt(parts[0], 36, 64)
	if err != nil || n < 1 || n > int64(everCapacity) {
		return Ever{}, bad("bad count")
	}
	newest, err := strconv.ParseInt(parts[1], 36, 64)
	if err != nil {
		return Ever{}, bad("bad time")
	}
	bits, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil {
		return Ever{}, bad("bad base64")
	}
	last := everShape[everSegmentsFor(int(n))-1]
	if len(bits) != last.offset+last.bits/8 {
		return Ever{}, bad(fmt.Sprintf("%d bytes for %d items", len(bits), n))
	}
	return Ever{Newest: newest, n: int(n), bits: bits}, nil
}
