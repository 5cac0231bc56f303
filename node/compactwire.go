package node

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/gossipchain/gossipchain/chain"
)

// Compact block relay, on the wire (BIP152's shape; see compact.go for the
// protocol and docs/DESIGN.md for why).
//
// A compact block, the data of a message on the cblocks topic:
//
//	header            92 bytes
//	nonce             u64, big-endian: the sender's salt for the short-id key
//	count             uvarint: transactions in the block, coinbase included
//	prefilled         uvarint: transactions sent whole, at least the coinbase
//	  each: uvarint index gap (index − previous index − 1), 152-byte tx
//	short ids         6 bytes each, for the other count − prefilled txs
//
// The first prefilled transaction is at index 0 (the coinbase, which no
// mempool holds). The short id of a transaction is the low 48 bits of
// SipHash-2-4 of its id, keyed by the first 16 bytes of SHA-256(header ‖
// nonce), the two halves read little-endian as BIP152 does.
//
// The block-transactions protocol (/gossipchain/blocktxn/1.0.0), one
// request per stream, every message a frame (wire.go's writeFrame) read
// only after its length is checked:
//
//	request  type 1, block hash, uvarint n, n uvarint index gaps → txs frame:
//	         uvarint n and exactly n txs, in the order asked; an empty
//	         frame when the block is unknown
//	request  type 2, block hash → the block's encoding, or an empty frame
const (
	BlockTxnProtocol = "/gossipchain/blocktxn/1.0.0"

	shortIDSize = 6
	shortIDMask = 1<<(8*shortIDSize) - 1

	txnReqTxs   byte = 1
	txnReqBlock byte = 2
)

// compactBlock is a decoded compact block.
type compactBlock struct {
	Header    chain.Header
	Nonce     uint64
	Count     int         // transactions in the block
	Prefilled []prefilled // index order, the first at 0
	ShortIDs  []uint64    // for the other indexes, in order
	key       [2]uint64   // SipHash key, from header and nonce
	hash      chain.Hash  // header hash
}

type prefilled struct {
	Index int
	Tx    *chain.Tx
}

// shortIDKey derives the per-block SipHash key: it depends on the header
// (which costs proof of work) and the sender's random nonce.
func shortIDKey(hd *chain.Header, nonce uint64) [2]uint64 {
	buf := make([]byte, 0, chain.HeaderSize+8)
	buf = append(buf, hd.Bytes()...)
	buf = binary.BigEndian.AppendUint64(buf, nonce)
	sum := sha256.Sum256(buf)
	return [2]uint64{binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16])}
}

func shortID(key [2]uint64, id chain.Hash) uint64 {
	return sipHash24(key[0], key[1], id[:]) & shortIDMask
}

// newCompactBlock makes b's compact form: the coinbase whole, every other
// transaction as a short id.
func newCompactBlock(b *chain.Block, nonce uint64) *compactBlock {
	return newCompactBlockIDs(b, nonce, nil)
}

// newCompactBlockIDs is newCompactBlock with the transactions' ids known
// (ids[i] is b.Txs[i].ID(); nil: hashed here).
func newCompactBlockIDs(b *chain.Block, nonce uint64, ids []chain.Hash) *compactBlock {
	cb := &compactBlock{Header: b.Header, Nonce: nonce, Count: len(b.Txs), hash: b.Hash()}
	cb.key = shortIDKey(&b.Header, nonce)
	if len(b.Txs) == 0 {
		return cb
	}
	cb.Prefilled = []prefilled{{0, b.Txs[0]}}
	cb.ShortIDs = make([]uint64, 0, len(b.Txs)-1)
	for i, tx := range b.Txs[1:] {
		var id chain.Hash
		if ids != nil {
			id = ids[i+1]
		} else {
			id = tx.ID()
		}
		cb.ShortIDs = append(cb.ShortIDs, shortID(cb.key, id))
	}
	return cb
}

func (cb *compactBlock) Bytes() []byte {
	out := make([]byte, 0, chain.HeaderSize+8+20+len(cb.Prefilled)*(chain.TxSize+3)+len(cb.ShortIDs)*shortIDSize)
	out = append(out, cb.Header.Bytes()...)
	out = binary.BigEndian.AppendUint64(out, cb.Nonce)
	out = binary.AppendUvarint(out, uint64(cb.Count))
	out = binary.AppendUvarint(out, uint64(len(cb.Prefilled)))
	last := -1
	for _, p := range cb.Prefilled {
		out = binary.AppendUvarint(out, uint64(p.Index-last-1))
		out = append(out, p.Tx.Bytes()...)
		last = p.Index
	}
	for _, s := range cb.ShortIDs {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], s)
		out = append(out, b[:shortIDSize]...)
	}
	return out
}

