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

// chart draws p50, p90 and p99 of every record as grouped bars, in
// milliseconds.
func chart(recs []benchRecord, title, file string) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "latency, ms"
	names := make([]string, len(recs))
	series := []struct {
		name  string
		value func(r benchRecord) float64
		color color.RGBA
	}{
		{"p50", func(r benchRecord) float64 { return r.Result.P50 / 1000 }, color.RGBA{66, 133, 244, 255}},
		{"p90", func(r benchRecord) float64 { return r.Result.P90 / 1000 }, color.RGBA{251, 188, 5, 255}},
		{"p99", func(r benchRecord) float64 { return r.Result.P99 / 1000 }, color.RGBA{234, 67, 53, 255}},
	}
	width := vg.Points(7)
	for i, s := range series {
		vals := make(plotter.Values, len(recs))
		for j, r := range recs {
			vals[j] = s.value(r)
			names[j] = label(&r)
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		bars.Color = s.color
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(i-1) * width
		p.Add(bars)
		p.Legend.Add(s.name, bars)
	}
	p.Legend.Top = true
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 0.8
	p.X.Tick.Label.XAlign = -1
	p.X.Tick.Label.YAlign = -0.5
	p.X.Tick.Label.Font.Size = vg.Points(8)
	return p.Save(vg.Length(max(8, len(recs)))*vg.Inch*0.9, 6*vg.Inch, file)
}
