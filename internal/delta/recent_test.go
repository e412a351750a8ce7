package delta

import (
	"reflect"
	"testing"
	"time"
)

func TestRecentRemembersWithinWindowAndBound(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	d := Dedup{Window: time.Hour, Max: 3}
	type add struct {
		id  string
		min int // minutes after t0
	}
	tests := []struct {
		name string
		adds []add
		want []string // remembered ids, in arrival order
	}{
		{"keeps ids within the window", []add{{"a", 0}, {"b", 30}, {"c", 60}}, []string{"a", "b", "c"}},
		{"forgets ids older than the window before the newest", []add{{"a", 0}, {"b", 30}, {"c", 61}}, []string{"b", "c"}},
		{"the bound drops the oldest arrivals", []add{{"a", 0}, {"b", 1}, {"c", 2}, {"d", 3}}, []string{"b", "c", "d"}},
		{"a late event does not move the window back", []add{{"a", 120}, {"b", 0}}, []string{"a"}},
		{"a late event within the window stays", []add{{"a", 120}, {"b", 90}}, []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Recent
			for _, a := range tc.adds {
				r.Add(a.id, t0.Add(time.Duration(a.min)*time.Minute), d)
			}
			if !reflect.DeepEqual(r.IDs, tc.want) {
				t.Fatalf("remembered %v, want %v", r.IDs, tc.want)
			}
			for _, id := range tc.want {
				if !r.Seen(id) {
					t.Errorf("Seen(%q) = false", id)
				}
			}
		})
	}
}

func TestRecentOffRemembersNothing(t *testing.T) {
	var r Recent
	r.Add("a", time.Now(), Dedup{})
	if r.Seen("a") || len(r.IDs) != 0 {
		t.Fatalf("dedup off remembered %v", r.IDs)
	}
}

func TestRecentEncoding(t *testing.T) {
	r := Recent{IDs: []string{"web-1", "pos:77/1"}, Times: []int64{1714554960000, -5}}
	got, err := DecodeRecent(r.Encode())
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip of %q: %+v, %v", r.Encode(), got, err)
	}
	if empty, err := DecodeRecent(""); err != nil || len(empty.IDs) != 0 {
		t.Fatalf("empty: %+v, %v", empty, err)
	}
	for _, bad := range []string{"a", "a,x", ",1", "a,1|b"} {
		if _, err := DecodeRecent(bad); err == nil {
			t.Errorf("DecodeRecent(%q) accepted", bad)
		}
	}
}

func TestDedupValidate(t *testing.T) {
	for _, d := range []Dedup{{Window: -time.Second, Max: 1}, {Window: time.Hour, Max: 0}, {Window: time.Hour, Max: 10001}} {
		if d.Validate() == nil {
			t.Errorf("%+v accepted", d)
		}
	}
	if err := (Dedup{}).Validate(); err != nil {
		t.Errorf("dedup off rejected: %v", err)
	}
	if err := DefaultDedup.Validate(); err != nil {
		t.Errorf("default rejected: %v", err)
	}
}
