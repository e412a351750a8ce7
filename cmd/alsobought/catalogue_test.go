package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/internal/httpapi"
	"github.com/alsobought/alsobought/internal/lab/replay"
	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/scoring"
	"github.com/alsobought/alsobought/store"
)

// TestCatalogueReachesEveryAnswer: a best-seller hidden through `catalogue
// load` while events stream leaves every related list, every popularity
// list and the recommendations, while its counters keep counting; verify, given the same feed, finds the state exact; an item
// whose launch is in the future shows nowhere; an invalid feed publishes
// nothing and names its lines; un-hiding brings the best-seller back.
func TestCatalogueReachesEveryAnswer(t *testing.T) {
	env := testenv.New(t, 2)
	data, evs := testenv.EventsFile(t, 30000)
	first, rest := testenv.WriteEvents(t, evs[:20000]), testenv.WriteEvents(t, evs[20000:])
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	common := []string{"-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix, "-redis", env.RedisAddr, "-log-level", "warn"}
	srv := startServe(t, addr, append([]string{"-http", addr}, common...)...)
	mustRun := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append(append(args[:1:1], common...), args[1:]...), &out, &errOut); err != nil {
			t.Fatalf("%v: %v\n%s%s\nserve's log:\n%s", args, err, out.String(), errOut.String(), srv.log.String())
		}
		return out.String()
	}
	mustRun("replay", "-data", first, "-wait", "-quiet")

	// The best-seller: the item that most lists hold.
	snap, err := env.Store.State.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	best := mostListed(snap)
	if holders := holding(snap, best); holders < 10 {
		t.Fatalf("the best-seller %s is in %d lists: the sample is too thin for this test", best, holders)
	}
	launch := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	nextBest := mostListed(snapWithout(snap, best))
	dir := t.TempDir()
	feed := filepath.Join(dir, "feed.csv")
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(feed, "item_id,title,status,available_from\n"+best+",The best-seller,hidden,\n"+nextBest+",Launched tomorrow,,"+launch.Format(time.RFC3339)+"\n")

	// An invalid line: nothing is published, and the line is named.
	bad := filepath.Join(dir, "bad.csv")
	write(bad, "item_id,status\n"+best+",hidden\nsku 2,available\n")
	var out, errOut bytes.Buffer
	err = run(context.Background(), append(append([]string{"catalogue"}, common...), "load", bad), &out, &errOut)
	if code := exitCode(err, &errOut); code != 1 || !strings.Contains(errOut.String(), "bad.csv:line 3: event: item_id: bad_id_chars") ||
		!strings.Contains(errOut.String(), "nothing published") {
		t.Fatalf("an invalid feed: exit %d\n%s", code, errOut.String())
	}

	// The rest of the events stream while the catalogue changes.
	streamed := make(chan error, 1)
	go func() {
		var out bytes.Buffer
		streamed <- run(context.Background(), append(append([]string{"replay"}, common...), "-data", rest, "-rate", "5000", "-quiet"), &out, &out)
	}()
	if out := mustRun("catalogue", "-wait", "load", feed); !strings.Contains(out, "published 2 item records") || !strings.Contains(out, "applied by serve") {
		t.Fatalf("catalogue load: %s", out)
	}
	if err := <-streamed; err != nil {
		t.Fatalf("replay of the rest: %v", err)
	}
	gone := func(items ...string) func(*store.Snapshot) string {
		return func(s *store.Snapshot) string {
			for _, it := range items {
				if n := holding(s, it); n > 0 {
					return fmt.Sprintf("%s is still in %d lists", it, n)
				}
			}
			return ""
		}
	}
	// Every event applied and every dirty list re-scored, as replay -wait waits.
	if _, err := (replay.Wait{Kafka: env.Kafka(), Topic: env.Topic, Timeout: 5 * time.Minute}).Run(context.Background(), replay.StateOf(env.Store)); err != nil {
		t.Fatal(err)
	}
	waitState(t, env, "hidden and unlaunched items leave every list", gone(best, nextBest))
	// Every list, not only those the catalogue touched, under today's
	// totals, as the sweep leaves them: then the state is the oracle's.
	mustRun("rescore", "-all")
	if out := mustRun("verify", "-data", data, "-catalogue", feed); !strings.Contains(out, "OK: Redis matches the oracle") {
		t.Fatalf("verify with the catalogue:\n%s", out)
	}
	if out := mustRun("catalogue", "show", best); !strings.Contains(out, best+": hidden; may be recommended now: no") {
		t.Fatalf("catalogue show: %s", out)
	}
	var item httpapi.ItemResponse
	getJSON(t, "http://"+addr+"/v1/items/"+nextBest, &item)
	if item.Visible || item.AvailableFrom == nil || !item.AvailableFrom.Equal(launch) {
		t.Fatalf("GET /v1/items/%s: %+v", nextBest, item)
	}
	// The recommendations of the customers who bought the best-seller.
	for _, c := range buyersOf(snap, best, 20) {
		var rec httpapi.RecommendationsResponse
		getJSON(t, "http://"+addr+"/v1/customers/"+c+"/recommendations?k=20", &rec)
		for _, it := range rec.Items {
			if it.Item == best || it.Item == nextBest {
				t.Fatalf("customer %s is recommended %s", c, it.Item)
			}
		}
	}

	// Un-hidden (a record "available"), the best-seller comes back where
	// its counters, which kept counting, put it: the lists are the
	// oracle's of the whole stream under the final catalogue.
	write(feed, "item_id,status\n"+best+",available\n")
	mustRun("catalogue", "-wait", "load", feed)
	waitState(t, env, "the un-hidden best-seller is back", func(s *store.Snapshot) string {
		if holding(s, best) == 0 {
			return best + " is in no list"
		}
		return ""
	})
	final := filepath.Join(dir, "final.csv")
	write(final, "item_id,status,available_from\n"+best+",available,\n"+nextBest+",,"+launch.Format(time.RFC3339)+"\n")
	mustRun("rescore", "-all")
	if out := mustRun("verify", "-data", data, "-catalogue", final); !strings.Contains(out, "OK: Redis matches the oracle") {
		t.Fatalf("verify after the un-hide:\n%s", out)
	}
	srv.stop(t)
}

