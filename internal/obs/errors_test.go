package obs

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func TestRepeatsAreRateLimited(t *testing.T) {
	var buf bytes.Buffer
	log := Repeats(zerolog.New(&buf))
	for i := 0; i < 100; i++ {
		log.Warn().Int("attempt", i).Msg("redis down; retrying")
	}
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("%d lines for 100 repeats within a period, want 3:\n%s", n, buf.String())
	}
}

func TestErrorsCount(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := NewErrors(reg)
	e.Redis()
	e.Kafka()
	e.Kafka()
	var nilErrors *Errors
	nilErrors.Redis() // counts nothing, does not panic
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
	}
	if got["alsobought_redis_errors_total"] != 1 || got["alsobought_kafka_errors_total"] != 2 {
		t.Fatalf("counters %v", got)
	}
	if r, k := e.Counts(); r != 1 || k != 2 {
		t.Errorf("Counts() = %v, %v; want 1, 2", r, k)
	}
	if r, k := nilErrors.Counts(); r != 0 || k != 0 {
		t.Errorf("a nil *Errors counts %v, %v", r, k)
	}
}
