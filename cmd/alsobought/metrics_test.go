package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

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
	// Which topic, group and state this instance works on, for the
	// dashboard's instance panel.
	info := families["alsobought_instance_info"].GetMetric()
	if len(info) != 1 || info[0].GetGauge().GetValue() != 1 {
		t.Fatalf("alsobought_instance_info: %v", info)
	}
	labels := map[string]string{}
	for _, l := range info[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if want := map[string]string{"topic": env.Topic, "group": env.Group, "prefix": env.Prefix, "redis_mode": "single", "consuming": "true"}; !maps.Equal(labels, want) {
		t.Errorf("alsobought_instance_info labels %v, want %v", labels, want)
	}
	// The writes have waited for no storefront read yet.
	if w := families["alsobought_background_turns_waited_seconds_total"].GetMetric(); len(w) != 1 || w[0].GetCounter().GetValue() != 0 {
		t.Errorf("alsobought_background_turns_waited_seconds_total: %v, want one series at 0", w)
	}
}

// On the real broker: the status names the group's members with the
// partitions each owns, and the page says which member this instance is
// and which partitions it owns.
func TestStatusNamesTheGroupAndThisInstancesPartitions(t *testing.T) {
	env := testenv.New(t, 2)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	serve := startServe(t, addr, "-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix, "-http", addr, "-lag-interval", "300ms")
	defer serve.stop(t)
	var status struct {
		Group []struct {
			ID         string `json:"member_id"`
			Partitions []int  `json:"partitions"`
		} `json:"group_members"`
	}
	deadline := time.Now().Add(3 * time.Minute) // generous: a loaded machine joins the group slowly
	for {
		resp, err := http.Get("http://" + addr + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&status)
		resp.Body.Close()
		if err == nil && len(status.Group) == 1 && len(status.Group[0].Partitions) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status names no member owning both partitions after 3 minutes: %+v (%v)\n%s", status, err, serve.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The partitions sweep their histories once assigned; the page says
	// "not yet" until the first sweep ends, which on a loaded machine can
	// come after the group's join.
	swept := regexp.MustCompile(`<td>history sweeps \(ageing, erasure\)</td><td class="n">last [\d.]+ s ago</td>`)
	var page []byte
	for {
		resp, err := http.Get("http://" + addr + "/status")
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if swept.Match(page) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page does not say when the partitions last swept after 3 minutes:\n%s", page)
		}
		time.Sleep(200 * time.Millisecond)
	}
	member := status.Group[0].ID
	for _, want := range []string{`owns partitions <b id="own-partitions">0, 1</b>`,
		`<tr data-member="` + member + `" class="self"><td><code>` + member + `</code> <b>(this instance)</b></td>`, `<td>0, 1</td>`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %s:\n%s", want, page)
		}
	}
}
