package chain

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// CheckTxSanity checks what a transfer must satisfy on its own, whatever the
// state: not a coinbase, a positive amount that does not overflow with its
// fee, and then the costly part, verifyTx.
func CheckTxSanity(tx *Tx, network Hash) error {
	if tx.IsCoinbase() {
		return fmt.Errorf("tx %s: transfer with the coinbase sender: %w", tx.ID(), ErrBadCoinbase)
	}
	if err := checkTxFields(tx); err != nil {
		return err
	}
	return verifyTx(tx, network)
}

// sigChecks counts verifyTx calls: the test hook that shows which paths
// reach the costly checks.
var sigChecks atomic.Int64

// verifyTx is the per-transaction crypto of a transfer, the costly checks
// that run last and in parallel: both addresses must be keys that can own
// coins (CheckAddress), and the signature must verify on network.
func verifyTx(tx *Tx, network Hash) error {
	sigChecks.Add(1)
	if err := CheckAddress(tx.Sender); err != nil {
		return fmt.Errorf("tx %s: sender: %w", tx.ID(), err)
	}
	if err := CheckAddress(tx.Recipient); err != nil {
		return fmt.Errorf("tx %s: recipient: %w", tx.ID(), err)
	}
	return tx.VerifySignature(network)
}

func checkTxFields(tx *Tx) error {
	if tx.Amount == 0 {
		return fmt.Errorf("tx %s: amount 0: %w", tx.ID(), ErrBadAmount)
	}
	if tx.Amount > math.MaxUint64-tx.Fee {
		return fmt.Errorf("tx %s: amount plus fee overflows: %w", tx.ID(), ErrBadAmount)
	}
	if tx.Recipient == CoinbaseSender {
		return fmt.Errorf("tx %s: recipient is the coinbase address: %w", tx.ID(), ErrBadAddress)
	}
	return nil
}

// CheckBlockSanity checks every rule that needs no other block: limits, proof
// of work against the block's own bits, Merkle root, coinbase shape,
// duplicate transactions, amounts and signatures, cheapest first. The chain
// itself does not call it as one piece: it checks the block's context
// (parent, difficulty, time, work) between the cheap and the costly parts.
func CheckBlockSanity(b *Block, p Params) error {
	h := b.Hash()
	if err := checkBlockCheap(b, h, p); err != nil {
		return err
	}
	if err := checkBlockBody(b, h); err != nil {
		return err
	}
	return verifyBlockTxs(b, h, NetworkID(p), nil)
}

// checkBlockCheap is what a block is checked for before anything else:
// the limits, and the proof of work against its own bits, which must be no
// easier than the network's limit. A few microseconds whatever the block
// holds: a block that fails here costs its sender as much as it costs us.
func checkBlockCheap(b *Block, h Hash, p Params) error {
	if len(b.Txs) > p.MaxBlockTxs {
		return fmt.Errorf("block %s: %d txs, limit %d: %w", h, len(b.Txs), p.MaxBlockTxs, ErrTooManyTxs)
	}
	if size := b.Size(); size > p.MaxBlockBytes {
		return fmt.Errorf("block %s: %d bytes, limit %d: %w", h, size, p.MaxBlockBytes, ErrBlockTooBig)
	}
	if err := checkProofOfWork(h, b.Bits, p); err != nil {
		return fmt.Errorf("block %s: %w", h, err)
	}
	return nil
}

// checkBlockBody checks the transactions' shape, after the block's context
// passed: Merkle root, coinbase, duplicates, amounts. It hashes each
// transaction once; no signature is checked.
func checkBlockBody(b *Block, h Hash) error {
	if len(b.Txs) == 0 {
		return fmt.Errorf("block %s: no coinbase: %w", h, ErrBadCoinbase)
	}
	// Each id is hashed once, for the duplicate check and the Merkle
	// root. A small block's ids stay on the stack: a sync checks thousands
	// of blocks of a few transactions, and these were allocations each.
	var idBuf [smallBlockTxs]Hash
	ids := idBuf[:0]
	if len(b.Txs) > smallBlockTxs {
		ids = make([]Hash, 0, len(b.Txs))
	}
	for _, tx := range b.Txs {
		ids = append(ids, tx.ID())
	}
	return checkBlockBodyIDs(b, h, ids)
}

