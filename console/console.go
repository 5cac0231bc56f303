// Package console is gossipchain's interactive console: a command line over
// a running node. It holds no chain logic; every command calls the node.
//
// It runs in one of two modes. Piped (Options.Terminal false) it reads one
// command a line, prints plain results and exits at end of input, so it can
// be scripted. On a terminal it puts the terminal in raw mode and offers line
// editing, history, tab completion, and the node's events (a block from a
// peer, a peer joined or left, a reorg) printed as they happen without
// garbling the line being typed.
package console

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// Options configure Run.
type Options struct {
	// Terminal selects the interactive mode: raw terminal, line editing,
	// history, completion and live events. in should then be the terminal
	// (an *os.File); if it is not a terminal, it is read as is, without
	// switching modes.
	Terminal bool
	// Prompt is the terminal mode's prompt; default "gossipchain> ".
	Prompt string
	// Logger receives internal errors (a panicking command); default none.
	Logger *slog.Logger
}

// DefaultPrompt is the prompt when Options.Prompt is empty.
const DefaultPrompt = "gossipchain> "

// MaxLineBytes is the longest command line read in pipe mode; a longer line
// is reported and skipped.
const MaxLineBytes = 64 << 10

// Run reads commands from in and prints results to out until the input ends
// or the user quits (both return nil), or ctx is cancelled (ctx.Err()). A
// running command is cancelled with ctx.
func Run(ctx context.Context, n *node.Node, in io.Reader, out io.Writer, opts Options) error {
	if n == nil {
		return errors.New("console: nil node")
	}
	if opts.Prompt == "" {
		opts.Prompt = DefaultPrompt
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opts.Terminal {
		return runTerminal(ctx, n, in, out, opts)
	}
	return runPipe(ctx, n, in, out, opts)
}

// session is the state shared by the commands of one Run.
type session struct {
	n    *node.Node
	out  io.Writer // results; safe for concurrent use in terminal mode
	cmds []*command
	log  *slog.Logger

	// list, if set, shows completion candidates (terminal mode).
	list func([]string)
	// errStart and errEnd wrap error messages (terminal colours).
	errStart, errEnd string
	// mining counts running "mine N" commands, and printed holds the last
	// blocks they printed: the event printer leaves those blocks to them.
	mining    atomic.Int32
	printedMu sync.Mutex
	printed   []chain.Hash
}

// maxPrinted bounds session.printed.
const maxPrinted = 64

// notePrinted records a block that a command printed.
func (s *session) notePrinted(h chain.Hash) {
	s.printedMu.Lock()
	defer s.printedMu.Unlock()
	if len(s.printed) == maxPrinted {
		s.printed = s.printed[1:]
	}
	s.printed = append(s.printed, h)
}

// wasPrinted reports whether a command printed the block (or is running and
// will), forgetting it.
func (s *session) wasPrinted(h chain.Hash) bool {
	s.printedMu.Lock()
	defer s.printedMu.Unlock()
	if i := slices.Index(s.printed, h); i >= 0 {
		s.printed = slices.Delete(s.printed, i, i+1)
		return true
	}
	return s.mining.Load() > 0
}

func newSession(n *node.Node, out io.Writer, log *slog.Logger) *session {
	return &session{n: n, out: out, cmds: commandTable(), log: log}
}

// printf writes to the session's output. Each call is one Write, so lines
// of a call are not split by events printed concurrently.
func (s *session) printf(format string, args ...any) {
	fmt.Fprintf(s.out, format, args...)
}

// errorf prints an error line.
func (s *session) errorf(format string, args ...any) {
	s.printf("%serror: %s%s\n", s.errStart, fmt.Sprintf(format, args...), s.errEnd)
}

// Pipe mode.

func runPipe(ctx context.Context, n *node.Node, in io.Reader, out io.Writer, opts Options) error {
	s := newSession(n, out, opts.Logger)
	lr := newLineReader(in)
	defer lr.stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var l line
		var ok bool
		select {
		case l, ok = <-lr.lines:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return lr.err()
		}
		if l.tooLong {
			s.errorf("line longer than %d bytes skipped", MaxLineBytes)
			continue
		}
		if s.exec(ctx, l.text) {
			return nil
		}
	}
}

// line is one input line, or the report that one was too long.
type line struct {
	text    string
	tooLong bool
}

// lineReader scans lines on its own goroutine so that Run can return when
// ctx is cancelled while a read blocks. The goroutine ends at end of input,
// or at stop: at once if in has read deadlines (a pollable *os.File),
// otherwise at its next read.
type lineReader struct {
	in    io.Reader
	lines chan line
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	rerr  error // set before lines is closed
}

func newLineReader(in io.Reader) *lineReader {
	lr := &lineReader{in: in, lines: make(chan line), quit: make(chan struct{}), done: make(chan struct{})}
	go lr.run()
	return lr
}

func (lr *lineReader) run() {
	defer close(lr.done)
	defer close(lr.lines)
	sc := bufio.NewScanner(lr.in)
	sc.Buffer(make([]byte, 4096), MaxLineBytes+1)
	split := &lineSplitter{max: MaxLineBytes}
	sc.Split(split.split)
	for sc.Scan() {
		l := line{text: strings.TrimRight(sc.Text(), "\r"), tooLong: split.tooLong}
		split.tooLong = false
		select {
		case lr.lines <- l:
		case <-lr.quit:
			return
		}
	}
	lr.rerr = sc.Err()
}

// err is the read error that ended the input; nil at end of input. Call it
// after lines is closed.
func (lr *lineReader) err() error {
	<-lr.done
	if lr.rerr != nil && !errors.Is(lr.rerr, io.EOF) {
		return fmt.Errorf("console: read: %w", lr.rerr)
	}
	return nil
}

func (lr *lineReader) stop() {
	lr.once.Do(func() {
		close(lr.quit)
		if interruptRead(lr.in) {
			<-lr.done
			clearReadDeadline(lr.in)
		}
	})
}

// lineSplitter is bufio.ScanLines that skips, rather than fails on, a line
// longer than max: it returns an empty token with tooLong set in its place.
type lineSplitter struct {
	max      int
	skipping bool // inside a too-long line, discarding up to its newline
	tooLong  bool // the token just returned stands for a too-long line
}

func (ls *lineSplitter) split(data []byte, atEOF bool) (int, []byte, error) {
	i := bytes.IndexByte(data, '\n')
	if i > ls.max || (i < 0 && len(data) > ls.max) {
		ls.skipping = true
	}
	if ls.skipping {
		if i >= 0 {
			ls.skipping, ls.tooLong = false, true
			return i + 1, []byte{}, nil
		}
		if atEOF {
			ls.skipping, ls.tooLong = false, true
			return len(data), []byte{}, nil
		}
		return len(data), nil, nil
	}
	if i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// Read deadlines: a pollable *os.File (a terminal or pipe opened by the
// program, not a blocking inherited stdin) can have its blocked Read
// interrupted.

type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// interruptRead makes a blocked Read on in return now, and reports whether
// it could.
func interruptRead(in io.Reader) bool {
	d, ok := in.(readDeadliner)
	return ok && d.SetReadDeadline(time.Now()) == nil
}

// clearReadDeadline undoes interruptRead, so the caller can read in again.
func clearReadDeadline(in io.Reader) {
	if d, ok := in.(readDeadliner); ok {
		_ = d.SetReadDeadline(time.Time{})
	}
}
