package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/lab/synth"
	"github.com/alsobought/alsobought/internal/testenv"
)

// TestErasureIsExact: customers erased on request, two with `alsobought
// forget` and one with DELETE /v1/customers/{id}, leave nothing the oracle
// of the data without them would not hold: verify -erased finds the state
// exact in every counter (the viewed-then-bought counters included: the
// synthetic stream has views and purchases), history and list (the repeat
// counts and popularity, which cannot be attributed, aside), while plain
// verify finds it changed. The endpoint refuses a caller without the token.
func TestErasureIsExact(t *testing.T) {
	env := testenv.New(t, 2)
	evs, err := synth.Generate(synth.Config{Events: 20000, Seed: 17, PurchaseShare: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	data := testenv.WriteEvents(t, evs)
	// The three customers with the most events, so their erasure moves
	// many counters.
	count := map[string]int{}
	for _, e := range evs {
		count[e.CustomerID]++
	}
	var heavy []string
	for range 3 {
		best := ""
		for c, n := range count {
			if best == "" || n > count[best] || n == count[best] && c < best {
				best = c
			}
		}
		heavy = append(heavy, best)
		delete(count, best)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	common := []string{"-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix, "-redis", env.RedisAddr, "-log-level", "warn"}
	srv := startServe(t, addr, append([]string{"-http", addr, "-api-token", "s3cret", "-ageing-interval", "1s"}, common...)...)
	mustRun := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append(append(args[:1:1], common...), args[1:]...), &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s%s\nserve's log:\n%s", args, err, out.String(), errOut.String(), srv.log.String())
		}
		return out.String()
	}
	mustRun("replay", "-data", data, "-wait", "-quiet")

	erase := func(token, id string) (int, httpapi.ErasureResponse) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodDelete, "http://"+addr+"/v1/customers/"+id, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body httpapi.ErasureResponse
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := erase("", heavy[2]); code != http.StatusUnauthorized {
		t.Fatalf("DELETE without a token: %d, want 401", code)
	}
	if code, body := erase("s3cret", heavy[2]); code != http.StatusAccepted || body.Status != "requested" || len(body.Partitions) == 0 {
		t.Fatalf("DELETE with the token: %d %+v, want 202 requested", code, body)
	}
	if code, body := erase("s3cret", "nobody-at-all"); code != http.StatusOK || body.Status != "nothing" {
		t.Fatalf("DELETE of an unknown customer: %d %+v, want 200 nothing", code, body)
	}
	out := mustRun("forget", heavy[0], heavy[1], heavy[2])
	for i, id := range heavy {
		// heavy[2]'s erasure was asked for over HTTP: the sweep may have
		// done it already, and then there is nothing left to erase.
		if !strings.Contains(out, id+": erased") && !(i == 2 && strings.Contains(out, id+": nothing to erase")) {
			t.Fatalf("forget output lacks %q:\n%s", id+": erased", out)
		}
	}
	if out := mustRun("forget", heavy[0]); !strings.Contains(out, "nothing to erase") {
		t.Fatalf("forget of an erased customer: %s", out)
	}
	mustRun("rescore", "-all")
	if out := mustRun("verify", "-data", data, "-erased", strings.Join(heavy, ",")); !strings.Contains(out, "OK: Redis matches the oracle") {
		t.Fatalf("verify -erased: %s", out)
	}
	var vout bytes.Buffer
	err = run(context.Background(), append(append([]string{"verify"}, common...), "-data", data), &vout, &bytes.Buffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("verify of the erased state against the whole data: %v, want exit 1\n%s", err, vout.String())
	}
}
