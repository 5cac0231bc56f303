package chain

import (
	"encoding/binary"
	"fmt"
)

// Canonical binary encoding. Hashes and signatures are computed over these
// bytes, never over JSON. Every integer is big-endian and fixed width, so an
// encoding has exactly one reading.
const (
	HeaderSize = 8 + 8 + 32 + 32 + 4 + 8  // 92
	TxSize     = 32 + 32 + 8 + 8 + 8 + 64 // 152
	// maxTxCountPrefix is the widest uvarint a block's tx count may use.
	maxTxCountPrefix = 5
)

func (h *Header) put(b []byte) {
	binary.BigEndian.PutUint64(b[0:], h.Index)
	binary.BigEndian.PutUint64(b[8:], uint64(h.Timestamp))
	copy(b[16:48], h.PrevHash[:])
	copy(b[48:80], h.MerkleRoot[:])
	binary.BigEndian.PutUint32(b[80:], h.Bits)
	binary.BigEndian.PutUint64(b[84:], h.Nonce)
}

// Bytes is the header's canonical encoding; its last 8 bytes are the nonce.
func (h *Header) Bytes() []byte {
	b := make([]byte, HeaderSize)
	h.put(b)
	return b
}

// DecodeHeader reads exactly HeaderSize bytes.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != HeaderSize {
		return h, fmt.Errorf("header of %d bytes, want %d: %w", len(b), HeaderSize, ErrMalformed)
	}
	h.Index = binary.BigEndian.Uint64(b[0:])
	h.Timestamp = int64(binary.BigEndian.Uint64(b[8:]))
	copy(h.PrevHash[:], b[16:48])
	copy(h.MerkleRoot[:], b[48:80])
	h.Bits = binary.BigEndian.Uint32(b[80:])
	h.Nonce = binary.BigEndian.Uint64(b[84:])
	return h, nil
}

func (tx *Tx) put(b []byte) {
	copy(b[0:32], tx.Sender[:])
	copy(b[32:64], tx.Recipient[:])
	binary.BigEndian.PutUint64(b[64:], tx.Amount)
	binary.BigEndian.PutUint64(b[72:], tx.Fee)
	binary.BigEndian.PutUint64(b[80:], tx.Nonce)
	copy(b[88:152], tx.Signature[:])
}

// Bytes is the transaction's canonical encoding.
func (tx *Tx) Bytes() []byte {
	b := make([]byte, TxSize)
	tx.put(b)
	return b
}

// DecodeTx reads exactly TxSize bytes.
func DecodeTx(b []byte) (*Tx, error) {
	if len(b) != TxSize {
		return nil, fmt.Errorf("transaction of %d bytes, want %d: %w", len(b), TxSize, ErrMalformed)
	}
	tx := new(Tx)
	decodeTxInto(tx, b)
	return tx, nil
}

// decodeTxInto reads TxSize bytes into tx.
func decodeTxInto(tx *Tx, b []byte) {
	copy(tx.Sender[:], b[0:32])
	copy(tx.Recipient[:], b[32:64])
	tx.Amount = binary.BigEndian.Uint64(b[64:])
	tx.Fee = binary.BigEndian.Uint64(b[72:])
	tx.Nonce = binary.BigEndian.Uint64(b[80:])
	copy(tx.Signature[:], b[88:152])
}

// Size is the length of the block's encoding.
func (b *Block) Size() int {
	return HeaderSize + uvarintLen(uint64(len(b.Txs))) + TxSize*len(b.Txs)
}

// Bytes is the block's canonical encoding: header, uvarint tx count, txs.
func (b *Block) Bytes() []byte {
	return b.appendTo(make([]byte, 0, b.Size()))
}

// appendTo appends the block's encoding to out (which should have room).
func (b *Block) appendTo(out []byte) []byte {
	n := len(out)
	out = append(out, make([]byte, HeaderSize)...)
	b.Header.put(out[n:])
	out = binary.AppendUvarint(out, uint64(len(b.Txs)))
	for _, tx := range b.Txs {
		n := len(out)
		out = append(out, make([]byte, TxSize)...)
		tx.put(out[n:])
	}
	return out
}

// DecodeBlock reads a block encoding. maxBytes bounds the input before any
// allocation, so a peer cannot make us allocate for a huge claimed count.
func DecodeBlock(b []byte, maxBytes int) (*Block, error) {
	if maxBytes > 0 && len(b) > maxBytes {
		return nil, fmt.Errorf("block of %d bytes over limit %d: %w", len(b), maxBytes, ErrBlockTooBig)
	}
	if len(b) < HeaderSize+1 {
		return nil, fmt.Errorf("block of %d bytes: %w", len(b), ErrMalformed)
	}
	h, _ := DecodeHeader(b[:HeaderSize])
	rest := b[HeaderSize:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || k > maxTxCountPrefix || uvarintLen(n) != k {
		return nil, fmt.Errorf("block tx count: %w", ErrMalformed)
	}
	rest = rest[k:]
	if uint64(len(rest)) != n*TxSize || n > uint64(len(rest)) {
		return nil, fmt.Errorf("block claims %d txs in %d bytes: %w", n, len(rest), ErrMalformed)
	}
	// The transactions in one slab, not one allocation each (a sync
	// decodes a hundred thousand): they live and die with their block.
	blk := &Block{Header: h, Txs: make([]*Tx, n)}
	slab := make([]Tx, n)
	for i := range blk.Txs {
		decodeTxInto(&slab[i], rest[i*TxSize:(i+1)*TxSize])
		blk.Txs[i] = &slab[i]
	}
	return blk, nil
}

func uvarintLen(n uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], n)
}
