package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/alsobought/alsobought/internal/testenv"
	"github.com/alsobought/alsobought/store"
	"github.com/alsobought/alsobought/store/schema"
)

// TestCountingTheIndexedCoCountsOfAnOlderState: `rescore
// -count-indexed-co-counts` gives a state whose rows keep indexes without
// counting their co-counts (as one recorded before the counts was) every
// row's count, records it, says so when run again, and leaves the state
// exact against the oracle.
func TestCountingTheIndexedCoCountsOfAnOlderState(t *testing.T) {
	env := testenv.New(t, 2)
	ctx := context.Background()
	common := []string{"-topic", env.Topic, "-group", env.Group, "-prefix", env.Prefix, "-log-level", "warn"}
	cmd := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(append(args[:1:1], common...), args[1:]...), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	file := sampleFile(t, 3000)
	if out, err := cmd("bootstrap", "-data", file, "-format", "dunnhumby"); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	client, keys := env.Store.Client(), env.Store.Keys()
	// An older state: no record of the counts, no count in any row.
	if err := client.HDel(ctx, keys.Meta, schema.MetaRowIndexCounts).Err(); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // row key -> its index
	for _, kind := range store.ListKinds() {
		iter := client.Scan(ctx, 0, keys.Row(kind, "*"), 1000).Iterator()
		for iter.Next(ctx) {
			rows[iter.Val()] = keys.RowIndex(kind, schema.ItemOf(iter.Val()))
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	removed := 0
	for row := range rows {
		n, err := client.HDel(ctx, row, schema.FieldIndexedCoCounts).Result()
		if err != nil {
			t.Fatal(err)
		}
		removed += int(n)
	}
	if removed == 0 {
		t.Fatal("no row of the bootstrapped state counted a co-count: the test counts nothing")
	}

	out, err := cmd("rescore", "-count-indexed-co-counts")
	if err != nil || !strings.Contains(out, "counted the indexed co-counts of") {
		t.Fatalf("rescore -count-indexed-co-counts: %v\n%s", err, out)
	}
	counted := 0
	for row, index := range rows {
		names, err := client.HKeys(ctx, index).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, f := range names {
			if schema.IsCoCountField(f) {
				want++
			}
		}
		got, err := client.HGet(ctx, row, schema.FieldIndexedCoCounts).Int()
		if errors.Is(err, redis.Nil) {
			got, err = 0, nil
		}
		if err != nil || got != want {
			t.Fatalf("%s counts %d (%v), its index names %d co-counts", row, got, err, want)
		}
		if got > 0 {
			counted++
		}
	}
	if counted != removed {
		t.Errorf("%d rows count co-counts, %d did before their counts were removed", counted, removed)
	}
	if v, err := client.HGet(ctx, keys.Meta, schema.MetaRowIndexCounts).Result(); err != nil || v != "1" {
		t.Fatalf("the state records %q (%v) for %s, want 1", v, err, schema.MetaRowIndexCounts)
	}
	if out, err := cmd("rescore", "-count-indexed-co-counts"); err != nil || !strings.Contains(out, "count their indexed co-counts already") {
		t.Fatalf("counting again: %v\n%s", err, out)
	}
	if out, err := cmd("verify", "-data", file, "-format", "dunnhumby"); err != nil || !strings.Contains(out, "OK: Redis matches the oracle") {
		t.Fatalf("verify after counting: %v\n%s", err, out)
	}
}
