package chain

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Wallet holds one ed25519 key; its public key is the account address.
type Wallet struct {
	key ed25519.PrivateKey
}

// NewWallet makes a wallet with a fresh random key (not saved).
func NewWallet() *Wallet {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return &Wallet{key: key}
}

// WalletFromSeed makes a deterministic wallet (tests, benchmarks).
func WalletFromSeed(seed [32]byte) *Wallet {
	return &Wallet{key: ed25519.NewKeyFromSeed(seed[:])}
}

const walletPEMType = "GOSSIPCHAIN ED25519 SEED"

// LoadOrCreateWallet reads the key at path, or creates one there with 0600
// permissions. A file that exists but is not a key is an error, never
// silently replaced: it may hold someone's coins.
func LoadOrCreateWallet(path string) (w *Wallet, created bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		w, err := parseWallet(data)
		if err != nil {
			return nil, false, fmt.Errorf("wallet %s: %w", path, err)
		}
		return w, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("wallet: %w", err)
	}
	w = NewWallet()
	if err := w.Save(path); err != nil {
		return nil, false, err
	}
	return w, true, nil
}

// LoadWallet reads an existing key file.
func LoadWallet(path string) (*Wallet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	w, err := parseWallet(data)
	if err != nil {
		return nil, fmt.Errorf("wallet %s: %w", path, err)
	}
	return w, nil
}

func parseWallet(data []byte) (*Wallet, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != walletPEMType || len(blk.Bytes) != ed25519.SeedSize {
		return nil, errors.New("not a gossipchain wallet key")
	}
	return &Wallet{key: ed25519.NewKeyFromSeed(blk.Bytes)}, nil
}

// Save writes the key with 0600 permissions, atomically (temp file + rename).
func (w *Wallet) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: walletPEMType, Bytes: w.key.Seed()})
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wallet-*")
	if err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("wallet: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("wallet: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("wallet: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("wallet: %w", err)
	}
	// The rename is durable only once the directory is synced: without
	// this a power cut could take the key, and the coins it holds
	// (e2e.TestDataFilesSurvivePowerCut).
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("wallet: sync %s: %w", filepath.Dir(path), err)
	}
	return nil
}

// Address is the wallet's public key.
func (w *Wallet) Address() Address {
	var a Address
	copy(a[:], w.key.Public().(ed25519.PublicKey))
	return a
}

// Sign sets tx.Sender to this wallet and signs tx for network (the genesis
// hash, NetworkID): the signature is invalid on every other network.
func (w *Wallet) Sign(tx *Tx, network Hash) {
	tx.Sender = w.Address()
	copy(tx.Signature[:], ed25519.Sign(w.key, tx.signingBytes(network)))
}

// NewTx builds and signs a transfer on network.
func (w *Wallet) NewTx(network Hash, to Address, amount, fee, nonce uint64) *Tx {
	tx := &Tx{Recipient: to, Amount: amount, Fee: fee, Nonce: nonce}
	w.Sign(tx, network)
	return tx
}
