package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"

	"github.com/gossipchain/gossipchain/node"
	"golang.org/x/term"
)

// runTerminal is the interactive mode. The terminal is in raw mode while it
// runs, and restored on return, panics included. One goroutine reads the
// terminal's bytes (inputPump); the line editor (term.Terminal) reads them
// from it, and while a command runs the loop watches them for Ctrl-C, which
// interrupts the command. Another goroutine prints the node's events through
// the line editor, which redraws the prompt and the half-typed line below
// each one.
func runTerminal(ctx context.Context, n *node.Node, in io.Reader, out io.Writer, opts Options) error {
	fd, isTerm := terminalFD(in)
	if isTerm {
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("console: raw mode: %w", err)
		}
		defer term.Restore(fd, old)
	}

	pump := newInputPump(in)
	defer pump.stop()
	input := &termInput{ctx: ctx, pump: pump}
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{input, out}, opts.Prompt)

	t.History = &history{}
	ls := &lineScreen{t: t, fd: -1}
	if isTerm {
		ls.fd = fd
	}
	stopResize := ls.watchResize()
	defer stopResize()

	s := newSession(n, t, opts.Logger)
	s.errStart, s.errEnd = string(t.Escape.Red), string(t.Escape.Reset)
	s.list = func(cands []string) { ls.printAbove(strings.Join(cands, "  ") + "\n") }
	t.AutoCompleteCallback = func(line string, pos int, key rune) (newLine string, newPos int, ok bool) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("console completion panicked", "panic", r)
				newLine, newPos, ok = "", 0, false
			}
		}()
		return s.complete(line, pos, key)
	}

	stopEvents := s.printEvents(t, ls.printAbove)
	defer stopEvents()

	for {
		ls.syncSize()
		line, err := t.ReadLine()
		if errors.Is(err, term.ErrPasteIndicator) {
			err = nil
		}
		if err != nil {
			// Ctrl-D on an empty line, or Ctrl-C at the prompt (x/term
			// reports both as io.EOF), a cancelled ctx, or the terminal
			// went away. Leave the cursor on a fresh line for what follows.
			stopEvents()
			io.WriteString(out, "\r\n")
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("console: read: %w", err)
		}
		if quit, err := s.runInterruptible(ctx, input, t, line); quit || err != nil {
			return err
		}
	}
}

// lineScreen prints lines above the line being edited.
//
// The line editor (term.Terminal) does the work: its Write erases the
// prompt and the half-typed line, prints, and draws them again below, and it
// keeps track of the rows a line longer than the terminal's width wraps
// over. Two things are left to us. The editor knows the width only from
// SetSize, so the width is read again before each print and on SIGWINCH;
// with a stale (wider) width it would move up too few rows and leave the
// line's first rows above what is printed. And its Write clears the line's
// rows only from the cursor's row up, so when the cursor has been moved
// back into an earlier row, the rows below it would stay under a printed
// line that wraps; a CSI J (clear to the end of the screen) after the
// editor has moved to the line's first row clears them.
type lineScreen struct {
	t  *term.Terminal
	fd int // the terminal, or -1 when the input is not one
}

// clearToEnd is CSI J: clear from the cursor to the end of the screen.
const clearToEnd = "\x1b[J"

// syncSize gives the line editor the terminal's current size. The editor
// redraws its line if the width changed.
func (ls *lineScreen) syncSize() {
	if ls.fd < 0 {
		return
	}
	if w, h, err := term.GetSize(ls.fd); err == nil && w > 0 && h > 0 {
		ls.t.SetSize(w, h)
	}
}

// printAbove prints text, whole lines, above the prompt and the line being
// edited, or, while a command runs (no prompt on the screen), where the
// cursor is: at the start of an empty line with nothing below it, which
// CSI J leaves as it is.
func (ls *lineScreen) printAbove(text string) {
	ls.syncSize()
	io.WriteString(ls.t, clearToEnd+text)
}

// history is the line editor's history: term.Terminal's, except that blank
// lines (empty or whitespace only) are not kept.
type history struct {
	entries []string // oldest first
}