// waitState waits, with a generous bound, until check finds nothing wrong
// in the state.
func waitState(t *testing.T, env *testenv.Env, what string, check func(*store.Snapshot) string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		snap, err := env.Store.State.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		wrong := check(snap)
		if wrong == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after 2 minutes, %s", what, wrong)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// holding counts the related and popularity lists that hold an item.
func holding(s *store.Snapshot, item string) int {
	n := 0
	for _, lists := range s.Lists {
		for _, l := range lists {
			if slices.ContainsFunc(l.Items, func(r scoring.Related) bool { return r.Item == item }) {
				n++
			}
		}
	}
	for _, lists := range s.Popular {
		for _, l := range lists {
			for _, p := range l.Items {
				if p.Item == item {
					n++
				}
			}
		}
	}
	return n
}

// mostListed is the item the most related lists hold (ties: the smaller id).
func mostListed(s *store.Snapshot) string {
	count := map[string]int{}
	for _, lists := range s.Lists {
		for _, l := range lists {
			for _, r := range l.Items {
				count[r.Item]++
			}
		}
	}
	best := ""
	for it, n := range count {
		if best == "" || n > count[best] || n == count[best] && it < best {
			best = it
		}
	}
	return best
}

// snapWithout is a copy of the lists of s without item's entries.
func snapWithout(s *store.Snapshot, item string) *store.Snapshot {
	out := store.NewSnapshot()
	for kind, lists := range s.Lists {
		for x, l := range lists {
			l.Items = slices.DeleteFunc(slices.Clone(l.Items), func(r scoring.Related) bool { return r.Item == item })
			out.Lists[kind][x] = l
		}
	}
	return out
}

// buyersOf are up to n customers whose purchase history holds item.
func buyersOf(s *store.Snapshot, item string, n int) []string {
	var out []string
	for c, h := range s.Histories {
		if slices.Contains(h.Items, item) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out[:min(n, len(out))]
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
