package delta

import (
	"slices"
	"testing"
)

func TestOpsSums(t *testing.T) {
	type change struct {
		off   int64
		field string
		d     int64
	}
	for _, tc := range []struct {
		name    string
		changes []change
		fields  []string
		deltas  []int64
	}{
		{"empty", nil, nil, nil},
		{"one group", []change{{1, "Y", 1}, {1, "h|1", 1}}, []string{"Y", "h|1"}, []int64{1, 1}},
		{"a field summed over groups", []change{{1, "Y", 1}, {2, "Z", 1}, {3, "Y", 1}}, []string{"Y", "Z"}, []int64{2, 1}},
		{"a histogram bin passed through cancels", []change{
			{1, "Z", 1}, {1, "h|1", -1}, {1, "h|2", 1},
			{2, "W", 1}, {2, "h|2", -1}, {2, "h|3", 1},
		}, []string{"Z", "h|1", "W", "h|3"}, []int64{1, -1, 1, 1}},
		{"everything cancels", []change{{4, "Y", 1}, {5, "Y", -1}}, []string{}, []int64{}},
		{"first appearance orders", []change{{1, "B", -2}, {1, "A", 1}, {2, "B", 1}}, []string{"B", "A"}, []int64{-1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o Ops
			for _, c := range tc.changes {
				o.add(c.off, c.field, c.d)
			}
			fields, deltas := o.Sums()
			if len(fields) != len(tc.fields) || !slices.Equal(fields, tc.fields) || !slices.Equal(deltas, tc.deltas) {
				t.Errorf("Sums() = %v %v, want %v %v", fields, deltas, tc.fields, tc.deltas)
			}
		})
	}
}
