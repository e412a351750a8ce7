package delta

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func TestEverShape(t *testing.T) {
	if everCapacity != 2016 || everMaxBytes != 4399 {
		t.Errorf("capacity %d items in %d bytes, want 2016 in 4399 (docs/redis-keys.md)", everCapacity, everMaxBytes)
	}
	var e Ever
	for i := range everCapacity + 50 {
		e.Add("item"+strconv.Itoa(i), int64(i))
	}
	if !e.Full() || e.Len() != everCapacity || len(e.bits) != everMaxBytes {
		t.Errorf("after %d items: len %d, %d bytes, full %v", everCapacity+50, e.Len(), len(e.bits), e.Full())
	}
	if n := len(e.Encode()); n > 5900 {
		t.Errorf("a full set encodes in %d characters, the documented bound is 5,867", n)
	}
}

// A filter never forgets an added item, at any size and across segments.
func TestEverNoFalseNegatives(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		var e Ever
		n := rng.IntN(everCapacity) + 1
		added := make([]string, 0, n)
		for i := range n {
			it := strconv.FormatUint(rng.Uint64(), 36) + "-" + strconv.Itoa(i)
			e.Add(it, int64(i))
			added = append(added, it)
		}
		for _, it := range added {
			if !e.Contains(it) {
				t.Fatalf("trial %d: %d items, %q added but not contained", trial, n, it)
			}
		}
		// Round trip keeps it.
		d, err := DecodeEver(e.Encode())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range added {
			if !d.Contains(it) {
				t.Fatalf("trial %d: %q lost in the encoding", trial, it)
			}
		}
	}
}

// The false-positive rate at each segment boundary and when full stays
// under the 1% target (a generous bound: 2%), measured over ids shaped
// like real ones (short, sequential).
func TestEverFalsePositives(t *testing.T) {
	for _, n := range []int{32, 96, 224, 480, 992, 2016} {
		var e Ever
		for i := range n {
			e.Add(strconv.Itoa(100000+i), 0)
		}
		fp, probes := 0, 100000
		for i := range probes {
			if e.Contains("x" + strconv.Itoa(i)) {
				fp++
			}
			if e.Contains(strconv.Itoa(900000 + i)) {
				fp++
			}
		}
		rate := float64(fp) / float64(2*probes)
		t.Logf("%d items, %d bytes: false positives %.4f", n, len(e.bits), rate)
		if rate > 0.02 {
			t.Errorf("%d items: false-positive rate %.4f, want under 0.02", n, rate)
		}
	}
}

// The bytes are a function of the sequence of items: the same sequence
// gives the same encoding, and repeats change nothing but Newest.
func TestEverDeterministic(t *testing.T) {
	var a, b Ever
	for i := range 300 {
		it := "p" + strconv.Itoa(i%250)
		a.Add(it, int64(i))
		b.Add(it, int64(i))
	}
	// A distinct item the filter already reports (a false positive) is
	// not added: so a little under 250.
	if a.Encode() != b.Encode() || a.Len() > 250 || a.Len() < 240 || a.Newest != 299 {
		t.Errorf("same sequence, different sets (%d items, newest %d)", a.Len(), a.Newest)
	}
	c := a.Clone()
	c.Add("p0", 1000)
	if c.Len() != a.Len() || c.Newest != 1000 || a.Newest != 299 {
		t.Errorf("a repeat changed the count or the clone shares state")
	}
	n := a.Len()
	a.Add("fresh", 1)
	if a.Len() != n+1 || a.Newest != 299 {
		t.Errorf("an older new item moved Newest to %d", a.Newest)
	}
}

func TestEverExpiredAndReset(t *testing.T) {
	var e Ever
	if e.Expired(1 << 60) {
		t.Error("an empty set expires")
	}
	e.Add("a", 100)
	e.Add("b", 200)
	if e.Expired(200) || !e.Expired(201) {
		t.Error("a set expires when the cut passes its newest time, not before")
	}
	e.Reset()
	if e.Len() != 0 || e.Contains("a") || e.Encode() != "" {
		t.Error("reset left something")
	}
}

func TestDecodeEverRejects(t *testing.T) {
	var e Ever
	e.Add("a", 5)
	good := e.Encode()
	for _, s := range []string{"x", "1,5", "0,5,AAAA", "1,5,!!", "1,5,AAAA", "zzzz,5," + good[4:], good + "A"} {
		if _, err := DecodeEver(s); err == nil {
			t.Errorf("DecodeEver(%q) accepted", s)
		}
	}
	if d, err := DecodeEver(good); err != nil || !d.Equal(e) || d.Newest != 5 {
		t.Errorf("round trip: %v", err)
	}
}

