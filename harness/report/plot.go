package report

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raftcheck/raftcheck/checker"
)

// The plots' geometry, in SVG units.
const (
	plotWidth   = 1000
	plotHeight  = 300 // the data area
	marginLeft  = 80
	marginRight = 20
	bandTop     = 8
	bandRow     = 16 // one row per fault kind above the data area
	marginBelow = 64 // axis labels and the legend
)

// outcomeOrder is the order completions are drawn and listed in: rarer
// ones last, on top.
func outcomeOrder() []checker.Type { return []checker.Type{checker.OK, checker.Fail, checker.Info} }

func outcomeColor(t checker.Type) string {
	switch t {
	case checker.OK:
		return "#2b6cb0"
	case checker.Fail:
		return "#d53f8c"
	}
	return "#dd8a00"
}

func faultColor(f string) string {
	switch f {
	case "partition":
		return "#e06666"
	case "kill":
		return "#555555"
	case "pause":
		return "#8e7cc3"
	}
	return "#e69138"
}

// frame is what both plots share: the time axis and the faults.
type frame struct {
	x                        scale
	top, bottom, left, right float64
	height                   int
	kinds                    []string
	spans                    []checker.FaultSpan
	end                      int64
}

func newFrame(spans []checker.FaultSpan, end int64) frame {
	var kinds []string
	for _, sp := range spans {
		if !slices.Contains(kinds, sp.F) {
			kinds = append(kinds, sp.F)
		}
	}
	rank := func(k string) int {
		if i := slices.Index([]string{"partition", "kill", "pause"}, k); i >= 0 {
			return i
		}
		return 3
	}
	slices.SortFunc(kinds, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	top := float64(bandTop + len(kinds)*bandRow + 8)
	f := frame{top: top, bottom: top + plotHeight, left: marginLeft, right: plotWidth - marginRight,
		kinds: kinds, spans: spans, end: max(end, 1)}
	f.height = int(f.bottom) + marginBelow
	f.x = scale{d0: 0, d1: float64(f.end), r0: f.left, r1: f.right}
	return f
}

// faults shades each fault's interval in the data area and draws it as a
// labelled bar in its kind's row above.
func (f frame) faults(s *svg) {
	for i, k := range f.kinds {
		s.text(f.left-6, float64(bandTop+i*bandRow+12), `text-anchor="end" fill="#333"`, k)
	}
	for _, sp := range f.spans {
		row := slices.Index(f.kinds, sp.F)
		x0, x1 := f.x.at(float64(sp.Start)), f.x.at(float64(sp.End))
		w := max(x1-x0, 1.5)
		until := fmtSeconds(sp.End)
		if sp.Open {
			until = "the end (never ended)"
		}
		title := fmt.Sprintf("%s: %s to %s", sp.Label, fmtSeconds(sp.Start), until)
		color := faultColor(sp.F)
		s.rectTitled(x0, f.top, w, f.bottom-f.top, `fill="`+color+`" fill-opacity="0.13"`, title)
		y := float64(bandTop + row*bandRow)
		s.rectTitled(x0, y+2, w, bandRow-3, `fill="`+color+`" fill-opacity="0.45"`, title)
		if short := strings.TrimSpace(strings.TrimPrefix(sp.Label, sp.F)); short != "" && w > float64(6*len(short)+6) {
			s.text(x0+3, y+12, `font-size="10" fill="#111" pointer-events="none"`, short)
		}
	}
}

// axes draws the frame, the time axis and its grid.
func (f frame) axes(s *svg) {
	secs := float64(f.end) / 1e9
	for _, t := range ticks(0, secs, niceStep(secs, 6)) {
		x := f.x.at(t * 1e9)
		s.line(x, f.top, x, f.bottom, `stroke="#e4e4e4"`)
		s.text(x, f.bottom+15, `text-anchor="middle" fill="#333"`, trimFloat(t)+"s")
	}
	s.rect(f.left, f.top, f.right-f.left, f.bottom-f.top, `fill="none" stroke="#999"`)
	s.text((f.left+f.right)/2, f.bottom+31, `text-anchor="middle" fill="#333"`, "time since the start of the run")
}

// yLabel writes the y axis's title, rotated.
func (f frame) yLabel(s *svg, text string) {
	y := (f.top + f.bottom) / 2
	s.text(16, y, `text-anchor="middle" fill="#333" transform="rotate(-90 16 `+num(y)+`)"`, text)
}

// legendItem draws a legend entry at x on the legend line and returns
// the x of the next.
func (f frame) legendItem(s *svg, x float64, mark func(x, y float64), label string) float64 {
	y := f.bottom + 52
	mark(x+5, y-4)
	s.text(x+14, y, `fill="#333"`, label)
	return x + 24 + float64(7*len(label))
}

// latencyPlot is Jepsen's latency-raw: a point per completed operation at
// its invocation time and latency (log scale), colored by outcome, its
// shape by f.
func latencyPlot(ops []op, spans []checker.FaultSpan, end int64) template.HTML {
	f := newFrame(spans, end)
	s := newSVG(plotWidth, f.height, "latency of each completed operation over time")
	f.faults(s)
	lo, hi := math.Inf(1), 0.0
	for _, o := range ops {
		if o.completed {
			l := float64(max(o.latency(), 1))
			lo, hi = min(lo, l), max(hi, l)
		}
	}
	if hi == 0 {
		lo, hi = 1e6, 1e9
	}
	y := scale{d0: math.Pow(10, math.Floor(math.Log10(lo))), d1: math.Pow(10, math.Ceil(math.Log10(hi))),
		r0: f.bottom, r1: f.top, log: true}
	if y.d1 == y.d0 {
		y.d1 *= 10
	}
	for _, v := range decades(y.d0, y.d1) {
		s.line(f.left, y.at(v), f.right, y.at(v), `stroke="#e4e4e4"`)
		s.text(f.left-6, y.at(v)+4, `text-anchor="end" fill="#333"`, time.Duration(v).String())
	}
	f.axes(s)
	f.yLabel(s, "latency (log)")
	fs := map[string]bool{}
	for _, o := range ops {
		fs[o.f] = true
	}
	counts := map[checker.Type]int{}
	for _, t := range outcomeOrder() {
		for _, fn := range sortedFs(fs) {
			var d strings.Builder
			for _, o := range ops {
				if o.completed && o.outcome == t && o.f == fn {
					counts[t]++
					d.WriteString(mark(fn, f.x.at(float64(o.start)), y.at(float64(max(o.latency(), 1)))))
				}
			}
			s.path(d.String(), markAttrs(fn, outcomeColor(t)))
		}
	}
	if len(counts) == 0 {
		s.text((f.left+f.right)/2, (f.top+f.bottom)/2, `text-anchor="middle" fill="#666"`, "no completed operations")
	}
	x := f.left
	for _, t := range outcomeOrder() {
		x = f.legendItem(s, x, func(mx, my float64) { s.path(mark("read", mx, my), markAttrs("read", outcomeColor(t))) },
			fmt.Sprintf("%s (%d)", t, counts[t]))
	}
	x += 20
	for _, fn := range sortedFs(fs) {
		x = f.legendItem(s, x, func(mx, my float64) { s.path(mark(fn, mx, my), markAttrs(fn, "#555")) }, fn)
	}
	return s.html()
}

// mark is the path of one point: a dot for read, a square for write, a
// triangle for cas, a diamond for anything else.
func mark(f string, x, y float64) string {
	switch f {
	case checker.Read, checker.Write:
		return "M" + num(x) + " " + num(y) + "h0"
	case checker.CAS:
		return "M" + num(x) + " " + num(y-3.2) + "l2.8 4.8h-5.6z"
	}
	return "M" + num(x) + " " + num(y-3) + "l3 3-3 3-3-3z"
}

func markAttrs(f, color string) string {
	switch f {
	case checker.Read:
		return `fill="none" stroke="` + color + `" stroke-width="5" stroke-linecap="round" stroke-opacity="0.7"`
	case checker.Write:
		return `fill="none" stroke="` + color + `" stroke-width="4.4" stroke-linecap="square" stroke-opacity="0.7"`
	}
	return `fill="` + color + `" fill-opacity="0.7"`
}

// ratePlot is Jepsen's rate plot: completed operations per second over
// time, by completion time, one line per outcome.
func ratePlot(ops []op, spans []checker.FaultSpan, end int64) template.HTML {
	f := newFrame(spans, end)
	s := newSVG(plotWidth, f.height, "completed operations per second over time")
	f.faults(s)
	width := int64(max(niceStep(float64(f.end), 40), 1e6)) // bucket width, ns
	n := int(f.end/width) + 1
	byOutcome := map[checker.Type][]int{}
	for _, t := range outcomeOrder() {
		byOutcome[t] = make([]int, n)
	}
	for _, o := range ops {
		if o.completed {
			if b, ok := byOutcome[o.outcome]; ok {
				b[min(int(o.end/width), n-1)]++
			}
		}
	}
	// rate of bucket i: its count over its length (the last may be short).
	rate := func(i, c int) float64 {
		length := min(width, f.end-int64(i)*width)
		return float64(c) / (float64(max(length, 1)) / 1e9)
	}
	top := 0.0
	for _, b := range byOutcome {
		for i, c := range b {
			top = max(top, rate(i, c))
		}
	}
	step := niceStep(max(top, 1), 4)
	y := scale{d0: 0, d1: math.Ceil(max(top, 1)*1.05/step) * step, r0: f.bottom, r1: f.top}
	for _, v := range ticks(0, y.d1, step) {
		s.line(f.left, y.at(v), f.right, y.at(v), `stroke="#e4e4e4"`)
		s.text(f.left-6, y.at(v)+4, `text-anchor="end" fill="#333"`, trimFloat(v))
	}
	f.axes(s)
	f.yLabel(s, fmt.Sprintf("operations/s (%v buckets)", time.Duration(width)))
	x := f.left
	for _, t := range outcomeOrder() {
		var d strings.Builder
		for i, c := range byOutcome[t] {
			mid := min(float64(int64(i)*width)+float64(width)/2, float64(f.end))
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			d.WriteString(cmd + num(f.x.at(mid)) + " " + num(y.at(rate(i, c))))
		}
		color := outcomeColor(t)
		s.path(d.String(), `fill="none" stroke="`+color+`" stroke-width="1.6" stroke-linejoin="round"`)
		x = f.legendItem(s, x, func(mx, my float64) {
			s.line(mx-6, my, mx+6, my, `stroke="`+color+`" stroke-width="2"`)
		}, string(t))
	}
	return s.html()
}

// trimFloat shows a tick value without trailing zeros.
func trimFloat(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
