package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/alsobought/alsobought/consumer"
	"github.com/alsobought/alsobought/event"
	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/lag"
	"github.com/alsobought/alsobought/internal/obs"
)

// placedConsumer is a statusConsumer with a place in the group: its member
// id and the partitions it owns.
type placedConsumer struct {
	*statusConsumer
	id         string
	partitions []int
}

func (c placedConsumer) Stats() consumer.Stats {
	st := c.statusConsumer.Stats()
	st.MemberID, st.Partitions = c.id, c.partitions
	return st
}

// statusBody is the part of GET /v1/status these tests read. The pointers
// tell an absent field from a zero one.
type statusBody struct {
	Group    []lag.Member `json:"group_members"`
	Instance struct {
		Started       time.Time `json:"started"`
		UptimeSeconds *float64  `json:"uptime_seconds"`
		MemberID      *string   `json:"member_id"`
		Partitions    *[]int    `json:"partitions"`
	} `json:"instance"`
	Recent struct {
		Rates map[string]float64 `json:"rates_per_second"`
	} `json:"recent"`
	SinceStart struct {
		Totals      map[string]float64 `json:"totals"`
		DeadLetters map[string]uint64  `json:"dead_letters_by_reason"`
	} `json:"since_start"`
}

// TestStatusSaysWhichMemberThisInstanceIsAndWhatItCountedSinceStart: GET
// /v1/status gives the instance's uptime next to its start, and its member
// id and the partitions it owns from the consumer, the status page's own
// source, so that a client finds this instance among group_members; and,
// beside the recent window's rates, the totals since the process started
// and the dead letters by reason, every reason with its zero. Each answer
// is checked against docs/openapi.yaml. It needs no service.
func TestStatusSaysWhichMemberThisInstanceIsAndWhatItCountedSinceStart(t *testing.T) {
	router, err := gorillamux.NewRouter(loadSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-90 * time.Minute).UTC()
	instance := &httpapi.Instance{Version: "v1.2.3", Commit: "0123456789ab", GoVersion: "go1.26.0", Started: started, Consuming: true,
		Topic: "shop.events", Group: "alsobought", Prefix: "ab", RedisMode: "single", RedisAddrs: "10.0.0.5:6379",
		Brokers: []string{"10.0.0.7:9092"}, Recorded: map[string]string{"history_size": "200"}}
	report := lagReport(time.Now())
	report.Group = []lag.Member{
		{ID: "alsobought-a", ClientID: "alsobought", Host: "/10.0.3.7", Partitions: []int{0}},
		{ID: "alsobought-b", ClientID: "alsobought", Host: "/10.0.3.8", Partitions: []int{1}},
	}
	serve := func(cons httpapi.ConsumerStats) http.Handler {
		errs := obs.NewErrors(prometheus.NewRegistry())
		errs.Redis()
		opts := httpapi.Options{Status: func() lag.Report { return report }, Instance: instance, Rescorer: newStatusRescorer(), Errors: errs,
			Consumer: cons}
		return httpapi.New(httpapi.Store{}, opts, func(context.Context) string { return "" }, prometheus.NewRegistry(), zerolog.Nop())
	}
	get := func(h http.Handler, path string) string {
		t.Helper()
		return specGet(t, router, h, path, nil, false, http.StatusOK).Body.String()
	}
	status := func(h http.Handler) (statusBody, string) {
		t.Helper()
		raw := get(h, "/v1/status")
		var body statusBody
		if err := json.Unmarshal([]byte(raw), &body); err != nil {
			t.Fatalf("%v in %s", err, raw)
		}
		return body, raw
	}

	t.Run("a member: its id, its partitions and its uptime", func(t *testing.T) {
		h := serve(placedConsumer{newStatusConsumer(), "alsobought-b", []int{1}})
		body, raw := status(h)
		in := body.Instance
		if !in.Started.Equal(started) || in.UptimeSeconds == nil || *in.UptimeSeconds < 5400 || *in.UptimeSeconds > 5400+60 {
			t.Errorf("started %v, uptime %v s: want the start as configured and about 5400 s since: %s", in.Started, in.UptimeSeconds, raw)
		}
		if in.MemberID == nil || *in.MemberID != "alsobought-b" || in.Partitions == nil || !slices.Equal(*in.Partitions, []int{1}) {
			t.Fatalf("member_id %v, partitions %v: want alsobought-b owning [1]: %s", in.MemberID, in.Partitions, raw)
		}
		i := slices.IndexFunc(body.Group, func(m lag.Member) bool { return m.ID == *in.MemberID })
		if i < 0 || !slices.Equal(body.Group[i].Partitions, *in.Partitions) {
			t.Errorf("this instance is not the group member with its id and partitions: %s", raw)
		}
		if page := get(h, "/status"); !strings.Contains(page, `<b id="own-partitions">1</b>`) ||
			!strings.Contains(page, `<tr data-member="alsobought-b" class="self">`) {
			t.Errorf("the status page does not show the same place in the group:\n%s", page)
		}
	})

	t.Run("a member that owns no partition says so with []", func(t *testing.T) {
		body, raw := status(serve(placedConsumer{newStatusConsumer(), "alsobought-c", nil}))
		if p := body.Instance.Partitions; p == nil || len(*p) != 0 || body.Instance.MemberID == nil {
			t.Errorf("a consumer that owns nothing: want member_id and partitions [], got %s", raw)
		}
	})

	t.Run("without a consumer, no place in the group", func(t *testing.T) {
		body, raw := status(serve(nil))
		if body.Instance.MemberID != nil || body.Instance.Partitions != nil || body.Instance.UptimeSeconds == nil {
			t.Errorf("a serve that does not consume: want an uptime, no member_id and no partitions: %s", raw)
		}
		if body.SinceStart.DeadLetters != nil {
			t.Errorf("no dead letters are counted here, none should be shown: %s", raw)
		}
	})

	t.Run("totals since start beside the recent rates, dead letters by reason", func(t *testing.T) {
		body, raw := status(serve(placedConsumer{newStatusConsumer(), "alsobought-b", []int{1}}))
		for name, want := range map[string]float64{
			"alsobought_events_consumed_total": 1200, "alsobought_events_applied_total": 1180, "alsobought_events_dead_lettered_total": 2,
			"alsobought_items_rescored_total": 340, "alsobought_redis_errors_total": 1, "alsobought_kafka_errors_total": 0,
			"alsobought_rescore_errors_total": 0, "alsobought_feed_publish_errors_total": 0,
		} {
			if got, ok := body.SinceStart.Totals[name]; !ok || got != want {
				t.Errorf("since_start.totals[%s] = %v (present: %v), want %v", name, got, ok, want)
			}
		}
		if len(body.SinceStart.Totals) != 8 {
			t.Errorf("since_start.totals has %d counters, want the page's 8: %s", len(body.SinceStart.Totals), raw)
		}
		for _, r := range event.Reasons() {
			want := uint64(0)
			if r == event.ReasonInvalidJSON {
				want = 2
			}
			if got, ok := body.SinceStart.DeadLetters[string(r)]; !ok || got != want {
				t.Errorf("dead_letters_by_reason[%s] = %d (present: %v), want %d", r, got, ok, want)
			}
		}
		if len(body.SinceStart.DeadLetters) != len(event.Reasons()) {
			t.Errorf("dead_letters_by_reason has %d reasons, want %d: %s", len(body.SinceStart.DeadLetters), len(event.Reasons()), raw)
		}
	})
}
