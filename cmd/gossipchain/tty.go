package main

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// ttyState is what the node command needs to know about its terminal
// before it lets the console take it.
type ttyState struct {
	// stdinTerm: stdin is a terminal.
	stdinTerm bool
	// foreground: stdin is this process's controlling terminal and the
	// process is in its foreground process group. A job started with
	// `&` is not: reading the terminal or changing its mode stops it
	// (SIGTTIN, SIGTTOU: "Stopped (tty output)").
	foreground bool
	// stdoutTerm: stdout is a terminal too. The console's line editor
	// (raw mode) is only for stdin and stdout both on the terminal; with
	// stdout piped it reads plain lines.
	stdoutTerm bool
}

// interactive reports whether the console may use the line editor.
func (s ttyState) interactive() bool { return s.stdinTerm && s.foreground && s.stdoutTerm }

func probeTTY(stdin *os.File, stdout io.Writer) ttyState {
	var s ttyState
	if stdin == nil {
		return s
	}
	fd := int(stdin.Fd())
	s.stdinTerm = term.IsTerminal(fd)
	if !s.stdinTerm {
		return s
	}
	s.foreground = isForeground(fd)
	if f, ok := stdout.(*os.File); ok {
		s.stdoutTerm = term.IsTerminal(int(f.Fd()))
	}
	return s
}

// isForeground compares the terminal's foreground process group
// (tcgetpgrp) with ours (getpgrp). A terminal that is not our controlling
// terminal (ENOTTY) has no say: we are not in its foreground.
func isForeground(fd int) bool {
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	return pgrp == syscall.Getpgrp()
}
