package console

import (
	"context"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"
)

// screen collects what the console writes to a pty's master side.
type screen struct {
	mu     sync.Mutex
	buf    []byte
	signal chan struct{} // closed and replaced when data arrives
	done   chan struct{}
}

func newScreen(master *os.File) *screen {
	sc := &screen{signal: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(sc.done)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			sc.mu.Lock()
			sc.buf = append(sc.buf, b[:n]...)
			close(sc.signal)
			sc.signal = make(chan struct{})
			sc.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return sc
}

// mark is the current end of the output.
func (sc *screen) mark() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return len(sc.buf)
}

// waitFor waits until want appears in the output at or after from, and
// returns the offset just past it.
func (sc *screen) waitFor(t *testing.T, from int, want string) int {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		sc.mu.Lock()
		out, signal := string(sc.buf), sc.signal
		sc.mu.Unlock()
		if i := strings.Index(out[from:], want); i >= 0 {
			return from + i + len(want)
		}
		select {
		case <-signal:
		case <-deadline:
			t.Fatalf("%q did not appear after offset %d; output since:\n%q", want, from, out[from:])
		}
	}
}

// tryWaitFor is waitFor that gives up after d, reporting success.
func (sc *screen) tryWaitFor(from int, want string, d time.Duration) (int, bool) {
	deadline := time.After(d)
	for {
		sc.mu.Lock()
		out, signal := string(sc.buf), sc.signal
		sc.mu.Unlock()
		if i := strings.Index(out[from:], want); i >= 0 {
			return from + i + len(want), true
		}
		select {
		case <-signal:
		case <-deadline:
			return from, false
		}
	}
}

func (sc *screen) String() string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return string(sc.buf)
}

// openPTY opens a pseudo-terminal sized 120x40 and starts collecting its
// output.
func openPTY(t *testing.T) (master, tty *os.File, sc *screen) {
	t.Helper()
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := pty.Setsize(master, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
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

func ttyState(t *testing.T, tty *os.File) *term.State {
	t.Helper()
	fd, ok := terminalFD(tty)
	if !ok {
		t.Fatal("the pty's tty is not a terminal")
	}
	st, err := term.GetState(fd)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestTerminalOnPTY(t *testing.T) {
	n1 := newNode(t)
	master, tty, sc := openPTY(t)
	cooked := ttyState(t, tty)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, n1, tty, tty, Options{Terminal: true}) }()
	typeKeys := func(s string) {
		t.Helper()
		if _, err := io.WriteString(master, s); err != nil {
			t.Fatal(err)
		}
	}

	at := sc.waitFor(t, 0, DefaultPrompt)

	// TAB completes a command name on the line.
	typeKeys("sta\t")
	at = sc.waitFor(t, at, "status")
	typeKeys("\r")
	at = sc.waitFor(t, at, "peer id")
	at = sc.waitFor(t, at, n1.ID().String())
	at = sc.waitFor(t, at, DefaultPrompt)

	// An event arrives while a line is half typed: it is printed above the
	// line, and the prompt and the half line are drawn again below it.
	typeKeys("bal")
	at = sc.waitFor(t, at, "bal")
	n2 := newNode(t)
	if _, err := n2.Connect(ctx, n1.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	at = sc.waitFor(t, at, "peer joined "+n2.ID().String())
	at = sc.waitFor(t, at, DefaultPrompt+"bal")

	// A block mined by the peer. Until gossipsub has exchanged
	// subscriptions a publish can reach nobody, so mine until one arrives.
	fromPeer := "from " + shortPeer(n2.ID().String())
	for i := 0; ; i++ {
		if _, err := n2.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
		var ok bool
		if at, ok = sc.tryWaitFor(at, fromPeer, 2*time.Second); ok {
			break
		}
		if i == 10 {
			t.Fatalf("no block event from the peer; output:\n%q", sc.String())
		}
	}
	at = sc.waitFor(t, at, DefaultPrompt+"bal")

	// Finish the line: it was kept whole through the events.
	typeKeys("ance\r")
	at = sc.waitFor(t, at, "address  "+n1.Address().String()+" (you)")
	at = sc.waitFor(t, at, "balance  0")
	at = sc.waitFor(t, at, DefaultPrompt)

	// History: up arrow recalls the line.
	typeKeys("\x1b[A")
	at = sc.waitFor(t, at, "balance")
	typeKeys("\r")
	at = sc.waitFor(t, at, "address  "+n1.Address().String())

	// An ambiguous TAB lists the candidates and keeps the line; our own
	// mined block is printed once, by the mine command, not again as an
	// event.
	typeKeys("m\t")
	at = sc.waitFor(t, at, "mine  mempool")
	at = sc.waitFor(t, at, DefaultPrompt+"m")
	typeKeys("ine 2\r")
	at = sc.waitFor(t, at, "mined block #")
	at = sc.waitFor(t, at, "mined block #")
	at = sc.waitFor(t, at, DefaultPrompt)
	typeKeys("chain 2\r")
	at = sc.waitFor(t, at, DefaultPrompt)
	if strings.Contains(sc.String(), "* mined block") {
		t.Errorf("own block printed again as an event:\n%q", sc.String())
	}

	// Wrong input on a terminal: the error and the usage.
	typeKeys("send zz\r")
	at = sc.waitFor(t, at, "error: send: missing arguments")
	at = sc.waitFor(t, at, "usage: send ADDRESS AMOUNT [FEE]")
	_ = at

	// Ctrl-D on an empty line ends Run with nil and restores the terminal.
	typeKeys("\x04")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not end at Ctrl-D; output:\n%q", sc.String())
	}
	if st := ttyState(t, tty); !reflect.DeepEqual(st, cooked) {
		t.Error("terminal state not restored")
	}
}

func TestTerminalCtrlC(t *testing.T) {
	n := newNode(t)
	master, tty, sc := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := func() chan error {
		done := make(chan error, 1)
		go func() { done <- Run(ctx, n, tty, tty, Options{Terminal: true, Prompt: "gc> "}) }()
		return done
	}
	typeKeys := func(s string) {
		t.Helper()
		if _, err := io.WriteString(master, s); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(done chan error, want error) {
		t.Helper()
		select {
		case err := <-done:
			if !errors.Is(err, want) {
				t.Fatalf("Run = %v, want %v", err, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("Run did not end; output:\n%q", sc.String())
		}
	}

	done := run()
	at := sc.waitFor(t, 0, "gc> ")
	// Ctrl-C interrupts a running command and the console goes on.
	typeKeys("mine 10000\r")
	at = sc.waitFor(t, at, "mined block #3")
	typeKeys("\x03")
	at = sc.waitFor(t, at, "mine: interrupted after")
	at = sc.waitFor(t, at, "gc> ")
	// Blocks mined continuously are shown as events (bursts as one line).
	typeKeys("mine start\r")
	at = sc.waitFor(t, at, "mining started")
	at = sc.waitFor(t, at, "* ")
	at = sc.waitFor(t, at, "mined")
	typeKeys("mine stop\r")
	at = sc.waitFor(t, at, "mining stopped")
	at = sc.waitFor(t, at, "gc> ")
	// Ctrl-C at the prompt, even on a half-typed line, leaves.
	typeKeys("chai\x03")
	wait(done, nil)

	// The tty is usable again: a second session on it, ended by its
	// context.
	done = run()
	at = sc.waitFor(t, at, "gc> ")
	typeKeys("chain 1\r")
	at = sc.waitFor(t, at, "#")
	at = sc.waitFor(t, at, "gc> ")
	_ = at
	cancel()
	wait(done, context.Canceled)
}
