package eval

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// targetColors are the bar colours of the targets: purchases dark, views
// light, distinguishable in print and by colour-blind readers.
var targetColors = map[Target]color.Color{
	TargetBought: color.RGBA{R: 0x1f, G: 0x4e, B: 0x79, A: 0xff},
	TargetViewed: color.RGBA{R: 0xf2, G: 0x8e, B: 0x2b, A: 0xff},
}

// WritePlot writes a grouped bar chart of the report's HR per method and
// target, each bar labelled with its value, so the chart reads without the
// table. The file name's extension (.svg or .png) picks the format.
func WritePlot(path string, r *Report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: HR@%d per method (%s protocol, %d window(s) of %.0f days)",
		r.Dataset, r.K, r.Protocol, r.Windows, r.HorizonDays)
	p.Y.Label.Text = fmt.Sprintf("HR@%d (share of customers with a hit)", r.K)
	p.Y.Min = 0
	var methods []string
	index := map[string]int{}
	var targets []Target
	customers := map[Target]int{}
	for _, res := range r.Results {
		if _, ok := index[res.Method]; !ok {
			index[res.Method] = len(methods)
			methods = append(methods, res.Method)
		}
		if _, ok := customers[res.Target]; !ok {
			targets = append(targets, res.Target)
		}
		customers[res.Target] = res.Customers
	}
	if len(methods) == 0 {
		return fmt.Errorf("plot %s: the report has no results", path)
	}
	p.Add(plotter.NewGrid()) // first, so the bars are drawn over it
	width := vg.Points(36 / float64(max(1, len(targets))))
	maxHR := 0.0
	for i, target := range targets {
		values := make(plotter.Values, len(methods))
		labels := make([]string, len(methods))
		xys := make(plotter.XYs, len(methods))
		for _, res := range r.Results {
			if res.Target == target {
				j := index[res.Method]
				values[j], labels[j] = res.HR, fmt.Sprintf("%.3f", res.HR)
				maxHR = max(maxHR, res.HR)
			}
		}
		for j := range methods {
			xys[j] = plotter.XY{X: float64(j), Y: values[j]}
		}
		bars, err := plotter.NewBarChart(values, width)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		offset := width * vg.Length(float64(i)-float64(len(targets)-1)/2)
		bars.Offset = offset
		bars.Color = targetColors[target]
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(fmt.Sprintf("hit = item %s (%d judged)", target, customers[target]), bars)
		text, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		text.Offset = vg.Point{X: offset, Y: vg.Points(2)}
		for k := range text.TextStyle {
			text.TextStyle[k].XAlign = draw.XCenter
			text.TextStyle[k].Font.Size = vg.Points(7)
		}
		p.Add(text)
	}
	p.Y.Max = maxHR * 1.3 // room for the value labels and the legend
	p.NominalX(methods...)
	p.X.Tick.Label.Rotation = 0.5
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YTop
	p.Legend.Top = true
	p.X.Padding = vg.Points(20)
	if err := p.Save(vg.Length(90+70*len(methods))*vg.Points(1), 5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
