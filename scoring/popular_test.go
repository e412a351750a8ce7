package scoring

import (
	"reflect"
	"testing"
)

func TestTopPopular(t *testing.T) {
	counts := map[string]int64{"milk": 5, "bread": 5, "eggs": 9, "jam": 1, "tea": 0, "salt": -1}
	tests := []struct {
		n    int
		want []Popular
	}{
		{3, []Popular{{"eggs", 9}, {"bread", 5}, {"milk", 5}}},
		{10, []Popular{{"eggs", 9}, {"bread", 5}, {"milk", 5}, {"jam", 1}}},
		{1, []Popular{{"eggs", 9}}},
		{0, []Popular{}},
	}
	for _, tc := range tests {
		if got := TopPopular(counts, tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("TopPopular(n=%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
