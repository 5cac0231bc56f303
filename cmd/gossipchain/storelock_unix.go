//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockStoreFile takes the lock bbolt takes (flock on the file itself), so
// that `store reset` does not move the store from under a running node.
func lockStoreFile(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use by a running node: stop it first", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
