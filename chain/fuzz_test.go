package chain

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// Fuzz targets for every decoder. Each must never panic, and whatever it
// accepts must be canonical: encoding the result gives back the input bytes
// (or, for text, a string that parses to the same value). The seeds run as
// ordinary tests under `go test`; `go test -fuzz=FuzzX` explores further.

// fuzzSeedBlocks are valid encodings to start from: the genesis, a block
// with a coinbase, and one with transfers.
func fuzzSeedBlocks() []*Block {
	p := TestParams()
	alice, bob := wallet(1), wallet(2)
	g := Genesis(p)
	cb := &Tx{Recipient: alice.Address(), Amount: 50, Nonce: 2}
	b2 := &Block{Header: Header{Index: 2, Timestamp: g.Timestamp + 1000, PrevHash: g.Hash(), Bits: p.InitialBits, Nonce: 7}, Txs: []*Tx{cb}}
	b2.MerkleRoot = MerkleRoot(b2.Txs)
	b3 := &Block{Header: Header{Index: 3, Timestamp: g.Timestamp + 2000, PrevHash: b2.Hash(), Bits: p.InitialBits, Nonce: math.MaxUint64}, Txs: []*Tx{
		{Recipient: bob.Address(), Amount: 52, Nonce: 3},
		alice.NewTx(testNet, bob.Address(), 5, 1, 0),
		alice.NewTx(testNet, bob.Address(), 6, 1, 1),
	}}
	b3.MerkleRoot = MerkleRoot(b3.Txs)
	return []*Block{g, b2, b3}
}

func FuzzDecodeBlock(f *testing.F) {
	for _, b := range fuzzSeedBlocks() {
		enc := b.Bytes()
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
		f.Add(append(append([]byte(nil), enc...), 0))
		lie := append([]byte(nil), enc...)
		lie[HeaderSize]++ // count lies
		f.Add(lie)
	}
	hdr := fuzzSeedBlocks()[0].Header.Bytes()
	f.Add([]byte{})
	f.Add(hdr)
	f.Add(append(append([]byte(nil), hdr...), 0x80, 0x00))                   // count not minimal
	f.Add(append(append([]byte(nil), hdr...), 0xff, 0xff, 0xff, 0xff, 0x7f)) // 2^35-1 txs claimed
	f.Add(append(append([]byte(nil), hdr...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
	const maxBytes = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBlock(data, maxBytes)
		if err != nil {
			if b != nil {
				t.Fatal("block returned with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBlockTooBig) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			if errors.Is(err, ErrBlockTooBig) != (len(data) > maxBytes) {
				t.Fatalf("ErrBlockTooBig for %d bytes, limit %d", len(data), maxBytes)
			}
			return
		}
		if enc := b.Bytes(); !bytes.Equal(enc, data) {
			t.Fatalf("not canonical: %x re-encodes as %x", data, enc)
		}
		if b.Size() != len(data) {
			t.Fatalf("Size %d for %d bytes", b.Size(), len(data))
		}
		// The rest of the pipeline must not panic on it either.
		_ = CheckBlockSanity(b, TestParams())
		_ = b.JSON()
	})
}

func FuzzDecodeTx(f *testing.F) {
	for _, b := range fuzzSeedBlocks()[1:] {
		for _, tx := range b.Txs {
			f.Add(tx.Bytes())
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, TxSize-1))
	f.Add(make([]byte, TxSize+1))
	f.Add(bytes.Repeat([]byte{0xff}, TxSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := DecodeTx(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || len(data) == TxSize {
				t.Fatalf("error %v for %d bytes", err, len(data))
			}
			return
		}
		if enc := tx.Bytes(); !bytes.Equal(enc, data) {
			t.Fatalf("not canonical: %x re-encodes as %x", data, enc)
		}
		// Sanity checks and JSON must not panic; JSON of a transfer parses back.
		if CheckTxSanity(tx, testNet) == nil && tx.IsCoinbase() {
			t.Fatal("a coinbase passed the transfer sanity check")
		}
		if !tx.IsCoinbase() {
			back, err := ParseTxJSON(tx.JSON())
			if err != nil || *back != *tx {
				t.Fatalf("JSON round trip: %v", err)
			}
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, b := range fuzzSeedBlocks() {
		f.Add(b.Header.Bytes())
	}
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize-1))
	f.Add(make([]byte, HeaderSize+1))
	f.Add(bytes.Repeat([]byte{0xff}, HeaderSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHeader(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || len(data) == HeaderSize {
				t.Fatalf("error %v for %d bytes", err, len(data))
			}
			return
		}
		if enc := h.Bytes(); !bytes.Equal(enc, data) {
			t.Fatalf("not canonical: %x re-encodes as %x", data, enc)
		}
		_ = checkProofOfWork(h.Hash(), h.Bits, TestParams())
		_ = h.Time()
	})
}

func FuzzParseAddress(f *testing.F) {
	f.Add("0")
	f.Add(" 0 ")
	f.Add("")
	f.Add(wallet(1).Address().String())
	f.Add(strings.ToUpper(wallet(1).Address().String()))
	f.Add(strings.Repeat("0", 64))
	f.Add(strings.Repeat("f", 63))
	f.Add("0x" + strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) {
				t.Fatalf("error without the sentinel: %v", err)
			}
			return
		}
		str := a.String()
		back, err := ParseAddress(str)
		if err != nil || back != a {
			t.Fatalf("%q parsed to %s, which parses back to %s, %v", s, str, back, err)
		}
		if a != CoinbaseSender && str != strings.ToLower(strings.TrimSpace(s)) {
			t.Fatalf("%q printed as %q", s, str)
		}
	})
}

