//go:build !unix

package console

// watchResize does nothing where there is no SIGWINCH: the size is read
// again before each prompt and each event.
func (ls *lineScreen) watchResize() (stop func()) { return func() {} }
