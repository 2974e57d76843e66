package report

import (
	"html/template"
	"math"
	"strconv"
	"strings"
)

// svg builds an inline SVG element. Attribute strings passed to its
// methods are the package's own constants; every text is escaped.
type svg struct {
	b strings.Builder
}

func newSVG(width, height int, label string) *svg {
	s := &svg{}
	s.b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + strconv.Itoa(width) + " " + strconv.Itoa(height) +
		`" width="100%" role="img" font-family="sans-serif" font-size="11" aria-label="` + esc(label) + `">`)
	return s
}

// html closes the element and returns it for a template.
func (s *svg) html() template.HTML {
	s.b.WriteString("</svg>")
	// Built by the methods below from numbers, constants and escaped texts.
	return template.HTML(s.b.String())
}

func (s *svg) open(tag, attrs string) { s.b.WriteString("<" + tag + " " + attrs + ">") }
func (s *svg) close(tag string)       { s.b.WriteString("</" + tag + ">") }

func (s *svg) rect(x, y, w, h float64, attrs string) {
	s.b.WriteString(`<rect x="` + num(x) + `" y="` + num(y) + `" width="` + num(max(w, 0)) + `" height="` + num(max(h, 0)) + `" ` + attrs + "/>")
}

// rectTitled is a rect with a tooltip.
func (s *svg) rectTitled(x, y, w, h float64, attrs, title string) {
	s.b.WriteString(`<rect x="` + num(x) + `" y="` + num(y) + `" width="` + num(max(w, 0)) + `" height="` + num(max(h, 0)) + `" ` + attrs + ">")
	s.b.WriteString("<title>" + esc(title) + "</title></rect>")
}

func (s *svg) line(x1, y1, x2, y2 float64, attrs string) {
	s.b.WriteString(`<line x1="` + num(x1) + `" y1="` + num(y1) + `" x2="` + num(x2) + `" y2="` + num(y2) + `" ` + attrs + "/>")
}

func (s *svg) text(x, y float64, attrs, text string) {
	s.b.WriteString(`<text x="` + num(x) + `" y="` + num(y) + `" ` + attrs + ">" + esc(text) + "</text>")
}

// path draws d, built from numbers by the caller.
func (s *svg) path(d, attrs string) {
	if d != "" {
		s.b.WriteString(`<path d="` + d + `" ` + attrs + "/>")
	}
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// num formats a coordinate with one decimal.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// scale maps a domain [d0, d1] onto a range [r0, r1], linearly or in log10.
type scale struct {
	d0, d1, r0, r1 float64
	log            bool
}

func (sc scale) at(v float64) float64 {
	d0, d1 := sc.d0, sc.d1
	if sc.log {
		v, d0, d1 = math.Log10(max(v, sc.d0)), math.Log10(d0), math.Log10(d1)
	}
	if d1 == d0 {
		return sc.r0
	}
	return sc.r0 + (v-d0)/(d1-d0)*(sc.r1-sc.r0)
}

// niceStep is the largest of 1, 2, 5 times a power of ten that is at most
// span/n, so that [0, span] gets at least n steps.
func niceStep(span, n float64) float64 {
	if span <= 0 || n <= 0 {
		return 1
	}
	raw := span / n
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{5, 2, 1} {
		if m*p <= raw {
			return m * p
		}
	}
	return p
}

// ticks are the multiples of step in [lo, hi].
func ticks(lo, hi, step float64) []float64 {
	var out []float64
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if v == 0 {
			v = 0 // not -0
		}
		out = append(out, v)
	}
	return out
}

// decades are the powers of ten from lo to hi, both powers of ten.
func decades(lo, hi float64) []float64 {
	var out []float64
	for v := lo; v <= hi*1.0001; v *= 10 {
		out = append(out, v)
	}
	return out
}
