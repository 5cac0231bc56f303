package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// A tiny line-chart plotter: axes with round ticks and grid lines, labels
// in basicfont's 7×13 face, one coloured line with point markers per
// series, and a legend. Enough for the two plots of docs/BENCHMARKS.md,
// without a plotting library.

// series is one line of a chart.
type series struct {
	name   string
	colour color.RGBA
	xs, ys []float64
}

// chart is a line chart.
type chart struct {
	title, xLabel, yLabel string
	series                []series
	width, height         int
	// xTicks, if set, are the x ticks (the measured sizes); else round
	// values are chosen. xFromZero starts the x axis at 0.
	xTicks    []float64
	xFromZero bool
}

var (
	white    = color.RGBA{255, 255, 255, 255}
	black    = color.RGBA{0, 0, 0, 255}
	gridGrey = color.RGBA{225, 225, 225, 255}
	axisGrey = color.RGBA{90, 90, 90, 255}
	palette  = []color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}}
)

const faceWidth = 7 // of basicfont.Face7x13

// niceTicks returns round tick values (1, 2 or 5 × 10^k apart) covering
// [lo, hi], about n of them.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(max(n-1, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	for v := math.Floor(lo/step) * step; v <= hi+step*1e-9; v += step {
		ticks = append(ticks, v)
	}
	if ticks[len(ticks)-1] < hi {
		ticks = append(ticks, ticks[len(ticks)-1]+step)
	}
	return ticks
}

func formatTick(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// render draws the chart.
func (c *chart) render() *image.RGBA {
	w, h := c.width, c.height
	if w == 0 {
		w, h = 800, 500
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)

	// Data range: y from 0, x over the data (or the given ticks).
	xlo, xhi, yhi := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range c.series {
		for i := range s.xs {
			xlo, xhi = math.Min(xlo, s.xs[i]), math.Max(xhi, s.xs[i])
			yhi = math.Max(yhi, s.ys[i])
		}
	}
	if math.IsInf(xlo, 0) {
		xlo, xhi = 0, 1
	}
	if c.xFromZero {
		xlo = 0
	}
	xt := c.xTicks
	if len(xt) == 0 {
		xt = niceTicks(xlo, xhi, 6)
	} else if c.xFromZero && xt[0] != 0 {
		xt = append([]float64{0}, xt...)
	}
	xlo, xhi = math.Min(xlo, xt[0]), math.Max(xhi, xt[len(xt)-1])
	if xhi == xlo {
		xhi = xlo + 1
	}
	yt := niceTicks(0, math.Max(yhi, 1e-9), 6)
	ylo, yTop := yt[0], yt[len(yt)-1]

	// Plot area.
	left, right, top, bottom := 80, w-30, 50, h-70
	px := func(x float64) int { return left + int(math.Round((x-xlo)/(xhi-xlo)*float64(right-left))) }
	py := func(y float64) int { return bottom - int(math.Round((y-ylo)/(yTop-ylo)*float64(bottom-top))) }

	for _, v := range yt {
		y := py(v)
		hline(img, left, right, y, gridGrey)
		s := formatTick(v)
		text(img, left-8-len(s)*faceWidth, y+4, s, black)
	}
	for _, v := range xt {
		x := px(v)
		vline(img, x, top, bottom, gridGrey)
		vline(img, x, bottom, bottom+5, axisGrey)
		s := formatTick(v)
		text(img, x-len(s)*faceWidth/2, bottom+19, s, black)
	}
	hline(img, left, right, bottom, axisGrey)
	vline(img, left, top, bottom, axisGrey)

	text(img, (left+right)/2-len(c.title)*faceWidth/2, 28, c.title, black)
	text(img, (left+right)/2-len(c.xLabel)*faceWidth/2, bottom+45, c.xLabel, black)
	verticalText(img, 22, (top+bottom)/2+len(c.yLabel)*faceWidth/2, c.yLabel, black)

	for _, s := range c.series {
		for i := 1; i < len(s.xs); i++ {
			line(img, px(s.xs[i-1]), py(s.ys[i-1]), px(s.xs[i]), py(s.ys[i]), s.colour)
		}
		for i := range s.xs {
			square(img, px(s.xs[i]), py(s.ys[i]), 3, s.colour)
		}
	}
	// Legend, top left inside the plot area.
	lx, ly := left+15, top+15
	boxW := 0
	for _, s := range c.series {
		boxW = max(boxW, len(s.name)*faceWidth+40)
	}
	fill(img, image.Rect(lx-8, ly-12, lx+boxW, ly+len(c.series)*18-4), white)
	for i, s := range c.series {
		y := ly + i*18
		for d := -1; d <= 1; d++ {
			hline(img, lx, lx+22, y-4+d, s.colour)
		}
		text(img, lx+30, y, s.name, black)
	}
	return img
}

// writePNG renders the chart as PNG.
func (c *chart) writePNG(w io.Writer) error {
	if len(c.series) == 0 {
		return fmt.Errorf("chart %q: no series", c.title)
	}
	return png.Encode(w, c.render())
}

func text(img *image.RGBA, x, y int, s string, col color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// verticalText draws s rotated a quarter turn anticlockwise, its baseline
// start at (x, y), reading upwards.
func verticalText(img *image.RGBA, x, y int, s string, col color.RGBA) {
	tw, th := len(s)*faceWidth, 13
	tmp := image.NewRGBA(image.Rect(0, 0, tw, th))
	text(tmp, 0, 10, s, col)
	for ty := 0; ty < th; ty++ {
		for tx := 0; tx < tw; tx++ {
			if _, _, _, a := tmp.At(tx, ty).RGBA(); a > 0 {
				img.Set(x+ty-10, y-tx, tmp.At(tx, ty))
			}
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, col color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, col)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, col color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, col)
	}
}

func fill(img *image.RGBA, r image.Rectangle, col color.RGBA) {
	draw.Draw(img, r, image.NewUniform(col), image.Point{}, draw.Src)
}

func square(img *image.RGBA, x, y, r int, col color.RGBA) {
	fill(img, image.Rect(x-r, y-r, x+r+1, y+r+1), col)
}

// line draws a 2-pixel-wide line (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, col color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		img.SetRGBA(x0, y0, col)
		img.SetRGBA(x0+1, y0, col)
		img.SetRGBA(x0, y0+1, col)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func sign(x int) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