func FuzzParseHash(f *testing.F) {
	f.Add(Genesis(TestParams()).Hash().String())
	f.Add(strings.ToUpper(Genesis(TestParams()).Hash().String()))
	f.Add("")
	f.Add("0")
	f.Add(strings.Repeat("0", 63))
	f.Add(strings.Repeat("0", 66))
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without the sentinel: %v", err)
			}
			return
		}
		if h.String() != strings.ToLower(s) {
			t.Fatalf("%q printed as %q", s, h.String())
		}
		if back, err := ParseHash(h.String()); err != nil || back != h {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzParseTxJSON(f *testing.F) {
	add := func(j TxJSON) { f.Add(j.ID, j.Sender, j.Recipient, j.Amount, j.Fee, j.Nonce, j.Signature) }
	tx := wallet(1).NewTx(testNet, wallet(2).Address(), 5, 1, 0)
	j := tx.JSON()
	add(j)
	j.ID = ""
	add(j)
	j.ID = strings.ToUpper(tx.ID().String())
	add(j)
	j = tx.JSON()
	j.Amount++
	add(j) // id no longer matches
	j = tx.JSON()
	j.Signature = j.Signature[:126]
	add(j)
	j = tx.JSON()
	j.Sender = "0"
	add(j)
	cb := fuzzSeedBlocks()[2].Txs[0].JSON()
	add(cb)
	f.Fuzz(func(t *testing.T, id, sender, recipient string, amount, fee, nonce uint64, sig string) {
		in := TxJSON{ID: id, Sender: sender, Recipient: recipient, Amount: amount, Fee: fee, Nonce: nonce, Signature: sig}
		tx, err := ParseTxJSON(in)
		if err != nil {
			if !errors.Is(err, ErrBadAddress) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if id != "" && !strings.EqualFold(tx.ID().String(), id) {
			t.Fatalf("accepted id %q for tx %s", id, tx.ID())
		}
		_ = CheckTxSanity(tx, testNet)
		// What the API shows for a transfer parses back to the same tx,
		// also through encoding/json.
		if tx.IsCoinbase() {
			return
		}
		data, err := json.Marshal(tx.JSON())
		if err != nil {
			t.Fatal(err)
		}
		var j TxJSON
		if err := json.Unmarshal(data, &j); err != nil {
			t.Fatal(err)
		}
		back, err := ParseTxJSON(j)
		if err != nil || *back != *tx {
			t.Fatalf("JSON round trip: %v", err)
		}
	})
}

func FuzzDecodeUndo(f *testing.F) {
	f.Add(encodeUndo(nil))
	f.Add(encodeUndo([]undoEntry{{wallet(1).Address(), Account{50, 1}}}))
	f.Add(encodeUndo([]undoEntry{{wallet(1).Address(), Account{}}, {CoinbaseSender, Account{math.MaxUint64, math.MaxUint64}}}))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(binary.BigEndian.AppendUint32(nil, 1<<31))
	f.Fuzz(func(t *testing.T, data []byte) {
		undo, err := decodeUndo(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without the sentinel: %v", err)
			}
			return
		}
		if enc := encodeUndo(undo); !bytes.Equal(enc, data) {
			t.Fatalf("not canonical: %x re-encodes as %x", data, enc)
		}
		o := newOverlay(func(Address) Account { return Account{} })
		disconnectBlock(o, undo)
	})
}

func FuzzDecodeAccount(f *testing.F) {
	f.Add(encodeAccount(Account{}))
	f.Add(encodeAccount(Account{50, 3}))
	f.Add(encodeAccount(Account{math.MaxUint64, math.MaxUint64}))
	f.Add([]byte{})
	f.Add(make([]byte, 15))
	f.Add(make([]byte, 17))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := decodeAccount(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || len(data) == 16 {
				t.Fatalf("error %v for %d bytes", err, len(data))
			}
			return
		}
		if enc := encodeAccount(a); !bytes.Equal(enc, data) {
			t.Fatalf("not canonical: %x re-encodes as %x", data, enc)
		}
	})
}
