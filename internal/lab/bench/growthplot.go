package bench

import (
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WriteGrowthCSV writes a growth run's samples, one line per sample.
func WriteGrowthCSV(w io.Writer, r GrowthReport) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"day", "until", "events", "redis_used_memory_bytes", "redis_state_bytes", "keys", "customer_keys", "item_keys", "wall_seconds", "sample_seconds"})
	for _, s := range r.Samples {
		_ = cw.Write([]string{strconv.FormatFloat(s.Day, 'f', -1, 64), s.Until.UTC().Format(time.RFC3339), strconv.Itoa(s.Events),
			strconv.FormatFloat(s.UsedMemoryBytes, 'f', 0, 64), strconv.FormatInt(s.StateBytes, 10),
			strconv.Itoa(s.Keys), strconv.Itoa(s.CustomerKeys), strconv.Itoa(s.ItemKeys), strconv.FormatFloat(s.WallSeconds, 'f', 1, 64), strconv.FormatFloat(s.SampleSeconds, 'f', 2, 64)})
	}
	cw.Flush()
	return cw.Error()
}

// runColors tell the runs of one plot apart, in print and for colour-blind
// readers (Okabe-Ito).
var runColors = []color.Color{
	color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff},
	color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff},
	color.RGBA{R: 0x00, G: 0x9e, B: 0x73, A: 0xff},
	color.RGBA{R: 0xcc, G: 0x79, B: 0xa7, A: 0xff},
	color.RGBA{R: 0x56, G: 0xb4, B: 0xe9, A: 0xff},
	color.RGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 0xff},
}

// WriteGrowthPlot draws growth runs over one another against event time,
// one colour per run, in three panels: the state's memory (MEMORY USAGE of
// its keys), Redis's used_memory (the whole server's: other clients and
// the allocator move it too, so it is the state's only on a Redis of its
// own), and the state's keys (all, solid; customers', dashed). The file
// name's extension (.png or .svg) picks the format.
func WriteGrowthPlot(path string, runs []GrowthReport) error {
	if len(runs) == 0 {
		return errors.New("growth plot: no runs")
	}
	state, used, keys := plot.New(), plot.New(), plot.New()
	state.Title.Text = "State as a long stream is applied: " + runs[0].Dataset
	state.Y.Label.Text = "state, MB (MEMORY USAGE of its keys)"
	used.Y.Label.Text = "Redis used_memory, MB (whole server)"
	keys.Y.Label.Text = "state's keys"
	keys.X.Label.Text = "simulated day (event time)"
	panels := []*plot.Plot{state, used, keys}
	for _, p := range panels {
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
	}
	for i, r := range runs {
		if len(r.Samples) == 0 {
			return fmt.Errorf("growth plot: run %q has no samples", r.Label)
		}
		var bytes, usedMemory, all, customers plotter.XYs
		for _, s := range r.Samples {
			bytes = append(bytes, plotter.XY{X: s.Day, Y: float64(s.StateBytes) / 1e6})
			usedMemory = append(usedMemory, plotter.XY{X: s.Day, Y: s.UsedMemoryBytes / 1e6})
			all = append(all, plotter.XY{X: s.Day, Y: float64(s.Keys)})
			customers = append(customers, plotter.XY{X: s.Day, Y: float64(s.CustomerKeys)})
		}
		c := runColors[i%len(runColors)]
		for _, l := range []struct {
			p      *plot.Plot
			xys    plotter.XYs
			dashed bool
			what   string
		}{
			{state, bytes, false, ""},
			{used, usedMemory, false, ""},
			{keys, all, false, ": all keys"},
			{keys, customers, true, ": customer keys"},
		} {
			line, err := plotter.NewLine(l.xys)
			if err != nil {
				return fmt.Errorf("growth plot %s: %w", path, err)
			}
			line.Color, line.Width = c, vg.Points(1.5)
			if l.dashed {
				line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			l.p.Add(line)
			l.p.Legend.Add(r.Label+l.what, line)
		}
	}
	for _, p := range panels {
		p.Y.Min = 0
		p.Y.Max *= 1.3 // room for the legend above the lines
	}
	w, h := 9*vg.Inch, 11*vg.Inch
	var canvas interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch filepath.Ext(path) {
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	case ".svg":
		canvas = vgsvg.New(w, h)
	default:
		return fmt.Errorf("growth plot %s: the file name must end in .png or .svg", path)
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(12), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	plots := [][]*plot.Plot{{state}, {used}, {keys}}
	for i, row := range plot.Align(plots, tiles, draw.New(canvas)) {
		plots[i][0].Draw(row[0])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("growth plot: %w", err)
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("growth plot %s: %w", path, err)
	}
	return f.Close()
}
