package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestLoadOrCreateIdentityPersists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "identity.key") // parent created on demand

	k1, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if k1.Type() != crypto.Ed25519 {
		t.Fatalf("key type %v, want Ed25519", k1.Type())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("identity file mode %o, want 600", mode)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key (temp file left behind?)", len(entries))
	}

	k2, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	id1, _ := peer.IDFromPrivateKey(k1)
	id2, _ := peer.IDFromPrivateKey(k2)
	if id1 != id2 {
		t.Fatalf("peer ID changed across loads: %s then %s", id1, id2)
	}
}

func TestLoadOrCreateIdentityCorrupt(t *testing.T) {
	for name, content := range map[string][]byte{
		"garbage": []byte("this is not a protobuf key"),
		"empty":   {},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.key")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateIdentity(path)
			if !errors.Is(err, ErrCorruptIdentity) {
				t.Fatalf("err = %v, want ErrCorruptIdentity", err)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, content) {
				t.Fatal("corrupt identity file was modified")
			}
		})
	}
}

func TestLoadOrCreateIdentityUnreadable(t *testing.T) {
	// A directory where the file should be: an error, not a new key.
	path := t.TempDir()
	if _, err := LoadOrCreateIdentity(path); err == nil {
		t.Fatal("want error for a directory path")
	}
	if _, err := LoadOrCreateIdentity(""); err == nil {
		t.Fatal("want error for an empty path")
	}
}

func TestIdentityFromSeedIsStable(t *testing.T) {
	a, err := IdentityFromSeed("node1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := IdentityFromSeed("node1")
	c, _ := IdentityFromSeed("node2")
	ida, _ := peer.IDFromPrivateKey(a)
	idb, _ := peer.IDFromPrivateKey(b)
	idc, _ := peer.IDFromPrivateKey(c)
	if ida != idb || ida == idc {
		t.Fatalf("seeded identities: %s %s %s", ida, idb, idc)
	}
	t.Logf("node1 seed → %s", ida)
}
