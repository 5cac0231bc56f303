package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gossipchain/gossipchain/api"
)

// apiToken decides the HTTP API's token for a node serving on httpAddr:
// the one given (--http-token) if any; else, off loopback, a new random
// one, written to the cookie file in the data directory (as bitcoind's
// .cookie) so that `gossipchain health` and the operator can read it. On
// loopback without --http-token there is none: the tutorial's curl
// commands need no credential. A cookie left by an earlier run is removed
// when none is written, so that it never holds a stale token. cookie is
// the file written, or "".
func apiToken(dataDir, given, httpAddr string) (token, cookie string, err error) {
	path := filepath.Join(dataDir, api.CookieFile)
	if given != "" || api.IsLoopbackAddr(httpAddr) {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("removing the old HTTP API cookie: %w", err)
		}
		return given, "", nil
	}
	token = api.NewToken()
	if err := writeCookie(path, token); err != nil {
		return "", "", fmt.Errorf("writing the HTTP API cookie: %w", err)
	}
	return token, path, nil
}

// writeCookie replaces path with a new file, readable by its owner only,
// holding token and a newline. The old file is removed first, so that
// the new one is created 0600 whatever the old one's mode was.
func writeCookie(path, token string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readCookie returns the token in the data directory's cookie file, or ""
// if there is none.
func readCookie(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, api.CookieFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
