package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/testenv"
)

// A serve that has seen nothing yet already exports every known label value
// of its labelled counters at 0, so that rate() and absence alerts work from
// the first scrape and a dashboard can tell "none" from "missing"; and it
// says which build it is.
func TestAFreshServeExportsEveryLabelledCounterAtZero(t *testing.T) {
	env := testenv.New(t, 1)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	var log lockedBuffer
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix, "-http", addr}, &bytes.Buffer{}, &log)
	}()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v\n%s", err, log.String())
		}
	}()
	waitReady(t, addr, served, &log)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	families := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(resp.Body, expfmt.NewFormat(expfmt.TypeTextPlain))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		families[mf.GetName()] = mf
	}
	// value is the series of name whose label has the value, if present.
	value := func(name, label, val string) (float64, bool) {
		for _, m := range families[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == val {
					return m.GetCounter().GetValue(), true
				}
			}
		}
		return 0, false
	}
	var reasons []string
	for _, r := range event.Reasons() {
		reasons = append(reasons, string(r))
	}
	for _, c := range []struct {
		name, label string
		values      []string
	}{
		{"alsobought_events_dead_lettered_total", "reason", reasons},
		{"alsobought_events_applied_total", "type", []string{"purchase", "view"}},
		{"alsobought_events_deduplicated_total", "type", []string{"purchase", "view"}},
		{"alsobought_customers_swept_total", "action", []string{"aged", "erased", "deleted"}},
	} {
		for _, v := range c.values {
			if got, ok := value(c.name, c.label, v); !ok || got != 0 {
				t.Errorf("%s{%s=%q} = %v (present: %v), want present at 0", c.name, c.label, v, got, ok)
			}
		}
	}
	if bi := families["alsobought_build_info"].GetMetric(); len(bi) != 1 || bi[0].GetGauge().GetValue() != 1 {
		t.Errorf("alsobought_build_info: %v", bi)
	}
}
