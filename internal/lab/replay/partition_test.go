package replay

import (
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/alsobought/alsobought/internal/kafkaconn"
)

// TestKeysLandWhereJavaClientsPutThem: the producer's balancer must agree
// with the Java client's default partitioner (toPositive(murmur2(key)) % n),
// so that any publisher keying by customer lands a customer on the same
// partition. The hashes are the test vectors of Kafka's own UtilsTest.
func TestKeysLandWhereJavaClientsPutThem(t *testing.T) {
	javaMurmur2 := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	w := NewWriter(kafkaconn.Plain("unused:1"), "t")
	for key, hash := range javaMurmur2 {
		for _, n := range []int{1, 3, 4, 12, 64} {
			partitions := make([]int, n)
			for i := range partitions {
				partitions[i] = i
			}
			want := int(uint32(hash)&0x7fffffff) % n
			if got := w.Balancer.Balance(kafka.Message{Key: []byte(key)}, partitions...); got != want {
				t.Errorf("key %q over %d partitions: partition %d, Java clients use %d", key, n, got, want)
			}
		}
	}
}
