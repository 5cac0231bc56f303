package chain

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLoadOrCreateWallet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "wallet.pem")
	w, created, err := LoadOrCreateWallet(path)
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Fatalf("wallet file mode %o, want 600", perm)
		}
	}
	w2, created, err := LoadOrCreateWallet(path)
	if err != nil || created {
		t.Fatalf("reload: %v, created %v", err, created)
	}
	if w2.Address() != w.Address() {
		t.Fatal("reloaded wallet has another address")
	}
	w3, err := LoadWallet(path)
	if err != nil || w3.Address() != w.Address() {
		t.Fatalf("LoadWallet: %v", err)
	}
	// No temp file is left next to it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("%d files in the wallet directory, want 1", len(entries))
	}
	if _, err := LoadWallet(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Fatal("LoadWallet of a missing file succeeded")
	}
}

func TestCorruptWalletIsNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	good := NewWallet()
	goodPath := filepath.Join(dir, "good.pem")
	if err := good.Save(goodPath); err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := os.ReadFile(goodPath)
	corrupt := map[string][]byte{
		"garbage":      []byte("not a key\n"),
		"empty":        {},
		"truncated":    pemBytes[:len(pemBytes)/2],
		"other type":   bytes.Replace(pemBytes, []byte("GOSSIPCHAIN ED25519 SEED"), []byte("RSA PRIVATE KEY"), 2),
		"short seed":   []byte("-----BEGIN GOSSIPCHAIN ED25519 SEED-----\nAAAA\n-----END GOSSIPCHAIN ED25519 SEED-----\n"),
		"bad base64":   []byte("-----BEGIN GOSSIPCHAIN ED25519 SEED-----\n!!!!\n-----END GOSSIPCHAIN ED25519 SEED-----\n"),
		"json instead": []byte(`{"seed":"00"}`),
	}
	for name, content := range corrupt {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".pem")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			w, created, err := LoadOrCreateWallet(path)
			if err == nil || w != nil || created {
				t.Fatalf("corrupt wallet: %v, %v, created %v; want an error", w, err, created)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, content) {
				t.Fatal("corrupt wallet file was overwritten")
			}
			if _, err := LoadWallet(path); err == nil {
				t.Fatal("LoadWallet accepted a corrupt file")
			}
		})
	}
	// A directory in the way is an error too, not a new key elsewhere.
	if _, _, err := LoadOrCreateWallet(dir); err == nil {
		t.Fatal("a directory loaded as a wallet")
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	alice, bob := wallet(1), wallet(2)
	tx := alice.NewTx(testNet, bob.Address(), 5, 1, 7)
	if tx.Sender != alice.Address() {
		t.Fatal("NewTx did not set the sender")
	}
	if err := tx.VerifySignature(testNet); err != nil {
		t.Fatal(err)
	}
	if err := CheckTxSanity(tx, testNet); err != nil {
		t.Fatal(err)
	}
	// Every signed field is covered.
	mutations := map[string]func(*Tx){
		"sender":    func(tx *Tx) { tx.Sender = bob.Address() },
		"recipient": func(tx *Tx) { tx.Recipient[0] ^= 1 },
		"amount":    func(tx *Tx) { tx.Amount++ },
		"fee":       func(tx *Tx) { tx.Fee++ },
		"nonce":     func(tx *Tx) { tx.Nonce++ },
		"signature": func(tx *Tx) { tx.Signature[63] ^= 1 },
	}
	for name, mutate := range mutations {
		cp := *tx
		mutate(&cp)
		if err := cp.VerifySignature(testNet); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s changed: %v, want ErrBadSignature", name, err)
		}
	}
	// Sign overwrites the sender with the signer, and re-signing works.
	cp := *tx
	cp.Amount = 99
	bob.Sign(&cp, testNet)
	if cp.Sender != bob.Address() || cp.VerifySignature(testNet) != nil {
		t.Fatal("re-signed tx does not verify as bob's")
	}
	// Deterministic keys from seeds; distinct seeds, distinct keys.
	if wallet(1).Address() != alice.Address() || alice.Address() == bob.Address() {
		t.Fatal("WalletFromSeed not deterministic or not distinct")
	}
	// A coinbase has no signature to check.
	cb := &Tx{Recipient: alice.Address(), Amount: 50, Nonce: 2}
	if err := cb.VerifySignature(testNet); !errors.Is(err, ErrBadCoinbase) {
		t.Fatalf("coinbase VerifySignature: %v, want ErrBadCoinbase", err)
	}
}

func TestTxJSONRoundTrip(t *testing.T) {
	tx := wallet(1).NewTx(testNet, wallet(2).Address(), 5, 1, 7)
	data, err := json.Marshal(tx.JSON())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"id"`, `"sender"`, `"recipient"`, `"amount"`, `"fee"`, `"nonce"`, `"signature"`} {
		if !bytes.Contains(data, []byte(key)) {
			t.Fatalf("JSON %s lacks %s", data, key)
		}
	}
	var j TxJSON
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	back, err := ParseTxJSON(j)
	if err != nil {
		t.Fatal(err)
	}
	if *back != *tx || back.ID() != tx.ID() || back.VerifySignature(testNet) != nil {
		t.Fatal("JSON round trip changed the transaction")
	}
	// Without an id it parses too; with a wrong one it is refused.
	j.ID = ""
	if _, err := ParseTxJSON(j); err != nil {
		t.Fatalf("no id: %v", err)
	}
	j.ID = wallet(3).NewTx(testNet, wallet(2).Address(), 5, 1, 7).ID().String()
	if _, err := ParseTxJSON(j); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong id: %v, want ErrMalformed", err)
	}
	// Changing a field after signing keeps the JSON parseable (the id is
	// recomputed when absent) but not valid.
	j = tx.JSON()
	j.ID, j.Amount = "", j.Amount+1
	changed, err := ParseTxJSON(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTxSanity(changed, testNet); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("changed amount: %v, want ErrBadSignature", err)
	}
	bad := []struct {
		name   string
		mutate func(*TxJSON)
		want   error
	}{
		{"short signature", func(j *TxJSON) { j.Signature = j.Signature[:126] }, ErrBadSignature},
		{"non-hex signature", func(j *TxJSON) { j.Signature = "zz" + j.Signature[2:] }, ErrBadSignature},
		{"no signature", func(j *TxJSON) { j.Signature = "" }, ErrBadSignature},
		{"bad sender", func(j *TxJSON) { j.Sender = "alice" }, ErrBadAddress},
		{"bad recipient", func(j *TxJSON) { j.Recipient = j.Recipient[:62] }, ErrBadAddress},
	}
	for _, tc := range bad {
		j := tx.JSON()
		tc.mutate(&j)
		if _, err := ParseTxJSON(j); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestHashAndAddressLogAsHex(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h, a := Hash{0xab}, wallet(1).Address()
	log.Info("x", "hash", h, "address", a)
	if !strings.Contains(buf.String(), `"hash":"ab00`) || !strings.Contains(buf.String(), `"address":"`+a.String()+`"`) {
		t.Fatalf("json log shows %s", buf.String())
	}
	var back Hash
	if err := back.UnmarshalText([]byte(h.String())); err != nil || back != h {
		t.Fatalf("round trip: %v", err)
	}
}
