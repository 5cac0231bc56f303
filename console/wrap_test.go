package console

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// vt is a small model of a terminal screen: printable characters with
// auto-wrap at the width (and the pending-wrap state of the last column),
// \r, \n (a bare line feed, as in raw mode), \b, and the CSI sequences A, B,
// C, D, K and J; SGR and other CSI sequences are ignored. The screen has no
// height limit: rows are added as the cursor goes down, and the cursor does
// not go above row 0.
type vt struct {
	width    int
	rows     [][]rune
	wrapped  map[int]bool // rows that auto-wrapped into the next
	x, y     int
	pendWrap bool // the last column was written: the next char wraps
}

func newVT(width int) *vt { return &vt{width: width, rows: [][]rune{nil}, wrapped: map[int]bool{}} }

// resize re-wraps the screen at a new width as reflowing terminals do
// (VTE, kitty, tmux, Windows Terminal): rows joined by auto-wrap form one
// logical line, cut again at the new width; the cursor keeps its place in
// its logical line.
func (v *vt) resize(width int) {
	type logical struct {
		text   []rune
		cursor int // offset of the cursor, or -1
	}
	var ls []logical
	cur := logical{cursor: -1}
	for y := range v.rows {
		r := v.row(y)
		if v.wrapped[y] {
			if y == v.y {
				cur.cursor = len(cur.text) + v.x
			}
			cur.text = append(cur.text, r...)
			continue
		}
		keep := len([]rune(strings.TrimRight(string(r), " ")))
		if y == v.y {
			cur.cursor = len(cur.text) + v.x
			keep = max(keep, v.x)
		}
		cur.text = append(cur.text, r[:keep]...)
		ls = append(ls, cur)
		cur = logical{cursor: -1}
	}
	v.width, v.rows, v.wrapped, v.pendWrap = width, nil, map[int]bool{}, false
	for _, l := range ls {
		start := len(v.rows)
		for i := 0; i == 0 || i < len(l.text); i += width {
			v.rows = append(v.rows, []rune(string(l.text[i:min(i+width, len(l.text))])))
			if i+width < len(l.text) {
				v.wrapped[len(v.rows)-1] = true
			}
		}
		if l.cursor >= 0 {
			v.y, v.x = start+l.cursor/width, l.cursor%width
		}
	}
	v.row(v.y)
}

func (v *vt) row(y int) []rune {
	for len(v.rows) <= y {
		v.rows = append(v.rows, nil)
	}
	r := v.rows[y]
	if len(r) < v.width {
		r = append(r, []rune(strings.Repeat(" ", v.width-len(r)))...)
		v.rows[y] = r
	}
	return r
}

func (v *vt) feed(s string) {
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\r':
			v.x, v.pendWrap = 0, false
		case c == '\n':
			v.y++
			v.row(v.y)
			v.pendWrap = false
		case c == '\b':
			if v.x > 0 {
				v.x--
			}
			v.pendWrap = false
		case c == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j == len(rs) {
				return
			}
			v.csi(string(rs[i+2:j]), rs[j])
			i = j
		case c < ' ':
			// other controls: ignored
		default:
			if v.pendWrap {
				v.wrapped[v.y] = true
				v.x, v.pendWrap = 0, false
				v.y++
			}
			v.row(v.y)[v.x] = c
			if v.x == v.width-1 {
				v.pendWrap = true
			} else {
				v.x++
			}
		}
	}
}

func (v *vt) csi(param string, final rune) {
	n, err := strconv.Atoi(param)
	if err != nil || n < 1 {
		n = 1
	}
	switch final {
	case 'A':
		v.y = max(v.y-n, 0)
	case 'B':
		v.y += n
		v.row(v.y)
	case 'C':
		v.x = min(v.x+n, v.width-1)
	case 'D':
		v.x = max(v.x-n, 0)
	case 'K':
		r := v.row(v.y)
		for i := v.x; i < v.width; i++ {
			r[i] = ' '
		}
		delete(v.wrapped, v.y)
	case 'J':
		r := v.row(v.y)
		for i := v.x; i < v.width; i++ {
			r[i] = ' '
		}
		v.rows = v.rows[:v.y+1]
		for y := range v.wrapped {
			if y >= v.y {
				delete(v.wrapped, y)
			}
		}
	default:
		return // SGR and the rest change no cell and no position
	}
	v.pendWrap = false
}

// lines returns the rows, blanks trimmed on the right.
func (v *vt) lines() []string {
	out := make([]string, len(v.rows))
	for i, r := range v.rows {
		out[i] = strings.TrimRight(string(r), " ")
	}
	return out
}

