package bench

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
)

// TimelineSeries is one line of a timeline panel.
type TimelineSeries struct {
	Name string
	X, Y []float64
}

// TimelinePanel is one chart of a timeline, sharing the x axis.
type TimelinePanel struct {
	Title, YLabel string
	Series        []TimelineSeries
}

// TimelineSpan is an interval on a lane (a fault while it lasted).
type TimelineSpan struct {
	Lane     string
	Label    string // drawn on the bar if it fits (e.g. the nodes)
	From, To float64
}

var timelineColours = []color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {23, 190, 207, 255}}

// WriteTimelinePNG draws lanes of spans (one row per lane, in order of
// first appearance) above panels that share one x axis from 0 to xMax.
func WriteTimelinePNG(w io.Writer, xLabel string, xMax float64, spans []TimelineSpan, panels []TimelinePanel) error {
	const width, panelH, laneH = 1000, 330, 22
	ticks := niceTicks(0, math.Max(xMax, 1), 10)
	var lanes []string
	seen := map[string]bool{}
	for _, s := range spans {
		if !seen[s.Lane] {
			seen[s.Lane] = true
			lanes = append(lanes, s.Lane)
		}
	}
	top := 30 + laneH*len(lanes) + 10
	height := top + panelH*len(panels)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	left, right := 80, width-30
	xhi := ticks[len(ticks)-1]
	px := func(x float64) int { return left + int(math.Round(x/xhi*float64(right-left))) }
	text(img, left, 20, "faults (one row per kind; bars: while active)", black)
	for i, lane := range lanes {
		y := 30 + i*laneH
		hline(img, left, right, y+laneH-2, gridGrey)
		text(img, 4, y+15, lane, black)
		col := timelineColours[i%len(timelineColours)]
		for _, s := range spans {
			if s.Lane == lane {
				x0, x1 := px(s.From), max(px(s.To), px(s.From)+2)
				fill(img, image.Rect(x0, y+3, x1, y+laneH-4), col)
				if s.Label != "" && x1-x0 >= len(s.Label)*faceWidth+4 {
					text(img, x0+2, y+15, s.Label, white)
				}
			}
		}
	}
	for i, p := range panels {
		c := &chart{title: p.Title, xLabel: xLabel, yLabel: p.YLabel, width: width, height: panelH, xTicks: ticks, xFromZero: true}
		for k, s := range p.Series {
			c.series = append(c.series, series{name: s.Name, colour: timelineColours[k%len(timelineColours)], xs: s.X, ys: s.Y})
		}
		sub := c.render()
		draw.Draw(img, image.Rect(0, top+i*panelH, width, top+(i+1)*panelH), sub, image.Point{}, draw.Src)
	}
	return png.Encode(w, img)
}
