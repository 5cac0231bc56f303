package chain

import (
	"errors"
	"testing"
)

// recordDrops collects what OnDrop reports.
func recordDrops(c *Chain) *[]*Tx {
	var got []*Tx
	c.Mempool().OnDrop(func(txs []*Tx) { got = append(got, txs...) })
	return &got
}

// A full pool evicting its cheapest transaction for a better-paying one
// says so; a refused newcomer evicts nothing.
func TestMempoolOnDropEviction(t *testing.T) {
	c, clock := newParamsChain(t, TestParams(), Options{MempoolMaxTxs: 2})
	alice, bob, carol := wallet(1), wallet(2), wallet(3)
	fundChain(t, c, clock, alice, bob, carol)
	drops := recordDrops(c)
	to := wallet(9).Address()
	a0, b0 := alice.NewTx(testNet, to, 1, 1, 0), bob.NewTx(testNet, to, 1, 2, 0)
	submitAll(t, c, a0, b0)
	if len(*drops) != 0 {
		t.Fatalf("%d dropped before the pool was full", len(*drops))
	}
	// A newcomer paying no more than the cheapest is refused: nothing moves.
	if err := c.SubmitTx(carol.NewTx(testNet, to, 1, 1, 0)); !errors.Is(err, ErrMempoolFull) {
		t.Fatalf("cheap newcomer: %v, want ErrMempoolFull", err)
	}
	if len(*drops) != 0 || !c.Mempool().Has(a0.ID()) || !c.Mempool().Has(b0.ID()) {
		t.Fatalf("a refused newcomer changed the pool: %d dropped", len(*drops))
	}
	c0 := carol.NewTx(testNet, to, 1, 5, 0)
	submitAll(t, c, c0)
	if len(*drops) != 1 || (*drops)[0].ID() != a0.ID() {
		t.Fatalf("dropped %v, want alice's fee-1 tx", ids(*drops))
	}
	checkPool(t, c, 2)
}

// A reorg bringing back more than the cap fits reports what it left out;
// what the new branch mined is not reported.
func TestMempoolOnDropReset(t *testing.T) {
	c, clock := newParamsChain(t, TestParams(), Options{MempoolMaxTxs: 1})
	alice, bob, carol, dave := wallet(1), wallet(2), wallet(3), wallet(4)
	mine(t, c, clock, alice.Address())
	mine(t, c, clock, bob.Address())
	fork := mine(t, c, clock, carol.Address())
	to := wallet(9).Address()
	a0, b0, c0 := alice.NewTx(testNet, to, 1, 1, 0), bob.NewTx(testNet, to, 1, 7, 0), carol.NewTx(testNet, to, 1, 3, 0)
	var top *Block
	for _, tx := range []*Tx{a0, b0, c0} {
		submitAll(t, c, tx)
		top = mine(t, c, clock, dave.Address())
	}
	if c.Mempool().Len() != 0 {
		t.Fatal("setup: not all mined")
	}
	drops := recordDrops(c)
	// The other branch mines carol's transaction itself and is longer:
	// alice's and bob's come back and one fits (bob's, the better fee);
	// carol's is mined, so not reported.
	s1 := childOf(t, c, fork, dave.Address(), top.Timestamp+1, c0)
	s2 := childOf(t, c, s1, dave.Address(), top.Timestamp+2)
	s3 := childOf(t, c, s2, dave.Address(), top.Timestamp+3)
	s4 := childOf(t, c, s3, dave.Address(), top.Timestamp+4)
	if _, _, err := c.AddBlocks([]*Block{s1, s2, s3, s4}); err != nil {
		t.Fatal(err)
	}
	if c.Tip().Hash != s4.Hash() {
		t.Fatal("setup: the reorg did not happen")
	}
	checkPool(t, c, 1)
	wantOrder(t, c.Mempool().Pending(), b0)
	if len(*drops) != 1 || (*drops)[0].ID() != a0.ID() {
		t.Fatalf("dropped %v, want alice's", ids(*drops))
	}
}
