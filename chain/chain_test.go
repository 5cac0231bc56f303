package chain

import (
	"errors"
	"testing"
)

func TestGenesisDeterministic(t *testing.T) {
	a, b := Genesis(TestParams()), Genesis(TestParams())
	if a.Hash() != b.Hash() {
		t.Fatal("same params gave different genesis hashes")
	}
	if Genesis(TestParams().WithDifficulty(5)).Hash() == a.Hash() {
		t.Fatal("a different difficulty must give a different genesis")
	}
	if a.Index != 1 {
		t.Fatalf("genesis index %d, want 1", a.Index)
	}
}

func TestMineSendAndBalances(t *testing.T) {
	c, clock := newTestChain(t)
	alice, bob := wallet(1), wallet(2)
	mine(t, c, clock, alice.Address())
	if got := c.Account(alice.Address()).Balance; got != 50 {
		t.Fatalf("alice balance %d, want 50", got)
	}
	tx := alice.NewTx(testNet, bob.Address(), 20, 2, 0)
	if err := c.SubmitTx(tx); err != nil {
		t.Fatalf("submit: %v", err)
	}
	if err := c.SubmitTx(tx); !errors.Is(err, ErrKnownTx) {
		t.Fatalf("resubmit: %v, want ErrKnownTx", err)
	}
	b := mine(t, c, clock, bob.Address())
	if len(b.Txs) != 2 {
		t.Fatalf("block has %d txs, want coinbase + 1", len(b.Txs))
	}
	if got := c.Account(alice.Address()); got.Balance != 28 || got.Nonce != 1 {
		t.Fatalf("alice %+v, want balance 28 nonce 1", got)
	}
	if got := c.Account(bob.Address()).Balance; got != 20+50+2 {
		t.Fatalf("bob balance %d, want 72", got)
	}
	if c.Mempool().Len() != 0 {
		t.Fatal("mined transaction still pending")
	}
	if tip := c.Tip(); tip.Index != 3 {
		t.Fatalf("tip index %d, want 3", tip.Index)
	}
}

func TestReorgReturnsTransactionsAndSwitchesBack(t *testing.T) {
	c, clock := newTestChain(t)
	alice, bob, carol := wallet(1), wallet(2), wallet(3)
	b2 := mine(t, c, clock, alice.Address()) // alice: 50
	tx := alice.NewTx(testNet, bob.Address(), 10, 1, 0)
	if err := c.SubmitTx(tx); err != nil {
		t.Fatal(err)
	}
	a3 := mine(t, c, clock, alice.Address()) // branch A holds tx
	if c.Account(bob.Address()).Balance != 10 {
		t.Fatal("tx not applied")
	}
	// Branch B from b2, two blocks by carol: more work, no tx.
	ts := a3.Timestamp
	b3 := childOf(t, c, b2, carol.Address(), ts+1)
	res, err := c.AddBlock(b3)
	if err != nil || res.Status != StatusSide {
		t.Fatalf("b3: %v %v, want side", res, err)
	}
	b4 := childOf(t, c, b3, carol.Address(), ts+2)
	res, err = c.AddBlock(b4)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != StatusMain || !res.Reorg || len(res.Disconnected) != 1 || len(res.Connected) != 2 {
		t.Fatalf("b4 result %+v", res)
	}
	if got := c.Account(bob.Address()).Balance; got != 0 {
		t.Fatalf("bob %d after reorg, want 0", got)
	}
	if got := c.Account(alice.Address()); got.Balance != 50 || got.Nonce != 0 {
		t.Fatalf("alice %+v after reorg, want 50/0", got)
	}
	if !c.Mempool().Has(tx.ID()) {
		t.Fatal("the losing branch's transaction is not back in the mempool")
	}
	// Branch A grows heavier again: switch back, tx mined again, pool empty.
	a4 := childOf(t, c, a3, alice.Address(), ts+3)
	if _, err := c.AddBlock(a4); err != nil {
		t.Fatal(err)
	}
	a5 := childOf(t, c, a4, alice.Address(), ts+4)
	res, err = c.AddBlock(a5)
	if err != nil || !res.Reorg {
		t.Fatalf("a5: %+v %v", res, err)
	}
	if got := c.Account(bob.Address()).Balance; got != 10 {
		t.Fatalf("bob %d after switching back, want 10", got)
	}
	if got := c.Account(alice.Address()); got.Balance != 50-11+50*3+1 || got.Nonce != 1 {
		t.Fatalf("alice %+v after switching back", got)
	}
	if got := c.Account(carol.Address()).Balance; got != 0 {
		t.Fatalf("carol %d, want 0", got)
	}
	if c.Mempool().Has(tx.ID()) {
		t.Fatal("tx mined on the winning branch is still pending")
	}
}

func TestReopenKeepsChainAndState(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: TestParams().GenesisTime.Add(1e12)}
	c := openTestChain(t, dir, clock)
	alice, bob := wallet(1), wallet(2)
	mine(t, c, clock, alice.Address())
	if err := c.SubmitTx(alice.NewTx(testNet, bob.Address(), 5, 0, 0)); err != nil {
		t.Fatal(err)
	}
	last := mine(t, c, clock, alice.Address())
	tip := c.Tip()
	c.Close()

	c2 := openTestChain(t, dir, clock)
	if got := c2.Tip(); got.Hash != tip.Hash || got.Work.Cmp(tip.Work) != 0 {
		t.Fatalf("reopened tip %+v, want %+v", got, tip)
	}
	if got := c2.Account(bob.Address()).Balance; got != 5 {
		t.Fatalf("bob %d after reopen, want 5", got)
	}
	b, err := c2.BlockByIndex(3)
	if err != nil || b.Hash() != last.Hash() {
		t.Fatalf("block 3 after reopen: %v", err)
	}
	mine(t, c2, clock, bob.Address())
}