// checkBlockBodyIDs is checkBlockBody with the ids hashed already
// (ids[i] = b.Txs[i].ID()); it does not keep ids.
func checkBlockBodyIDs(b *Block, h Hash, ids []Hash) error {
	if len(b.Txs) == 0 {
		return fmt.Errorf("block %s: no coinbase: %w", h, ErrBadCoinbase)
	}
	// The Merkle root overwrites its input, so it gets a copy.
	var levelBuf [smallBlockTxs]Hash
	level := levelBuf[:0]
	if len(b.Txs) > smallBlockTxs {
		level = make([]Hash, 0, len(b.Txs)+1)
	}
	if merkleRootOfIDs(append(level, ids...)) != b.MerkleRoot {
		return fmt.Errorf("block %s: %w", h, ErrBadMerkleRoot)
	}
	cb := b.Txs[0]
	if !cb.IsCoinbase() || cb.Fee != 0 || cb.Nonce != b.Index || cb.Signature != ([64]byte{}) || cb.Recipient == CoinbaseSender {
		return fmt.Errorf("block %s: first tx is not a well-formed coinbase: %w", h, ErrBadCoinbase)
	}
	if err := checkAddressMemo(cb.Recipient); err != nil {
		return fmt.Errorf("block %s: coinbase recipient: %w", h, err)
	}
	// A small block is searched for repeats; a bigger one whose ids'
	// prefixes all differ has none. Only a block with two equal prefixes
	// (a repeat, or a 64-bit collision) is checked with a map, id by id
	// in order with the other checks, as every block was before: which
	// error such a block gets does not change.
	var seen map[Hash]struct{}
	if len(b.Txs) > smallBlockTxs && !distinctPrefixes(ids) {
		seen = make(map[Hash]struct{}, len(b.Txs))
	}
	many := len(b.Txs) > smallBlockTxs
	for i, tx := range b.Txs {
		id := ids[i]
		if seen != nil {
			if _, dup := seen[id]; dup {
				return fmt.Errorf("block %s: tx %s twice: %w", h, id, ErrDuplicateTx)
			}
			seen[id] = struct{}{}
		} else if !many && slices.Contains(ids[:i], id) {
			return fmt.Errorf("block %s: tx %s twice: %w", h, id, ErrDuplicateTx)
		}
		if i == 0 {
			continue
		}
		if tx.IsCoinbase() {
			return fmt.Errorf("block %s: coinbase at position %d: %w", h, i, ErrBadCoinbase)
		}
		if err := checkTxFields(tx); err != nil {
			return fmt.Errorf("block %s: %w", h, err)
		}
	}
	return nil
}

// distinctPrefixes reports whether the first 8 bytes of every id differ,
// so that no id repeats. Sorting 2,000 prefixes (16 KB) replaced a map of
// the ids (about 150 KB a block at every node, a sixth of what a relayed
// block allocated). Honest ids share a prefix with odds of about 2^-45 a
// 2,000-transaction block; a sender who grinds a collision (2^32 hashes)
// only sends the block to the map.
func distinctPrefixes(ids []Hash) bool {
	prefixes := make([]uint64, len(ids))
	for i := range ids {
		prefixes[i] = binary.BigEndian.Uint64(ids[i][:8])
	}
	slices.Sort(prefixes)
	for i := 1; i < len(prefixes); i++ {
		if prefixes[i] == prefixes[i-1] {
			return false
		}
	}
	return true
}

// smallBlockTxs is the most transactions checkBlockBody handles without
// allocating.
const smallBlockTxs = 16

// verifyBlockTxs runs verifyTx on a block's transfers, batch-verified and,
// when there are many, on all cores (chain/batchverify.go).
func verifyBlockTxs(b *Block, h Hash, network Hash, cache *sigCache) error {
	return verifyBlockTxsIDs(b, nil, network, cache)
}

// verifyBlockTxsIDs is verifyBlockTxs with b's ids hashed already (nil:
// hashed here).
func verifyBlockTxsIDs(b *Block, ids []Hash, network Hash, cache *sigCache) error {
	if bad, err := verifyBlocksTxsIDs([]*Block{b}, [][]Hash{ids}, network, cache); bad >= 0 {
		return err
	}
	return nil
}

