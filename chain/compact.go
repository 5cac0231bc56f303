package chain

import (
	"fmt"
)

// What compact block relay (node/compact.go) needs of the chain: the
// header's checks on their own, before any transaction is looked at, and a
// walk over the mempool to rebuild a block from short ids. (AddBlock skips
// verifyTx for the transfers the mempool already checked: chain/sigcache.go.)

// CheckHeader runs every check of a block that needs only its header, in
// AddBlock's order: proof of work against the header's own bits (and the
// network limit); known, known invalid or a known orphan (ErrKnownBlock,
// ErrInvalidAncestor); the parent (ErrUnknownParent when we lack it);
// context (index, bits, timestamp) and the low-work rule. A compact block
// whose header fails here is refused before any transaction work.
func (c *Chain) CheckHeader(hd Header) error {
	h := hd.Hash()
	if err := checkProofOfWork(h, hd.Bits, c.p); err != nil {
		return fmt.Errorf("block %s: %w", h, err)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.orphans.has(h) {
		return fmt.Errorf("block %s: %w", h, ErrKnownBlock)
	}
	parent, err := c.place(&Block{Header: hd}, h, c.main[len(c.main)-1], false, false)
	if err != nil {
		return err
	}
	if parent == nil {
		return fmt.Errorf("block %s: parent %s: %w", h, hd.PrevHash, ErrUnknownParent)
	}
	return nil
}

// Each calls fn on every pending transaction with its id, under the pool's
// lock: fn must be quick and must not call the pool.
func (m *Mempool) Each(fn func(id Hash, tx *Tx)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, tx := range m.byID {
		fn(id, tx)
	}
}

// ShapedBlock is a block that passed CheckBlockShape, with its
// transactions' ids as that check had them. AddShapedBlock takes it and
// neither checks the shape again nor hashes the ids again (the
// verified-signature cache is asked by id): at 2,000 transactions each
// pass over the ids was a tenth of a relayed block's cost at every node.
// The block must not change after the check.
type ShapedBlock struct {
	Block *Block
	ids   []Hash // ids[i] is Block.Txs[i].ID(); nil for a small block
}

// CheckBlockShape runs the checks of a block that need neither the tree
// nor state nor signatures: limits, proof of work against its own bits,
// Merkle root, coinbase shape, duplicates, amounts. Compact relay runs it
// on a rebuilt block before forwarding it, then adds it with
// AddShapedBlock, which does not repeat it: a block that fails here is
// invalid for every body that matches its header, except a
// duplicated-transaction body (ErrDuplicateTx), which can share the Merkle
// root of a valid one (CVE-2012-2459).
func CheckBlockShape(b *Block, p Params) (*ShapedBlock, error) {
	var ids []Hash
	if len(b.Txs) > smallBlockTxs {
		ids = make([]Hash, len(b.Txs))
		for i, tx := range b.Txs {
			ids[i] = tx.ID()
		}
	}
	return CheckBlockShapeIDs(b, ids, p)
}

// CheckBlockShapeIDs is CheckBlockShape for a block whose transaction ids
// the caller holds already: ids[i] must be b.Txs[i].ID(), taken from the
// mempool's keys (Mempool.Each) or hashed by the caller from the very
// transaction. The Merkle root is checked against these ids, so an id
// from anywhere else (a peer's word) would let a body that does not match
// its header through. A nil ids hashes them here.
func CheckBlockShapeIDs(b *Block, ids []Hash, p Params) (*ShapedBlock, error) {
	if ids != nil && len(ids) != len(b.Txs) {
		return nil, fmt.Errorf("block shape: %d ids for %d transactions", len(ids), len(b.Txs))
	}
	h := b.Hash()
	if err := checkBlockCheap(b, h, p); err != nil {
		return nil, err
	}
	var err error
	if ids == nil {
		err = checkBlockBody(b, h)
	} else {
		err = checkBlockBodyIDs(b, h, ids)
	}
	if err != nil {
		return nil, err
	}
	return &ShapedBlock{Block: b, ids: ids}, nil
}

// idsOf is b's transaction ids if b is this block and they are known.
func (s *ShapedBlock) idsOf(b *Block) []Hash {
	if b == s.Block {
		return s.ids
	}
	return nil
}
