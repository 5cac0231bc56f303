//go:build !unix

package console

import "testing"

func sendWinch(t *testing.T) { t.Skip("no SIGWINCH here") }
