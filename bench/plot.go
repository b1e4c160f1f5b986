package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotFigures are the figures WritePlots draws: the two the issue tracks
// per node, against growth factor and mix.
var plotFigures = []struct{ name, label string }{
	{"io_amplification", "I/O amplification ((read+written)/user written)"},
	{"block_io_amplification", "block I/O amplification (/proc/PID/io)"},
	{"cpu_us_per_op", "CPU microseconds per operation"},
}

// seriesName names one line or bar group: a target in a mode with a
// replica count. A target whose I/O figures come from /proc rather than its
// own counters says so, since the two sources count differently (block I/O
// misses reads served by the page cache).
func seriesName(r *Record) string {
	s := r.Target
	if r.Mode != ModeSingle {
		s = fmt.Sprintf("%s %s r=%d", r.Target, r.Mode, r.Replicas)
	}
	if r.IOSource == "proc" {
		s += " (block I/O)"
	}
	return s
}

// WritePlots draws, for every figure, workload and node, one chart of the
// figure by mix (bars, one group per series, at each growth factor) and,
// when the records hold more than one growth factor, one chart of the
// figure against growth factor (a line per series and mix). Each chart is
// written as SVG and PNG under dir. It returns the files written, without
// extension, relative to dir.
func WritePlots(dir string, recs []Record) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	type group struct{ workload, node string }
	groups := map[group][]*Record{}
	var order []group
	for i := range recs {
		r := &recs[i]
		if r.Error != "" || r.Ops == 0 {
			continue
		}
		g := group{r.Workload, r.Node}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r)
	}
	var written []string
	for _, g := range order {
		rs := groups[g]
		for _, fig := range plotFigures {
			get := Figures[fig.name]
			gfs := distinct(rs, func(r *Record) int { return r.GrowthFactor })
			sort.Ints(gfs)
			for _, gf := range gfs {
				name := fmt.Sprintf("%s-by-mix-%s-%s-gf%d", fig.name, plotFileName(g.workload), plotFileName(g.node), gf)
				var sel []*Record
				for _, r := range rs {
					if r.GrowthFactor == gf {
						sel = append(sel, r)
					}
				}
				p, err := byMixChart(sel, get)
				if err != nil {
					return written, err
				}
				p.Title.Text = fmt.Sprintf("%s, %s, %s, growth factor %d", fig.name, g.workload, g.node, gf)
				p.Y.Label.Text = fig.label
				if err := savePlot(p, dir, name); err != nil {
					return written, err
				}
				written = append(written, name)
			}
			if len(gfs) < 2 {
				continue
			}
			name := fmt.Sprintf("%s-vs-gf-%s-%s", fig.name, plotFileName(g.workload), plotFileName(g.node))
			p, err := vsGrowthChart(rs, get)
			if err != nil {
				return written, err
			}
			p.Title.Text = fmt.Sprintf("%s against growth factor, %s, %s", fig.name, g.workload, g.node)
			p.Y.Label.Text = fig.label
			if err := savePlot(p, dir, name); err != nil {
				return written, err
			}
			written = append(written, name)
		}
	}
	return written, nil
}

func distinct[T comparable](rs []*Record, f func(*Record) T) []T {
	var out []T
	for _, r := range rs {
		if v := f(r); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func byMixChart(rs []*Record, get func(*Record) float64) (*plot.Plot, error) {
	p := plot.New()
	mixes := distinct(rs, func(r *Record) string { return r.Mix })
	series := distinct(rs, seriesName)
	// Bars of one mix share 70% of its slot of the 7-inch chart.
	barWidth := min(vg.Points(40), 0.7*7*vg.Inch/vg.Length(len(mixes)*len(series)))
	top := 0.0
	for i, s := range series {
		vals := make(plotter.Values, len(mixes))
		for j, m := range mixes {
			for _, r := range rs {
				if seriesName(r) == s && r.Mix == m {
					vals[j] = get(r)
					top = max(top, vals[j])
				}
			}
		}
		bars, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return nil, fmt.Errorf("bench: plot: %w", err)
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = barWidth * vg.Length(float64(i)-float64(len(series)-1)/2)
		p.Add(bars)
		p.Legend.Add(s, bars)
	}
	// Head room for the legend above the tallest bar.
	p.Y.Min, p.Y.Max = 0, top*(1.15+0.08*float64(len(series)))
	p.Legend.Top = true
	p.NominalX(mixes...)
	p.X.Min, p.X.Max = -0.5, float64(len(mixes))-0.5
	p.X.Label.Text = "mix"
	return p, nil
}

func vsGrowthChart(rs []*Record, get func(*Record) float64) (*plot.Plot, error) {
	p := plot.New()
	type line struct{ series, mix string }
	var lines []line
	pts := map[line]plotter.XYs{}
	for _, r := range rs {
		l := line{seriesName(r), r.Mix}
		if _, ok := pts[l]; !ok {
			lines = append(lines, l)
		}
		pts[l] = append(pts[l], plotter.XY{X: float64(r.GrowthFactor), Y: get(r)})
	}
	var args []any
	for _, l := range lines {
		xy := pts[l]
		sort.Slice(xy, func(i, j int) bool { return xy[i].X < xy[j].X })
		args = append(args, l.series+" "+l.mix, xy)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return nil, fmt.Errorf("bench: plot: %w", err)
	}
	p.X.Label.Text = "growth factor"
	p.Legend.Top = true
	return p, nil
}

func savePlot(p *plot.Plot, dir, name string) error {
	for _, ext := range []string{".svg", ".png"} {
		path := filepath.Join(dir, name+ext)
		if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
			return fmt.Errorf("bench: plot %s: %w", path, err)
		}
	}
	return nil
}

// plotFileName makes a workload or node name safe in a file name.
func plotFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}
