package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// runReport reads the records `aside bench -json` wrote in a directory,
// prints them as Markdown tables (one per group), and draws their latency
// percentiles as a PNG chart.
func runReport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	in := fs.String("in", "bench/results", "directory of bench records (*.json)")
	png := fs.String("png", "", "write the latency chart here")
	title := fs.String("title", "Latency percentiles per scenario", "the chart's title")
	if err := parse(fs, args); err != nil {
		return err
	}
	recs, err := readRecords(*in)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("no bench records in %s", *in)
	}
	printTables(stdout, recs)
	if *png != "" {
		return chart(recs, *title, *png)
	}
	return nil
}

func readRecords(dir string) ([]benchRecord, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var recs []benchRecord
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r benchRecord
		if err := json.Unmarshal(b, &r); err != nil || r.Result == nil {
			continue // another kind of record (stampede, delete, warm)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func printTables(w io.Writer, recs []benchRecord) {
	group := "\x00"
	for _, r := range recs {
		if r.Group != group {
			group = r.Group
			fmt.Fprintf(w, "\n%s\n\n| run | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | hit rate | loads / 1,000 | errors |\n|---|---|---|---|---|---|---|---|---|\n", orUnnamed(group))
		}
		hit, loads := "n/a", "n/a"
		if r.Cache != nil {
			hit, loads = fmt.Sprintf("%.1f%%", r.Cache.HitRateDuring), fmt.Sprintf("%.1f", r.Cache.LoadsPer1000)
		}
		x := r.Result
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.2f | %.2f | %s | %s | %d |\n",
			label(&r), x.Throughput, x.P50/1000, x.P90/1000, x.P99/1000, x.P999/1000, hit, loads, x.Errors)
	}
}

func orUnnamed(g string) string {
	if g == "" {
		return "runs"
	}
	return g
}

// chart draws p50, p90 and p99 of every record as horizontal bars, in
// milliseconds: one panel per group, each on its own scale, so that the
// sub-millisecond runs are not flattened by the uncached ones.
func chart(recs []benchRecord, title, file string) error {
	var groups [][]benchRecord
	for _, r := range recs {
		if n := len(groups); n == 0 || groups[n-1][0].Group != r.Group {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], r)
	}
	const (
		perRecord = 0.5 * vg.Inch // three bars and a gap
		perPanel  = 1.1 * vg.Inch // title, axis and padding
		width     = 10 * vg.Inch
	)
	height := perPanel / 2 // the chart's title
	for _, g := range groups {
		height += perPanel + vg.Length(len(g))*perRecord
	}
	img := vgimg.New(width, height)
	dc := draw.New(img)
	top := height
	for i, g := range groups {
		p, err := panel(g)
		if err != nil {
			return err
		}
		p.Title.Text = orUnnamed(g[0].Group)
		if i == 0 {
			p.Title.Text = title + "\n\n" + p.Title.Text
		}
		h := perPanel + vg.Length(len(g))*perRecord
		if i == 0 {
			h += perPanel / 2 // the first panel's tile holds the chart's title too
		}
		const pad = 8 * vg.Millimeter / 2
		p.Draw(draw.Crop(dc, pad, -pad, top-h+pad, top-height-pad))
		top -= h
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// panel draws one group's records, the first at the top.
func panel(recs []benchRecord) (*plot.Plot, error) {
	p := plot.New()
	p.X.Label.Text = "latency, ms"
	p.X.Min = 0
	series := []struct {
		name  string
		value func(r benchRecord) float64
		color color.RGBA
	}{
		{"p99", func(r benchRecord) float64 { return r.Result.P99 / 1000 }, color.RGBA{234, 67, 53, 255}},
		{"p90", func(r benchRecord) float64 { return r.Result.P90 / 1000 }, color.RGBA{251, 188, 5, 255}},
		{"p50", func(r benchRecord) float64 { return r.Result.P50 / 1000 }, color.RGBA{66, 133, 244, 255}},
	}
	n := len(recs)
	names := make([]string, n)
	for j, r := range recs {
		names[n-1-j] = label(&r)
	}
	p.Add(plotter.NewGrid())
	thickness := vg.Points(9)
	legend := make([]plot.Thumbnailer, len(series))
	for i, s := range series {
		vals := make(plotter.Values, n)
		for j, r := range recs {
			vals[n-1-j] = s.value(r)
		}
		bars, err := plotter.NewBarChart(vals, thickness)
		if err != nil {
			return nil, err
		}
		bars.Horizontal = true
		bars.Color = s.color
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(i-1) * thickness
		p.Add(bars)
		legend[len(series)-1-i] = bars
	}
	for i, b := range legend { // top to bottom, as the bars are drawn
		p.Legend.Add(series[len(series)-1-i].name, b)
	}
	var widest float64
	for _, r := range recs {
		widest = max(widest, r.Result.P99/1000)
	}
	p.X.Max = widest * 1.2 // room for the legend
	p.Legend.Top = true
	p.NominalY(names...)
	p.Y.Tick.Label.Font.Size = vg.Points(10)
	return p, nil
}
