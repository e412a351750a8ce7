package eval

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleReport() *Report {
	return &Report{Dataset: "tiny", Protocol: Sessions, Windows: 2, HorizonDays: 14, K: 6, Results: []Result{
		{Method: MethodPopularity, Target: TargetBought, HR: 0.125, Customers: 8},
		{Method: MethodServed, Target: TargetBought, HR: 0.5, Customers: 8},
		{Method: MethodPopularity, Target: TargetViewed, HR: 0.25, Customers: 12},
		{Method: MethodServed, Target: TargetViewed, HR: 0.75, Customers: 12},
	}}
}

// TestWritePlotSVG: the chart names every method and target and labels
// every bar with its value, so it reads without the table.
func TestWritePlotSVG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hr.svg")
	if err := WritePlot(path, sampleReport()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	for _, want := range []string{"<svg", "popularity", "served", "0.125", "0.500", "0.250", "0.750",
		"item bought (8 judged)", "item viewed (12 judged)", "HR@6"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the SVG does not contain %q", want)
		}
	}
}

func TestWritePlotPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hr.png")
	if err := WritePlot(path, sampleReport()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if cfg.Width < 200 || cfg.Height < 200 {
		t.Fatalf("a %dx%d image is too small to read", cfg.Width, cfg.Height)
	}
}

func TestWritePlotRefusesAnEmptyReport(t *testing.T) {
	if err := WritePlot(filepath.Join(t.TempDir(), "x.svg"), &Report{}); err == nil {
		t.Fatal("want an error for a report without results")
	}
}