// decodeCompactBlock reads a compact block of at most maxTxs transactions.
// The length must be exact, every count is checked against what remains
// before anything is allocated, and each value has one encoding.
func decodeCompactBlock(b []byte, maxTxs int) (*compactBlock, error) {
	bad := func(what string) (*compactBlock, error) {
		return nil, fmt.Errorf("compact block: %s: %w", what, chain.ErrMalformed)
	}
	if len(b) < chain.HeaderSize+8+2 {
		return bad("short")
	}
	hd, _ := chain.DecodeHeader(b[:chain.HeaderSize])
	cb := &compactBlock{Header: hd, Nonce: binary.BigEndian.Uint64(b[chain.HeaderSize:])}
	rest := b[chain.HeaderSize+8:]
	count, k := binary.Uvarint(rest)
	if k <= 0 || k != uvarintSize(count) || count == 0 || count > uint64(maxTxs) {
		return bad("count")
	}
	rest = rest[k:]
	np, k := binary.Uvarint(rest)
	if k <= 0 || k != uvarintSize(np) || np == 0 || np > count || np*chain.TxSize > uint64(len(rest)) {
		return bad("prefilled count")
	}
	rest = rest[k:]
	cb.Count = int(count)
	cb.Prefilled = make([]prefilled, 0, np)
	last := -1
	for range np {
		gap, k := binary.Uvarint(rest)
		if k <= 0 || k != uvarintSize(gap) || gap >= count || uint64(last+1)+gap >= count {
			return bad("prefilled index")
		}
		idx := last + 1 + int(gap)
		if len(cb.Prefilled) == 0 && idx != 0 {
			return bad("coinbase not prefilled")
		}
		rest = rest[k:]
		if len(rest) < chain.TxSize {
			return bad("prefilled tx")
		}
		tx, err := chain.DecodeTx(rest[:chain.TxSize])
		if err != nil {
			return nil, err
		}
		cb.Prefilled = append(cb.Prefilled, prefilled{idx, tx})
		rest = rest[chain.TxSize:]
		last = idx
	}
	nshort := count - np
	if uint64(len(rest)) != nshort*shortIDSize {
		return bad("short ids length")
	}
	cb.ShortIDs = make([]uint64, nshort)
	for i := range cb.ShortIDs {
		var w [8]byte
		copy(w[:], rest[i*shortIDSize:(i+1)*shortIDSize])
		cb.ShortIDs[i] = binary.LittleEndian.Uint64(w[:])
	}
	cb.hash = hd.Hash()
	cb.key = shortIDKey(&hd, cb.Nonce)
	return cb, nil
}

func uvarintSize(v uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], v)
}

// maxTxnRequestBytes bounds a blocktxn request: type, hash, count and up
// to 4,096 gaps of at most 3 bytes.
const maxTxnRequestBytes = 1 + 32 + 3 + 4096*3

func encodeTxnRequest(h chain.Hash, indexes []int) []byte {
	out := []byte{txnReqTxs}
	out = append(out, h[:]...)
	out = binary.AppendUvarint(out, uint64(len(indexes)))
	last := -1
	for _, i := range indexes {
		out = binary.AppendUvarint(out, uint64(i-last-1))
		last = i
	}
	return out
}

func encodeBlockRequest(h chain.Hash) []byte {
	return append([]byte{txnReqBlock}, h[:]...)
}

// decodeTxnRequest reads a request (type byte included). Indexes rise
// strictly and are each below maxTxs.
func decodeTxnRequest(b []byte, maxTxs int) (typ byte, h chain.Hash, indexes []int, err error) {
	bad := func(what string) (byte, chain.Hash, []int, error) {
		return 0, chain.Hash{}, nil, fmt.Errorf("blocktxn request: %s: %w", what, errBadMessage)
	}
	if len(b) < 33 {
		return bad("short")
	}
	typ = b[0]
	copy(h[:], b[1:33])
	rest := b[33:]
	switch typ {
	case txnReqBlock:
		if len(rest) != 0 {
			return bad("trailing bytes")
		}
		return typ, h, nil, nil
	case txnReqTxs:
	default:
		return bad("type")
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 || k != uvarintSize(n) || n == 0 || n > uint64(maxTxs) || n > uint64(len(rest)-k) {
		return bad("count")
	}
	rest = rest[k:]
	indexes = make([]int, 0, n)
	last := -1
	for range n {
		gap, k := binary.Uvarint(rest)
		if k <= 0 || k != uvarintSize(gap) || gap >= uint64(maxTxs) || uint64(last+1)+gap >= uint64(maxTxs) {
			return bad("index")
		}
		last += 1 + int(gap)
		indexes = append(indexes, last)
		rest = rest[k:]
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	return typ, h, indexes, nil
}

func encodeTxnReply(txs []*chain.Tx) []byte {
	out := binary.AppendUvarint(nil, uint64(len(txs)))
	for _, tx := range txs {
		out = append(out, tx.Bytes()...)
	}
	return out
}

// txnReplyLimit is the frame limit of a reply to a request for n txs.
func txnReplyLimit(n int) int { return binary.MaxVarintLen64 + n*chain.TxSize }

// decodeTxnReply reads a reply that must hold exactly want transactions.
func decodeTxnReply(b []byte, want int) ([]*chain.Tx, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || k != uvarintSize(n) || n != uint64(want) || uint64(len(b)-k) != n*chain.TxSize {
		return nil, fmt.Errorf("blocktxn reply of %d bytes for %d txs: %w", len(b), want, errBadMessage)
	}
	b = b[k:]
	txs := make([]*chain.Tx, n)
	for i := range txs {
		tx, err := chain.DecodeTx(b[i*chain.TxSize : (i+1)*chain.TxSize])
		if err != nil {
			return nil, err
		}
		txs[i] = tx
	}
	return txs, nil
}
