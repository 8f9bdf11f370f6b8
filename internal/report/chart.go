package report

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Chart file names written by WriteChart.
const (
	ChartSVG = "chart.svg"
	ChartPNG = "chart.png"
)

// chart dimensions: wide enough for 14 producer-count labels (1..8192 in powers of two).
const (
	chartWidth  = 8 * vg.Inch
	chartHeight = 5.5 * vg.Inch
)

// Chart draws total time (median, ms) against producers on log-log axes, one
// line with points per contestant, like the seed's figure: on log-log axes a
// design that scales linearly with the work is a straight 45° line, and a
// collapse shows as a line that bends upwards.
func Chart(r Report, order []string) (*plot.Plot, error) {
	if len(r.Results) == 0 {
		return nil, errors.New("report: no results to chart")
	}
	p := plot.New()
	p.Title.Text = "Total time until the sink has counted every message"
	if l := WorkloadLine(r.Results); l != "" {
		p.Title.Text += "\n" + l + "\n" + MachineLine(r)
	}
	p.X.Label.Text = "producers"
	p.Y.Label.Text = "total time, median (ms)"
	p.X.Scale = plot.LogScale{}
	p.Y.Scale = plot.LogScale{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = 0.2 * vg.Inch // clear of the axis line and the top tick label
	p.Legend.YOffs = -0.15 * vg.Inch
	p.Add(plotter.NewGrid())

	cells := index(r.Results)
	counts := producerCounts(r.Results)
	var args []any
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, name := range strategies(r.Results, order) {
		var xys plotter.XYs
		for _, n := range counts {
			c, ok := cells[cellKey{name, n}]
			if !ok || c.TotalMsMedian <= 0 || n <= 0 {
				continue // a log axis cannot show 0
			}
			xys = append(xys, plotter.XY{X: float64(n), Y: c.TotalMsMedian})
			minY, maxY = math.Min(minY, c.TotalMsMedian), math.Max(maxY, c.TotalMsMedian)
		}
		if len(xys) > 0 {
			args = append(args, name, xys)
		}
	}
	if len(args) == 0 {
		return nil, errors.New("report: no positive times to chart")
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, fmt.Errorf("report: chart: %w", err)
	}

	// Snap the time axis to whole decades so that LogTicks always has labels
	// inside the range, even when every time falls within one decade.
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(minY)))
	p.Y.Max = math.Pow(10, math.Ceil(math.Log10(maxY)))
	if p.Y.Max <= p.Y.Min {
		p.Y.Max = p.Y.Min * 10
	}
	p.Y.Tick.Marker = decades{}

	// Label exactly the producer counts that were measured.
	var ticks plot.ConstantTicks
	for _, n := range counts {
		if n > 0 {
			ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
		}
	}
	p.X.Tick.Marker = ticks
	lo, hi := float64(counts[0]), float64(counts[len(counts)-1])
	if lo <= 0 {
		lo = 1
	}
	p.X.Min, p.X.Max = lo/1.5, hi*1.5 // a margin so end points are not on the frame
	return p, nil
}

// WriteChart writes the chart as dir/chart.svg (for the README) and
// dir/chart.png (for places that do not render SVG).
func WriteChart(dir string, r Report, order []string) error {
	p, err := Chart(r, order)
	if err != nil {
		return err
	}
	for _, name := range []string{ChartSVG, ChartPNG} {
		if err := p.Save(chartWidth, chartHeight, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("report: write %s: %w", name, err)
		}
	}
	return nil
}

// decades labels every power of ten, with unlabelled minor ticks between.
// (plot.LogTicks truncates the exponent toward zero, so it loses the
// lowest decade when times are below 1 ms.)
type decades struct{}

// Ticks implements plot.Ticker.
func (decades) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= 0 {
		return nil
	}
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		for i := 2; i < 10; i++ {
			ticks = append(ticks, plot.Tick{Value: v * float64(i)})
		}
	}
	return ticks
}
