package access

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var reportTemplate string

// The report is one self-contained file: no script, no external asset, styles
// inline, charts as inline SVG; its Content-Security-Policy forbids fetching
// anything. Every string from the log or the policy goes through html/template,
// which escapes it for its context: the log holds what models sent.
var reportHTML = template.Must(template.New("report").Funcs(template.FuncMap{
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04 MST")
	},
	"join": strings.Join,
	"pct": func(part, whole int) string {
		if whole == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(part)/float64(whole))
	},
}).Parse(reportTemplate))

// WriteHTML writes the report as a self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	if r == nil || w == nil {
		return fmt.Errorf("%w: no report or no writer", ErrInput)
	}
	return reportHTML.Execute(w, htmlView{Report: r, Timelines: r.timelineCharts(), DenialBars: bars(r.Denials), DeniedBars: bars(r.TopDenied)})
}

type htmlView struct {
	*Report
	Timelines  []timelineChart
	DenialBars barChart
	DeniedBars barChart
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 720, 120
	barRowH        = 22
	labelW         = 220
)

type timelineChart struct {
	Agent        string
	Allow, Deny  int
	Bars         []timeBar
	W, H         int
	From, To     string
	Max          int
	BaselineY    int
	BucketMinute int
}

type timeBar struct {
	X, W, AllowY, AllowH, DenyY, DenyH int
	Title                              string
}

func (r *Report) timelineCharts() []timelineChart {
	var out []timelineChart
	tl := r.Timeline
	for _, s := range tl.Series {
		c := timelineChart{Agent: s.Agent, W: chartW, H: chartH, BaselineY: chartH - 16, BucketMinute: int(tl.Bucket / time.Minute)}
		for i := range s.Allow {
			c.Max = max(c.Max, s.Allow[i]+s.Deny[i])
			c.Allow += s.Allow[i]
			c.Deny += s.Deny[i]
		}
		n := len(s.Allow)
		bw := max(1, (chartW-40)/max(n, 1))
		plot := c.BaselineY - 8
		for i := range s.Allow {
			ah := scale(s.Allow[i], c.Max, plot)
			dh := scale(s.Deny[i], c.Max, plot)
			at := tl.Start.Add(time.Duration(i) * tl.Bucket).UTC().Format("2006-01-02 15:04")
			c.Bars = append(c.Bars, timeBar{X: 30 + i*bw, W: max(1, bw-1), AllowY: c.BaselineY - ah, AllowH: ah,
				DenyY: c.BaselineY - ah - dh, DenyH: dh, Title: fmt.Sprintf("%s: %d allowed, %d denied", at, s.Allow[i], s.Deny[i])})
		}
		c.From = tl.Start.UTC().Format("2006-01-02 15:04")
		c.To = tl.Start.Add(time.Duration(n) * tl.Bucket).UTC().Format("2006-01-02 15:04")
		out = append(out, c)
	}
	return out
}

func scale(v, maxV, h int) int {
	if maxV == 0 || v == 0 {
		return 0
	}
	return max(1, v*h/maxV)
}

type barChart struct {
	W, H int
	Bars []bar
}

type bar struct {
	Name, Label string
	Count       int
	Y, W, TextY int
}

func bars(ts []Tally) barChart {
	c := barChart{W: chartW, H: max(barRowH, len(ts)*barRowH)}
	top := 0
	for _, t := range ts {
		top = max(top, t.Count)
	}
	for i, t := range ts {
		c.Bars = append(c.Bars, bar{Name: t.Name, Label: ellipsis(t.Name, 34), Count: t.Count, Y: i*barRowH + 3, W: scale(t.Count, top, chartW-labelW-60), TextY: i*barRowH + 16})
	}
	return c
}

// ellipsis shortens s to n code points for a chart label; the bar's title
// keeps it whole.
func ellipsis(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return string(rs[:n-1]) + "…"
}
