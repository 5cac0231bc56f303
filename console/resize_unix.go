//go:build unix

package console

import (
	"os"
	"os/signal"
	"syscall"
)

// watchResize gives the line editor the terminal's new size at each
// SIGWINCH, until the returned function is called.
func (ls *lineScreen) watchResize() (stop func()) {
	if ls.fd < 0 {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ch:
				ls.syncSize()
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(quit)
		<-done
	}
}
