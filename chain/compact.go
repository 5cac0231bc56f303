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

// CheckBlockShape runs the checks of a block that need neither the tree
// nor state nor signatures: limits, proof of work against its own bits,
// Merkle root, coinbase shape, duplicates, amounts. Compact relay runs it
// on a rebuilt block before forwarding it, then adds it with
// AddShapedBlock, which does not repeat it: a block that fails here is invalid for every body that matches its
// header, except a duplicated-transaction body (ErrDuplicateTx), which can
// share the Merkle root of a valid one (CVE-2012-2459).
func CheckBlockShape(b *Block, p Params) error {
	h := b.Hash()
	if err := checkBlockCheap(b, h, p); err != nil {
		return err
	}
	return checkBlockBody(b, h)
}