func (v *vt) dump() string {
	var b strings.Builder
	for i, l := range v.lines() {
		fmt.Fprintf(&b, "%2d|%s|\n", i, l)
	}
	fmt.Fprintf(&b, "cursor row %d col %d", v.y, v.x)
	return b.String()
}

// waitScreen replays the console's output into a vt of the given width
// until check accepts the screen (returns ""), and fails with check's last
// complaint and the screen otherwise.
func waitScreen(t *testing.T, sc *screen, width int, check func(v *vt) string) *vt {
	t.Helper()
	return waitScreenResized(t, sc, width, 0, width, check)
}

// waitScreenResized is waitScreen for a terminal resized from width to
// newWidth when the output was at offset at.
func waitScreenResized(t *testing.T, sc *screen, width, at, newWidth int, check func(v *vt) string) *vt {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		sc.mu.Lock()
		out, signal := string(sc.buf), sc.signal
		sc.mu.Unlock()
		v := newVT(width)
		if at > 0 {
			v.feed(out[:at])
			v.resize(newWidth)
			v.feed(out[at:])
		} else {
			v.feed(out)
		}
		why := check(v)
		if why == "" {
			return v
		}
		select {
		case <-signal:
		case <-deadline:
			t.Fatalf("%s; screen:\n%s\noutput:\n%q", why, v.dump(), out)
		}
	}
}

// wrappedInput is n characters of input in tagged chunks ("a00-----b01..."),
// so that any fragment of it left on the screen can be recognised.
func wrappedInput(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%c%02d------", 'a'+i%26, i)
	}
	return b.String()[:n]
}

// checkInputBelowEvent says what is wrong with a screen that should show
// only, from its first row: the event line, then prompt+input across as many
// rows as it needs, with the cursor at logical position pos of the input.
func checkInputBelowEvent(v *vt, prompt, input, event string, pos int) string {
	var flat strings.Builder
	for y := range v.rows {
		flat.WriteString(string(v.row(y)))
	}
	all := []rune(flat.String())
	text := string(all)
	i := strings.Index(text, event)
	if i < 0 {
		return "no event line"
	}
	if strings.Count(text, event) > 1 {
		return "the event is shown twice"
	}
	i = len([]rune(text[:i]))
	if i%v.width != 0 {
		return "the event does not start a row"
	}
	ev := i / v.width
	lines := v.lines()
	for y := 0; y < ev; y++ {
		if lines[y] != "" {
			return fmt.Sprintf("row %d above the event is not blank: %q", y, lines[y])
		}
	}
	evEnd := i + len([]rune(event))
	evRows := (evEnd + v.width - 1) / v.width
	if rest := strings.TrimSpace(string(all[evEnd : evRows*v.width])); rest != "" {
		return fmt.Sprintf("a stale fragment beside the event: %q", rest)
	}
	full := prompt + input
	if got := strings.TrimRight(string(all[evRows*v.width:]), " "); got != full {
		return fmt.Sprintf("below the event %q, want prompt and input %q", got, full)
	}
	at := len([]rune(prompt)) + pos
	wantY, wantX := evRows+at/v.width, at%v.width
	if v.y != wantY || v.x != wantX {
		return fmt.Sprintf("cursor at row %d col %d, want row %d col %d", v.y, v.x, wantY, wantX)
	}
	return ""
}

