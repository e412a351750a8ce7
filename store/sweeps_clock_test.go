package store

import "testing"

// The watermark is the least newest-applied event time over the busy
// partitions: a partition that has applied everything it holds does not
// hold it back, and the watermark never goes below one a sweep used.
func TestClockWatermark(t *testing.T) {
	for _, tc := range []struct {
		name   string
		clock  map[string]string
		want   int64
		wantOK bool
	}{
		{"no event yet", map[string]string{}, 0, false},
		{"the least of the busy partitions", map[string]string{"t0": "500", "t1": "300", "t2": "900"}, 300, true},
		{"an idle partition does not hold it back", map[string]string{"t0": "500", "t1": "300", "i1": "1", "t2": "900"}, 500, true},
		{"all idle: the greatest", map[string]string{"t0": "500", "i0": "1", "t1": "300", "i1": "1"}, 500, true},
		{"an idle mark without events counts for nothing", map[string]string{"t0": "500", "i3": "1"}, 500, true},
		{"never below the swept watermark", map[string]string{"t0": "500", "t1": "300", "w": "400"}, 400, true},
		{"swept alone", map[string]string{"w": "400"}, 400, true},
		{"plans and sweeps are not times", map[string]string{"t0": "500", "s0": "7", "plan0": `{"seq":8,"cut":1}`}, 500, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseClock(tc.clock)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := c.Watermark()
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Watermark() = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseClock(t *testing.T) {
	c, err := parseClock(map[string]string{"t2": "10", "i2": "1", "s2": "4", "plan2": `{"seq":5,"watermark":10,"cut":3,"customers":["a","b"]}`, "w": "9"})
	if err != nil {
		t.Fatal(err)
	}
	if c.EventTimes[2] != 10 || !c.Idle[2] || c.Sweeps[2] != 4 || c.Swept != 9 {
		t.Errorf("parsed %+v", c)
	}
	if p := c.Plans[2]; p.Seq != 5 || p.Cut != 3 || len(p.Customers) != 2 || p.Customers[1] != "b" {
		t.Errorf("plan %+v", p)
	}
	for _, bad := range []map[string]string{{"x1": "1"}, {"t": "1"}, {"t1": "soon"}, {"plan1": "{"}, {"w": "x"}} {
		if _, err := parseClock(bad); err == nil {
			t.Errorf("parseClock(%v) accepted it", bad)
		}
	}
}
