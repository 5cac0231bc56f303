package chain

import (
	"bytes"
	"testing"
)

// A reorg that brings back more transactions than the pool holds keeps the
// best-paying ones (as block selection would pick them), not the senders
// first in address order.
func TestMempoolResetRefillsByFee(t *testing.T) {
	c, clock := newParamsChain(t, TestParams(), Options{MempoolMaxTxs: 2})
	w1, w2, carol := wallet(1), wallet(2), wallet(3)
	// cheap sorts first by address: the old refill (sender order) kept its
	// transactions and dropped the better-paying ones.
	cheap, rich := w1, w2
	if ca, ra := cheap.Address(), rich.Address(); bytes.Compare(ca[:], ra[:]) > 0 {
		cheap, rich = rich, cheap
	}
	mine(t, c, clock, cheap.Address())
	fork := mine(t, c, clock, rich.Address())
	to := carol.Address()
	c1, r1 := cheap.NewTx(testNet, to, 1, 1, 0), rich.NewTx(testNet, to, 1, 5, 0)
	submitAll(t, c, c1, r1)
	a1 := mine(t, c, clock, carol.Address())
	c2, r2 := cheap.NewTx(testNet, to, 1, 1, 1), rich.NewTx(testNet, to, 1, 4, 1)
	submitAll(t, c, c2, r2)
	a2 := mine(t, c, clock, carol.Address())
	if len(a1.Txs) != 3 || len(a2.Txs) != 3 || c.Mempool().Len() != 0 {
		t.Fatalf("setup: blocks of %d and %d txs, %d pending", len(a1.Txs), len(a2.Txs), c.Mempool().Len())
	}
	// A longer branch from the fork drops both blocks: four transactions
	// come back, two fit.
	s1 := childOf(t, c, fork, carol.Address(), a2.Timestamp+1)
	s2 := childOf(t, c, s1, carol.Address(), a2.Timestamp+2)
	s3 := childOf(t, c, s2, carol.Address(), a2.Timestamp+3)
	if _, _, err := c.AddBlocks([]*Block{s1, s2, s3}); err != nil {
		t.Fatal(err)
	}
	if c.Tip().Hash != s3.Hash() {
		t.Fatal("the reorg did not happen")
	}
	checkPool(t, c, 2)
	wantOrder(t, c.Mempool().Pending(), r1, r2)
}

// Of a cheap transaction that a dear one depends on, the pair is weighed by
// the sender's next one: a sender's queue never has a gap.
func TestMempoolResetKeepsNonceOrder(t *testing.T) {
	c, clock := newParamsChain(t, TestParams(), Options{MempoolMaxTxs: 3})
	alice, bob, carol := wallet(1), wallet(2), wallet(3)
	mine(t, c, clock, alice.Address())
	fork := mine(t, c, clock, bob.Address())
	to := carol.Address()
	a0, a1 := alice.NewTx(testNet, to, 1, 1, 0), alice.NewTx(testNet, to, 1, 9, 1)
	b0, b1 := bob.NewTx(testNet, to, 1, 3, 0), bob.NewTx(testNet, to, 1, 2, 1)
	submitAll(t, c, a0, a1, b0)
	mine(t, c, clock, carol.Address())
	submitAll(t, c, b1)
	top := mine(t, c, clock, carol.Address())
	s1 := childOf(t, c, fork, carol.Address(), top.Timestamp+1)
	s2 := childOf(t, c, s1, carol.Address(), top.Timestamp+2)
	s3 := childOf(t, c, s2, carol.Address(), top.Timestamp+3)
	if _, _, err := c.AddBlocks([]*Block{s1, s2, s3}); err != nil {
		t.Fatal(err)
	}
	checkPool(t, c, 3)
	// Heads: b0 (3) beats a0 (1); then b1 (2) beats a0 (1); then a0.
	wantOrder(t, c.Mempool().Pending(), b0, b1, a0)
}

// BenchmarkMempoolResetAfterBlock: the pool's reset after a 2,000-transfer
// block of its own transactions (a block rebuilt from a compact one holds
// the pool's *Tx), as each node does after each such block.
func BenchmarkMempoolResetAfterBlock(b *testing.B) {
	txs := validTxs(2000)
	blk := &Block{Txs: append([]*Tx{{}}, txs...)}
	mined := func(Address) Account { return Account{Balance: 1 << 40, Nonce: 1 << 20} }
	m := NewMempool(10000, 1<<30)
	for b.Loop() {
		b.StopTimer()
		m.byID, m.bySender = make(map[Hash]*Tx, len(txs)), make(map[Address][]*Tx)
		for _, tx := range txs {
			m.byID[tx.ID()] = tx
			m.bySender[tx.Sender] = append(m.bySender[tx.Sender], tx)
		}
		b.StartTimer()
		if dropped := m.resetLocked(mined, []*Block{blk}, nil); len(dropped) != 0 || len(m.byID) != 0 {
			b.Fatalf("%d dropped, %d left", len(dropped), len(m.byID))
		}
	}
}
