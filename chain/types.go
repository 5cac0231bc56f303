package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Hash is a SHA-256 digest: block hashes, transaction ids, Merkle roots.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes h as hex, so logs and JSON show it as a string.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads a hex hash.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	*h = v
	return err
}

// IsZero reports whether h is all zeros (the genesis's previous hash).
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash reads a 64-character hex hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("hash %q: %w", s, ErrMalformed)
	}
	copy(h[:], b)
	return h, nil
}

// Address is an account: the ed25519 public key that signs its transactions.
// The zero address is the coinbase sender, written "0" as in the tutorial.
type Address [32]byte

// CoinbaseSender is the sender of every coinbase transaction.
var CoinbaseSender = Address{}

func (a Address) String() string {
	if a == CoinbaseSender {
		return "0"
	}
	return hex.EncodeToString(a[:])
}

// MarshalText writes a as hex ("0" for the coinbase sender).
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads an address written by MarshalText.
func (a *Address) UnmarshalText(b []byte) error {
	v, err := ParseAddress(string(b))
	*a = v
	return err
}

// ParseAddress reads a 64-character hex address, or "0" for the coinbase sender.
func ParseAddress(s string) (Address, error) {
	var a Address
	s = strings.TrimSpace(s)
	if s == "0" {
		return a, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(a) {
		return a, fmt.Errorf("address %q: want 64 hex characters: %w", s, ErrBadAddress)
	}
	copy(a[:], b)
	return a, nil
}

// Tx moves Amount from Sender to Recipient, paying Fee to the miner. Nonce is
// the sender's count of earlier transactions, so each can be used once.
// A coinbase has the zero Sender, no signature, and Nonce = block index.
type Tx struct {
	Sender    Address
	Recipient Address
	Amount    uint64
	Fee       uint64
	Nonce     uint64
	Signature [64]byte
}

// IsCoinbase reports whether tx creates coins rather than moving them.
func (tx *Tx) IsCoinbase() bool { return tx.Sender == CoinbaseSender }

// ID is the SHA-256 of the transaction's canonical encoding, signature included.
func (tx *Tx) ID() Hash {
	var buf [TxSize]byte
	tx.put(buf[:])
	return sha256.Sum256(buf[:])
}

// Header is what the proof of work commits to. The nonce is encoded last, so
// a miner hashes the constant prefix once and re-hashes only the tail.
type Header struct {
	Index      uint64 // 1 is the genesis, as in the tutorial
	Timestamp  int64  // unix milliseconds
	PrevHash   Hash
	MerkleRoot Hash // of the transaction ids
	Bits       uint32
	Nonce      uint64
}

// Hash is the SHA-256 of the header's canonical encoding.
func (h *Header) Hash() Hash {
	var buf [HeaderSize]byte
	h.put(buf[:])
	return sha256.Sum256(buf[:])
}

// Block is a header and its transactions; the first is the coinbase.
type Block struct {
	Header
	Txs []*Tx
}

// Hash is the block's header hash.
func (b *Block) Hash() Hash { return b.Header.Hash() }

// MerkleRoot computes the Merkle root of transaction ids: pairs are hashed
// together level by level, an odd last node paired with itself. Blocks with a
// repeated transaction are rejected, which closes Bitcoin's duplicate-leaf
// mutation (CVE-2012-2459).
func MerkleRoot(txs []*Tx) Hash {
	ids := make([]Hash, len(txs))
	for i, tx := range txs {
		ids[i] = tx.ID()
	}
	return merkleRootOfIDs(ids)
}

// merkleRootOfIDs is MerkleRoot over ids already computed. It reuses ids'
// storage for the levels.
func merkleRootOfIDs(ids []Hash) Hash {
	if len(ids) == 0 {
		return Hash{}
	}
	level := ids
	var pair [64]byte
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		// In place: entry i is written after 2i and 2i+1 are read, and
		// no later pair reads it.
		n := len(level) / 2
		for i := range n {
			copy(pair[:32], level[2*i][:])
			copy(pair[32:], level[2*i+1][:])
			level[i] = sha256.Sum256(pair[:])
		}
		level = level[:n]
	}
	return level[0]
}
