package chain

import (
	"bytes"
	"testing"
)

// TestAddBlockEncodingBufferReused: AddBlock encodes each block for the
// store into one buffer kept between calls. Blocks of different sizes
// added one by one, and a commit of two blocks (a parent that connects
// its waiting orphan child), must each be stored as their own encoding:
// a buffer reused within one commit, or before the commit ended, would
// leave one block's record holding another's bytes.
func TestAddBlockEncodingBufferReused(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: TestParams().GenesisTime.Add(1e12)}
	c := openTestChain(t, dir, clock)
	alice, bob := wallet(1), wallet(2)
	parent := mine(t, c, clock, alice.Address())
	nonce := uint64(0)
	var blocks []*Block
	for _, n := range []int{3, 0, 5, 1} {
		var txs []*Tx
		for range n {
			txs = append(txs, alice.NewTx(testNet, bob.Address(), 1, 0, nonce))
			nonce++
		}
		b := childOf(t, c, parent, bob.Address(), parent.Timestamp+1000, txs...)
		blocks = append(blocks, b)
		parent = b
	}
	for _, b := range blocks[:2] {
		if _, err := c.AddBlock(b); err != nil {
			t.Fatalf("add block %d: %v", b.Index, err)
		}
	}
	if cap(c.encBuf) == 0 {
		t.Fatal("no encoding buffer kept after AddBlock")
	}
	// The child first: an orphan; its parent's AddBlock connects it in
	// the same commit.
	if r, err := c.AddBlock(blocks[3]); err != nil || r.Status != StatusOrphan {
		t.Fatalf("add orphan: %v, %v", r, err)
	}
	if r, err := c.AddBlock(blocks[2]); err != nil || len(r.Connected) != 2 {
		t.Fatalf("add parent: %+v, %v", r, err)
	}
	if c.Tip().Hash != blocks[3].Hash() {
		t.Fatalf("head %s, want %s", c.Tip().Hash, blocks[3].Hash())
	}
	c.Close()
	c = openTestChain(t, dir, clock)
	for _, b := range blocks {
		got, err := c.BlockByHash(b.Hash())
		if err != nil {
			t.Fatalf("block %d after reopening: %v", b.Index, err)
		}
		if !bytes.Equal(got.Bytes(), b.Bytes()) {
			t.Fatalf("block %d stored as another encoding (%d txs, want %d)", b.Index, len(got.Txs), len(b.Txs))
		}
	}
}

// TestNewBlockTemplateIDs: the template's ids are its transactions' ids,
// in order, and its Merkle root is theirs (the root's computation must
// not have overwritten them); they pass CheckBlockShapeIDs and the block
// is added with AddShapedBlock.
func TestNewBlockTemplateIDs(t *testing.T) {
	c, clock := newTestChain(t)
	alice, bob := wallet(1), wallet(2)
	mine(t, c, clock, alice.Address())
	for i := range uint64(21) { // more than smallBlockTxs, and odd with the coinbase
		if err := c.SubmitTx(alice.NewTx(testNet, bob.Address(), 1, 0, i)); err != nil {
			t.Fatal(err)
		}
	}
	clock.t = clock.t.Add(1e9)
	b, ids := c.NewBlockTemplateIDs(bob.Address())
	if len(b.Txs) != 22 || len(ids) != len(b.Txs) {
		t.Fatalf("%d txs, %d ids, want 22", len(b.Txs), len(ids))
	}
	for i, tx := range b.Txs {
		if ids[i] != tx.ID() {
			t.Fatalf("ids[%d] is not tx %d's id", i, i)
		}
	}
	if b.MerkleRoot != MerkleRoot(b.Txs) {
		t.Fatal("template's Merkle root is not its transactions'")
	}
	solve(t, b)
	sb, err := CheckBlockShapeIDs(b, ids, c.Params())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.AddShapedBlock(sb); err != nil || r.Status != StatusMain {
		t.Fatalf("add template: %+v, %v", r, err)
	}
	if c.Mempool().Len() != 0 {
		t.Fatalf("%d txs left in the pool", c.Mempool().Len())
	}
}
