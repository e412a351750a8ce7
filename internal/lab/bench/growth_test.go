package bench

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alsobought/alsobought/event"
)

func at(day int, hour int) time.Time {
	return time.Date(2025, 1, 1+day, hour, 0, 0, 0, time.UTC)
}

// TestIntervalsCutAtDayBoundaries: every sample comes after the events
// before its boundary, the boundaries are UTC midnights, and a day
// without events still gets its sample.
func TestIntervalsCutAtDayBoundaries(t *testing.T) {
	evs := []event.Event{{ID: "a", Time: at(0, 5)}, {ID: "b", Time: at(0, 23)}, {ID: "c", Time: at(1, 0)}, {ID: "d", Time: at(3, 12)}}
	got := intervals(evs, 24*time.Hour)
	want := []struct {
		until time.Time
		ids   string
	}{{at(1, 0), "ab"}, {at(2, 0), "c"}, {at(3, 0), ""}, {at(4, 0), "d"}}
	if len(got) != len(want) {
		t.Fatalf("%d intervals, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		ids := ""
		for _, e := range got[i].evs {
			ids += e.ID
		}
		if !got[i].until.Equal(w.until) || ids != w.ids {
			t.Errorf("interval %d: until %s with %q, want until %s with %q", i, got[i].until, ids, w.until, w.ids)
		}
	}
	if intervals(nil, time.Hour) != nil {
		t.Error("no events: want no intervals")
	}
}

func growthRun(label string, customers ...int) GrowthReport {
	r := GrowthReport{Dataset: "synthetic churn", Label: label, RedisUsedMemoryAtStartBytes: 1e6}
	for d, c := range customers {
		r.Samples = append(r.Samples, GrowthSample{Day: float64(d + 1), Until: at(d+1, 0), Events: 2000 * (d + 1),
			UsedMemoryBytes: 1e6 + float64(1000*c), StateBytes: int64(900 * c), Keys: c + 500, CustomerKeys: c, ItemKeys: 400, WallSeconds: float64(d), SampleSeconds: 0.25})
	}
	return r
}

func TestWriteGrowthCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteGrowthCSV(&b, growthRun("off", 100, 250)); err != nil {
		t.Fatal(err)
	}
	want := "day,until,events,redis_used_memory_bytes,redis_state_bytes,keys,customer_keys,item_keys,wall_seconds,sample_seconds\n" +
		"1,2025-01-02T00:00:00Z,2000,1100000,90000,600,100,400,0.0,0.25\n" +
		"2,2025-01-03T00:00:00Z,4000,1250000,225000,750,250,400,1.0,0.25\n"
	if b.String() != want {
		t.Fatalf("CSV:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestWriteGrowthPlot: two runs overlaid in one chart, each named in the
// legend, with the panels and lines named.
func TestWriteGrowthPlot(t *testing.T) {
	runs := []GrowthReport{growthRun("history-max-age=0 (off)", 100, 200, 300), growthRun("history-max-age=720h", 100, 150, 150)}
	dir := t.TempDir()
	svgPath := filepath.Join(dir, "growth.svg")
	if err := WriteGrowthPlot(svgPath, runs); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "synthetic churn", "simulated day", "history-max-age=0 (off): all keys", "history-max-age=720h: customer keys",
		"MEMORY USAGE of its keys", "used_memory"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("the SVG does not contain %q", want)
		}
	}
	pngPath := filepath.Join(dir, "growth.png")
	if err := WriteGrowthPlot(pngPath, runs); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if cfg.Width < 400 || cfg.Height < 400 {
		t.Fatalf("a %dx%d image is too small to read", cfg.Width, cfg.Height)
	}
	for _, bad := range []struct {
		path string
		runs []GrowthReport
	}{{filepath.Join(dir, "x.pdf"), runs}, {svgPath, nil}, {svgPath, []GrowthReport{{Label: "empty"}}}} {
		if err := WriteGrowthPlot(bad.path, bad.runs); err == nil {
			t.Errorf("WriteGrowthPlot(%s, %d runs): want an error", bad.path, len(bad.runs))
		}
	}
}
