package node

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// ErrCorruptIdentity is returned (wrapped) by LoadOrCreateIdentity when the
// identity file exists but does not hold a valid libp2p private key.
var ErrCorruptIdentity = errors.New("corrupt identity file")

// LoadOrCreateIdentity returns the node's libp2p private key stored at path,
// creating a new Ed25519 key there (mode 0600) on first use, so the peer ID
// survives restarts. A new key is written to a temporary file in the same
// directory, fsynced, then renamed into place, so a crash never leaves a
// half-written key. A file that exists but cannot be decoded is an error
// wrapping ErrCorruptIdentity; it is never overwritten.
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	if path == "" {
		return nil, errors.New("identity: empty path")
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, uerr := crypto.UnmarshalPrivateKey(data)
		if uerr != nil {
			return nil, fmt.Errorf("identity %s: %w (remove it to create a new identity, which changes the peer ID): %v",
				path, ErrCorruptIdentity, uerr)
		}
		return key, nil
	case errors.Is(err, fs.ErrNotExist):
		return createIdentity(path)
	default:
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
}

func createIdentity(path string) (crypto.PrivKey, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	data, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("identity: marshal key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	return key, nil
}

// writeFileAtomic writes data to a temporary file next to path, fsyncs it,
// renames it over path and fsyncs the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmpName, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		// Best effort: make the rename durable. Some filesystems refuse to
		// fsync a directory; the key file itself is already synced.
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// IdentityFromSeed derives an ed25519 libp2p key from a seed string (see
// Config.IdentitySeed): the same seed always gives the same peer ID.
func IdentityFromSeed(seed string) (crypto.PrivKey, error) {
	sum := sha256.Sum256([]byte("gossipchain/identity-seed/v1\x00" + seed))
	return crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(sum[:]))
}

func nodeIdentity(cfg Config) (crypto.PrivKey, error) {
	if cfg.IdentitySeed != "" {
		return IdentityFromSeed(cfg.IdentitySeed)
	}
	return LoadOrCreateIdentity(filepath.Join(cfg.DataDir, KeyFile))
}