// TestBatchEverBought: a purchase that evicts from a full history adds
// the evicted item with its entry time; ageing that passes the set's
// newest time forgets it, while the history still holds newer entries;
// ageing that empties the purchase history forgets it; a sweep follows
// the same rule, and erasure drops it.
func TestBatchEverBought(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	r := Retention{Purchases: 1, Views: 5, MaxAge: time.Minute}
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var h, v History
	b := NewBatch(0)
	b.Purchase(&h, &v, "a", sec(0), 1, r)
	b.Purchase(&h, &v, "b", sec(10), 2, r) // evicts a (time 0)
	b.Purchase(&h, &v, "c", sec(20), 3, r) // evicts b (time 10)
	if !h.Ever.Contains("a") || !h.Ever.Contains("b") || h.Ever.Contains("c") || h.Ever.Newest != sec(10).UnixMilli() {
		t.Fatalf("ever-bought set after a, b, c with K_hist 1: %d items, newest %d", h.Ever.Len(), h.Ever.Newest)
	}
	b.View(&h, &v, "tv", sec(65), 4, r) // cut at 5 s: a's time, not b's
	if h.Ever.Len() != 2 {
		t.Fatalf("an age cut before the set's newest time forgot it")
	}
	b.View(&h, &v, "tv", sec(71), 5, r) // cut at 11 s: past b, c (20 s) stays
	if h.Ever.Len() != 0 || len(h.Items) != 1 {
		t.Fatalf("an age cut past the set's newest time: %d items left, history %v", h.Ever.Len(), h.Items)
	}

	// b arrives late, so the set (a at 5 s) is newer than the history.
	h, v = History{}, History{}
	b.Purchase(&h, &v, "a", sec(5), 6, r)
	b.Purchase(&h, &v, "b", sec(0), 7, r)
	b.View(&h, &v, "tv", sec(59), 8, r)
	if h.Ever.Len() != 1 || h.Ever.Expired(sec(1).UnixMilli()) {
		t.Fatal("no set to forget")
	}
	b.Sweep(&h, &v, sec(1).UnixMilli(), 9) // b leaves: h is empty, the views stay
	if h.Ever.Len() != 0 || len(v.Items) != 1 {
		t.Fatalf("a sweep that empties the purchase history kept its set (%d items)", h.Ever.Len())
	}

	h, v = History{}, History{}
	b.Purchase(&h, &v, "a", sec(0), 10, r)
	b.Purchase(&h, &v, "b", sec(1), 11, r)
	b.Erase(&h, &v, 12)
	if h.Ever.Len() != 0 {
		t.Fatal("erasure kept the ever-bought set")
	}
}

// The inline FNV-1a is the standard one (docs/redis-keys.md names it).
func TestEverHashIsFNV1a(t *testing.T) {
	for _, id := range []string{"", "a", "214676377", "item-with:colon"} {
		f := fnv.New64a()
		f.Write([]byte(id))
		x := f.Sum64()
		x ^= x >> 30
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 27
		x *= 0x94d049bb133111eb
		x ^= x >> 31
		if h1, h2 := everHash(id); h1 != x&0xffffffff || h2 != x>>32|1 {
			t.Errorf("everHash(%q) is not FNV-1a 64 with the splitmix64 finaliser", id)
		}
	}
	var e Ever
	e.Add("a", 1)
	if n := testing.AllocsPerRun(100, func() { e.Contains("214676377") }); n != 0 {
		t.Errorf("Contains allocates %v times", n)
	}
}

// The encoding is the contract of docs/redis-keys.md: pinned, so that a
// change to the hashing or the shape shows here (it needs a new schema
// version).
func TestEverEncodingPinned(t *testing.T) {
	var e Ever
	for i, it := range []string{"a", "b", "214676377"} {
		e.Add(it, 1_700_000_000_000+int64(i))
	}
	if got := e.Encode(); got != pinnedEver {
		t.Errorf("Encode = %q, want %q", got, pinnedEver)
	}
}

const pinnedEver = "3,loyw3v2a,AAoAAAAIBAAAAAQJAAAAADAAAAIAIAAABABAAAGAIIAAAAAQgAEAEAACAAAAQEA"
