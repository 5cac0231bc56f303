// Package wallet is the room for key files: creating one (0600, never over
// an existing file), loading one with errors that say what to do, and the
// default place of a node's key. The key itself, its file format and
// signing are chain.Wallet's: this package adds no cryptography.
package wallet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gossipchain/gossipchain/chain"
)

// NodeWalletFile is the name of a node's key in its data directory (the
// same as node.WalletFile; this package does not import node).
const NodeWalletFile = "wallet.key"

// DefaultDataDir is the node's default --data-dir.
const DefaultDataDir = "./gossipchain-data"

// NodeWalletPath is the key file of the node whose data directory is dir.
func NodeWalletPath(dir string) string {
	if dir == "" {
		dir = DefaultDataDir
	}
	return filepath.Join(dir, NodeWalletFile)
}

// ErrExists is returned by Create for a path that already exists.
var ErrExists = errors.New("file exists")

// ErrNoWallet is returned by Load for a path with no file.
var ErrNoWallet = errors.New("no wallet key")

// Create makes a new random key and writes it to path with 0600
// permissions. It refuses to replace anything already at path (a key file
// may hold someone's coins): the key is written under a temporary name and
// then hard-linked into place, which fails if path exists, so even two
// concurrent Creates cannot overwrite each other.
func Create(path string) (*chain.Wallet, error) {
	if path == "" {
		return nil, errors.New("wallet: empty file name")
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("wallet %s: %w: not overwriting it (it may hold coins); choose another --out", path, ErrExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	w := chain.NewWallet()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".wallet-new-")
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	defer os.RemoveAll(tmp)
	staged := filepath.Join(tmp, "key")
	if err := w.Save(staged); err != nil { // 0600, synced
		return nil, err
	}
	if err := os.Link(staged, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("wallet %s: %w: not overwriting it (it may hold coins); choose another --out", path, ErrExists)
		}
		// A file system without hard links: create exclusively and copy.
		if err := copyExclusive(staged, path); err != nil {
			return nil, err
		}
	}
	syncDir(dir)
	return w, nil
}

// copyExclusive copies src to a new file dst (O_EXCL, 0600).
func copyExclusive(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("wallet %s: %w: not overwriting it (it may hold coins); choose another --out", dst, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(dst)
		return fmt.Errorf("wallet: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(dst)
		return fmt.Errorf("wallet: %w", err)
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Load reads the key file at path. A missing file is ErrNoWallet, with a
// message saying how to make one.
func Load(path string) (*chain.Wallet, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s: create one with `gossipchain wallet new --out %s` (or run a node with --data-dir to get its wallet)", ErrNoWallet, path, path)
	}
	return chain.LoadWallet(path)
}

// Show returns the address of the key at path.
func Show(path string) (chain.Address, error) {
	w, err := Load(path)
	if err != nil {
		return chain.Address{}, err
	}
	return w.Address(), nil
}
