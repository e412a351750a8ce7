package consumer

import "testing"

// TestKeyPartitionerFollowsJavaClients: an event fits a partition when the
// Java clients' default partitioner would have put its key there, for any
// partition count the topic has had. Hashes are Kafka's UtilsTest vectors.
func TestKeyPartitionerFollowsJavaClients(t *testing.T) {
	javaMurmur2 := map[string]int32{"21": -973932308, "foobar": -790332482, "abc": 479470107}
	javaPartition := func(key string, n int) int { return int(uint32(javaMurmur2[key])&0x7fffffff) % n }

	var k keyPartitioner
	if !k.fits([]byte("abc"), 3) {
		t.Fatal("before any partition count is known every partition must fit")
	}
	k.setCounts([]int{4})
	for key := range javaMurmur2 {
		for p := 0; p < 4; p++ {
			if got, want := k.fits([]byte(key), p), p == javaPartition(key, 4); got != want {
				t.Errorf("4 partitions: fits(%q, %d) = %v, want %v", key, p, got, want)
			}
		}
		if k.fits([]byte(key), 5) {
			t.Errorf("4 partitions: %q fits partition 5, which does not exist", key)
		}
	}
	// Partitions added: events keyed under either count fit.
	k.setCounts([]int{4, 8})
	for key := range javaMurmur2 {
		for p := 0; p < 8; p++ {
			want := p == javaPartition(key, 4) || p == javaPartition(key, 8)
			if got := k.fits([]byte(key), p); got != want {
				t.Errorf("4 then 8 partitions: fits(%q, %d) = %v, want %v", key, p, got, want)
			}
		}
	}
	// A partition loop that read the count before the change reports only
	// the old one: the counts another loop added stay.
	k.setCounts([]int{4})
	for key := range javaMurmur2 {
		if p := javaPartition(key, 8); !k.fits([]byte(key), p) {
			t.Errorf("after a stale report of 4: %q no longer fits its partition %d of 8", key, p)
		}
	}
}