// maxHistory bounds the history.
const maxHistory = 1000

func (h *history) Add(entry string) {
	if strings.TrimSpace(entry) == "" {
		return
	}
	if len(h.entries) == maxHistory {
		h.entries = append(h.entries[:0], h.entries[1:]...)
	}
	h.entries = append(h.entries, entry)
}

func (h *history) Len() int { return len(h.entries) }

// At returns the idx-th most recent entry; it panics out of range, as
// term.History requires.
func (h *history) At(idx int) string {
	if idx < 0 || idx >= len(h.entries) {
		panic(fmt.Sprintf("console: history index %d out of range [0,%d)", idx, len(h.entries)))
	}
	return h.entries[len(h.entries)-1-idx]
}

// runInterruptible runs one command line on its own goroutine, with a
// context that Ctrl-C cancels. Keys typed meanwhile are kept for the line
// editor; a Ctrl-C discards them.
func (s *session) runInterruptible(ctx context.Context, input *termInput, t io.Writer, line string) (quit bool, err error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan bool, 1)
	go func() { done <- s.exec(cctx, line) }()
	for {
		select {
		case q := <-done:
			return q, nil
		case <-ctx.Done():
			cancel()
			<-done // handlers return soon after their context ends
			return false, ctx.Err()
		case b, ok := <-input.chunks():
			if !ok {
				input.eof = true
				continue
			}
			if i := bytes.LastIndexByte(b, keyCtrlC); i >= 0 {
				if cctx.Err() == nil {
					cancel()
					io.WriteString(t, "^C\n")
				}
				input.pending = append(input.pending[:0], b[i+1:]...)
				continue
			}
			input.pending = append(input.pending, b...)
		}
	}
}

const keyCtrlC = 3

// terminalFD returns in's file descriptor and whether it is a terminal. It
// does not call (*os.File).Fd, which would switch the file to blocking mode
// and stop read deadlines from working.
func terminalFD(in io.Reader) (int, bool) {
	sc, ok := in.(syscall.Conn)
	if !ok {
		return -1, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, false
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil || fd < 0 {
		return -1, false
	}
	return fd, term.IsTerminal(fd)
}

// inputPump reads raw input on its own goroutine and hands it over in
// chunks. It stops at end of input or at stop: at once when in supports read
// deadlines (a terminal opened by the program), otherwise at its next read
// (an inherited blocking stdin, which only matters if the program goes on
// reading it after Run).
type inputPump struct {
	in   io.Reader
	ch   chan []byte // closed at end of input, after err is set
	err  error
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func newInputPump(in io.Reader) *inputPump {
	p := &inputPump{in: in, ch: make(chan []byte), quit: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *inputPump) run() {
	defer close(p.done)
	defer close(p.ch)
	for {
		buf := make([]byte, 256)
		n, err := p.in.Read(buf)
		if n > 0 {
			select {
			case p.ch <- buf[:n]:
			case <-p.quit:
				return
			}
		}
		if err != nil {
			p.err = err
			return
		}
		select {
		case <-p.quit:
			return
		default:
		}
	}
}

func (p *inputPump) stop() {
	p.once.Do(func() {
		close(p.quit)
		if interruptRead(p.in) {
			<-p.done
			clearReadDeadline(p.in)
		}
	})
}

// termInput is the line editor's input: the pump's chunks, after any keys
// kept from while a command ran. A cancelled ctx ends it.
type termInput struct {
	ctx     context.Context
	pump    *inputPump
	pending []byte
	eof     bool // the pump has ended
}

func (r *termInput) chunks() <-chan []byte {
	if r.eof {
		return nil
	}
	return r.pump.ch
}

func (r *termInput) Read(p []byte) (int, error) {
	if len(r.pending) == 0 {
		if r.eof {
			return 0, r.endErr()
		}
		select {
		case b, ok := <-r.pump.ch:
			if !ok {
				r.eof = true
				return 0, r.endErr()
			}
			r.pending = b
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *termInput) endErr() error {
	<-r.pump.done
	if r.pump.err != nil {
		return r.pump.err
	}
	return io.EOF
}