func checkProofOfWork(h Hash, bits uint32, p Params) error {
	bi := bitsOf(bits)
	if bi.err != nil {
		return fmt.Errorf("bits %08x: %v: %w", bits, bi.err, ErrBadDifficulty)
	}
	// Targets as big-endian bytes compare as the numbers do.
	if limit := infoOf(&limitBits, p.LimitBits); limit.err == nil && bytes.Compare(bi.target[:], limit.target[:]) > 0 {
		return fmt.Errorf("bits %08x easier than the network limit: %w", bits, ErrBadDifficulty)
	}
	hh := [32]byte(h)
	if !bi.target.Met(&hh) {
		return fmt.Errorf("hash above target %08x: %w", bits, ErrBadPoW)
	}
	return nil
}

// CheckBlocksSanity runs CheckBlockSanity on many blocks with the signature
// checks spread over all cores. It returns the index of the first bad block
// and its error, or -1.
func CheckBlocksSanity(blocks []*Block, p Params) (int, error) {
	// A shape error ends the batch there, but the blocks before it are
	// kept, so their signatures must still be checked.
	shapeBad, shapeErr := -1, error(nil)
	for i, b := range blocks {
		h := b.Hash()
		err := checkBlockCheap(b, h, p)
		if err == nil {
			err = checkBlockBody(b, h)
		}
		if err != nil {
			shapeBad, shapeErr = i, err
			blocks = blocks[:i]
			break
		}
	}
	if bad, err := verifyBlocksTxs(blocks, NetworkID(p), nil); bad >= 0 {
		return bad, err
	}
	return shapeBad, shapeErr
}

// verifyBlocksTxs runs verifyTx on every transfer of blocks, batch-verified
// in chunks spread over all cores (chain/batchverify.go), but for those in
// the verified-signature cache (chain/sigcache.go), and returns the
// index of the first block with a bad one and its error, or -1. Chunks that
// start after a bad block are skipped.
func verifyBlocksTxs(blocks []*Block, network Hash, cache *sigCache) (int, error) {
	return verifyBlocksTxsIDs(blocks, nil, network, cache)
}

// verifyBlocksTxsIDs is verifyBlocksTxs with, where ids[i] is not nil, the
// transaction ids of blocks[i] hashed already (ShapedBlock's), so that the
// cache is asked without hashing them again.
func verifyBlocksTxsIDs(blocks []*Block, ids [][]Hash, network Hash, cache *sigCache) (int, error) {
	var txs []*Tx
	var blockOf []int32
	cached := cache != nil && cache.len() > 0 // else no id need be hashed to ask it
	for i, b := range blocks {
		var known []Hash
		if ids != nil {
			known = ids[i]
		}
		for j := min(1, len(b.Txs)); j < len(b.Txs); j++ {
			tx := b.Txs[j]
			if cached {
				id := Hash{}
				if known != nil {
					id = known[j]
				} else {
					id = tx.ID()
				}
				if cache.take(id) {
					continue // verified before (chain/sigcache.go)
				}
			}
			txs = append(txs, tx)
			blockOf = append(blockOf, int32(i))
		}
	}
	if len(txs) == 0 {
		return -1, nil
	}
	errs := make([]error, len(txs))
	var mu sync.Mutex
	first, ferr := -1, error(nil)
	parallelChunks(len(txs), func(lo, hi int, bv *voi.BatchVerifier, msg []byte) []byte {
		mu.Lock()
		skip := first >= 0 && int(blockOf[lo]) > first
		mu.Unlock()
		if skip {
			return msg
		}
		msg = verifyTxsChunk(txs[lo:hi], network, errs[lo:hi], bv, msg)
		for k := lo; k < hi; k++ {
			if errs[k] != nil {
				bi := int(blockOf[k])
				mu.Lock()
				if first < 0 || bi < first {
					first, ferr = bi, fmt.Errorf("block %s: %w", blocks[bi].Hash(), errs[k])
				}
				mu.Unlock()
				break
			}
		}
		return msg
	})
	return first, ferr
}

// medianTimePast is the median timestamp of n and up to 10 ancestors. It
// sorts on the stack: it runs for every block and header a sync checks.
func medianTimePast(n *blockNode) int64 {
	var ts [11]int64
	k := 0
	for ; k < len(ts) && n != nil; k++ {
		t := n.header.Timestamp
		j := k
		for ; j > 0 && ts[j-1] > t; j-- {
			ts[j] = ts[j-1]
		}
		ts[j] = t
		n = n.parent
	}
	return ts[k/2]
}
