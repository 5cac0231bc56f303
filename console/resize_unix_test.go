//go:build unix

package console

import (
	"syscall"
	"testing"
)

// sendWinch sends this process a SIGWINCH, as the kernel does to a
// terminal's foreground process group when the terminal is resized.
func sendWinch(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
}
