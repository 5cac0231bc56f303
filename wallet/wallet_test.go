package wallet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gossipchain/gossipchain/chain"
)

func TestCreateLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "alice.key")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Address() != w.Address() {
		t.Errorf("loaded %s, created %s", got.Address(), w.Address())
	}
	if a, err := Show(path); err != nil || a != w.Address() {
		t.Errorf("Show: %s, %v", a, err)
	}
	// No temporary left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the key", len(ents))
	}
}

func TestCreateRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over a file: %v, want ErrExists", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "precious" {
		t.Errorf("file changed to %q", data)
	}
}

// TestCreateConcurrent: of many Creates racing for one path, exactly one
// wins and the file holds its key.
func TestCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []chain.Address
	for range 8 {
		wg.Go(func() {
			w, err := Create(path)
			if err == nil {
				mu.Lock()
				winners = append(winners, w.Address())
				mu.Unlock()
			} else if !errors.Is(err, ErrExists) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d winners, want 1", len(winners))
	}
	if a, err := Show(path); err != nil || a != winners[0] {
		t.Errorf("file holds %s (%v), winner %s", a, err, winners[0])
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "none.key"))
	if !errors.Is(err, ErrNoWallet) || !strings.Contains(err.Error(), "gossipchain wallet new") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "not a gossipchain wallet key") {
		t.Errorf("bad file: %v", err)
	}
}

func TestNodeWalletPath(t *testing.T) {
	if p := NodeWalletPath(""); p != filepath.Join("gossipchain-data", "wallet.key") {
		t.Errorf("default: %s", p)
	}
	if p := NodeWalletPath("/x"); p != "/x/wallet.key" {
		t.Errorf("%s", p)
	}
}
