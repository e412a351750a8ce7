package delta

import (
	"math/rand/v2"
	"strconv"
	"testing"
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