// openPTYSize is openPTY at the given size.
func openPTYSize(t *testing.T, cols, rows uint16) (master, tty *os.File, sc *screen) {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := pty.Setsize(master, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	sc = newScreen(master)
	t.Cleanup(func() {
		tty.Close()
		master.Close()
		<-sc.done
	})
	return master, tty, sc
}

// TestEventAboveWrappedInput: an event printed while a line longer than one
// terminal row is pending leaves the screen as event, then the whole
// prompt+input once, with the cursor where it was; no stale row of the
// input stays above the event or beside it. Cases: the cursor at the end of
// the input, an input that exactly fills its rows, the cursor moved back
// into the first rows, an event line that itself wraps, and a terminal
// narrowed (from 120 columns) while the line is pending.
func TestEventAboveWrappedInput(t *testing.T) {
	for _, width := range []int{60, 80} {
		prompt := DefaultPrompt
		fill := 2*width - len(prompt) // prompt+input exactly fills two rows
		cases := []struct {
			name  string
			input string
			keys  string // typed after the input
			pos   int    // the cursor's position in the input after keys
			from  int    // the terminal's width while typing, if not width
			peer  bool   // the event is a peer joining (a line wider than 60)
			winch bool   // the resize is signalled before the event
		}{
			{name: "end", input: wrappedInput(150), pos: 150},
			{name: "exact-fill", input: wrappedInput(fill), pos: fill},
			{name: "exact-fill-3", input: wrappedInput(fill + width), pos: fill + width},
			{name: "home", input: wrappedInput(150), keys: "\x01", pos: 0},
			{name: "middle", input: wrappedInput(150), keys: "\x01" + strings.Repeat("\x06", width), pos: width},
			{name: "home-long-event", input: wrappedInput(150), keys: "\x01", pos: 0, peer: true},
			{name: "resized", input: wrappedInput(150), pos: 150, from: 120},
			{name: "resized-exact-fill", input: wrappedInput(240 - len(prompt)), pos: 240 - len(prompt), from: 120},
			{name: "resized-signalled", input: wrappedInput(150), pos: 150, from: 120, winch: true},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%d/%s", width, tc.name), func(t *testing.T) {
				from := tc.from
				if from == 0 {
					from = width
				}
				n := newNode(t)
				master, tty, sc := openPTYSize(t, uint16(from), 40)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- Run(ctx, n, tty, tty, Options{Terminal: true}) }()
				defer func() {
					cancel()
					<-done
				}()
				sc.waitFor(t, 0, prompt)
				if _, err := io.WriteString(master, tc.input+tc.keys); err != nil {
					t.Fatal(err)
				}
				full := prompt + tc.input
				waitScreen(t, sc, from, func(v *vt) string {
					var all strings.Builder
					for _, r := range v.rows {
						all.WriteString(string(r))
					}
					if strings.TrimRight(all.String(), " ") != full {
						return "the input is not shown"
					}
					at := len(prompt) + tc.pos
					if v.y != at/from || v.x != at%from {
						return "the cursor is not in place"
					}
					return ""
				})
				resizedAt := 0
				if from != width {
					resizedAt = sc.mark()
					if err := pty.Setsize(master, &pty.Winsize{Rows: 40, Cols: uint16(width)}); err != nil {
						t.Fatal(err)
					}
				}
				if tc.winch {
					// The console redraws the line at the new width.
					sendWinch(t)
					sc.waitFor(t, resizedAt, prompt)
					waitScreenResized(t, sc, from, resizedAt, width, func(v *vt) string {
						var all strings.Builder
						for _, r := range v.rows {
							all.WriteString(string(r))
						}
						at := len(prompt) + tc.pos
						if strings.TrimRight(all.String(), " ") != full || v.y != at/width || v.x != at%width {
							return "the line is not redrawn at the new width"
						}
						return ""
					})
				}
				var event string
				if tc.peer {
					n2 := newNode(t)
					if _, err := n2.Connect(ctx, n.Addrs()[0]); err != nil {
						t.Fatal(err)
					}
					event = fmt.Sprintf("* peer joined %s (1 peer)", n2.ID())
				} else {
					b, err := n.MineBlock(ctx)
					if err != nil {
						t.Fatal(err)
					}
					event = fmt.Sprintf("* mined block #%d %s (%s)", b.Index, shortHash(b.Hash()), plural(len(b.Txs), "tx"))
				}
				waitScreenResized(t, sc, from, resizedAt, width, func(v *vt) string {
					return checkInputBelowEvent(v, prompt, tc.input, event, tc.pos)
				})
			})
		}
	}
}

// TestHistorySkipsBlankLines: empty and whitespace-only lines are not kept
// in the history, so the up arrow recalls the last real command.
func TestHistorySkipsBlankLines(t *testing.T) {
	var h history
	for _, l := range []string{"status", "", "   ", "\t", "chain 2", " \t "} {
		h.Add(l)
	}
	if h.Len() != 2 || h.At(0) != "chain 2" || h.At(1) != "status" {
		t.Fatalf("history %q, want [chain 2, status] (most recent first)", h.entries)
	}

	n := newNode(t)
	master, tty, sc := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, n, tty, tty, Options{Terminal: true, Prompt: "gc> "}) }()
	defer func() {
		cancel()
		<-done
	}()
	typeKeys := func(s string) {
		t.Helper()
		if _, err := io.WriteString(master, s); err != nil {
			t.Fatal(err)
		}
	}
	at := sc.waitFor(t, 0, "gc> ")
	typeKeys("status\r")
	at = sc.waitFor(t, at, "peer id")
	at = sc.waitFor(t, at, "gc> ")
	typeKeys("   \r")
	at = sc.waitFor(t, at, "gc> ")
	typeKeys("\r")
	at = sc.waitFor(t, at, "gc> ")
	// One up arrow: the last command, not the blank lines after it.
	typeKeys("\x1b[A\r")
	if _, ok := sc.tryWaitFor(at, "peer id", 5*time.Second); !ok {
		t.Fatalf("up arrow did not recall status; output:\n%q", sc.String()[at:])
	}
}
