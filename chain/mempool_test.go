package chain

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

// fundChain mines one block for each wallet, so each has BlockReward coins.
func fundChain(t testing.TB, c *Chain, clock *testClock, ws ...*Wallet) {
	t.Helper()
	for _, w := range ws {
		mine(t, c, clock, w.Address())
	}
}

func ids(txs []*Tx) []Hash {
	out := make([]Hash, len(txs))
	for i, tx := range txs {
		out[i] = tx.ID()
	}
	return out
}

func wantOrder(t testing.TB, got []*Tx, want ...*Tx) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d txs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID() != want[i].ID() {
			t.Fatalf("tx %d: sender %s nonce %d fee %d; want sender %s nonce %d fee %d",
				i, got[i].Sender, got[i].Nonce, got[i].Fee, want[i].Sender, want[i].Nonce, want[i].Fee)
		}
	}
}

// checkPool checks the mempool's invariant: per sender, nonces run without
// a gap from the account's nonce and the balance covers them all, and the
// caps hold.
func checkPool(t testing.TB, c *Chain, maxCount int) {
	t.Helper()
	pending := c.Mempool().Pending()
	if len(pending) != c.Mempool().Len() || len(pending) > maxCount {
		t.Fatalf("Pending lists %d, Len %d, cap %d", len(pending), c.Mempool().Len(), maxCount)
	}
	next := make(map[Address]uint64)
	spent := make(map[Address]uint64)
	for _, tx := range pending {
		acct := c.Account(tx.Sender)
		n, ok := next[tx.Sender]
		if !ok {
			n = acct.Nonce
		}
		if tx.Nonce != n {
			t.Fatalf("sender %s: nonce %d pending where %d is next", tx.Sender, tx.Nonce, n)
		}
		next[tx.Sender] = n + 1
		spent[tx.Sender] += tx.Amount + tx.Fee
		if spent[tx.Sender] > acct.Balance {
			t.Fatalf("sender %s: %d pending over balance %d", tx.Sender, spent[tx.Sender], acct.Balance)
		}
		if !c.Mempool().Has(tx.ID()) {
			t.Fatal("Pending lists a tx Has denies")
		}
	}
}

func submitAll(t testing.TB, c *Chain, txs ...*Tx) {
	t.Helper()
	for _, tx := range txs {
		if err := c.SubmitTx(tx); err != nil {
			t.Fatalf("submit nonce %d fee %d: %v", tx.Nonce, tx.Fee, err)
		}
	}
}

// Selection is greedy over a heap of each sender's next transaction, best
// fee on top: a sender's high-fee transaction waits behind its low-fee
// predecessor, and is chosen as soon as that one is.
func TestMempoolSelectionByFeeInNonceOrder(t *testing.T) {
	c, clock := newTestChain(t)
	a, b, cc, to := wallet(1), wallet(2), wallet(3), wallet(9)
	fundChain(t, c, clock, a, a, b, cc) // a: 100, the others 50

	a0 := a.NewTx(testNet, to.Address(), 1, 1, 0)
	a1 := a.NewTx(testNet, to.Address(), 1, 90, 1)
	b0 := b.NewTx(testNet, to.Address(), 1, 40, 0)
	submitAll(t, c, a0, a1, b0)
	// Heap heads: A0 (1), B0 (50) → B0; then A0 (1) → A0; then A1 (90).
	wantOrder(t, c.Mempool().Pending(), b0, a0, a1)

	c0 := cc.NewTx(testNet, to.Address(), 1, 45, 0)
	c1 := cc.NewTx(testNet, to.Address(), 1, 2, 1)
	submitAll(t, c, c0, c1)
	// C0 (45) > B0 (40) > C1 (2) > A0 (1), then A1 (90) once A0 is taken.
	wantOrder(t, c.Mempool().Pending(), c0, b0, c1, a0, a1)
	wantOrder(t, c.Mempool().selectTxs(2, -1), c0, b0)
	wantOrder(t, c.Mempool().selectTxs(-1, 4*TxSize+TxSize-1), c0, b0, c1, a0)
	wantOrder(t, c.Mempool().selectTxs(0, -1))

	// The template takes them in this order and is a valid block.
	blk := c.NewBlockTemplate(to.Address())
	wantOrder(t, blk.Txs[1:], c0, b0, c1, a0, a1)
	if want := c.Params().BlockReward + 45 + 40 + 2 + 1 + 90; blk.Txs[0].Amount != want {
		t.Fatalf("coinbase %d, want reward+fees %d", blk.Txs[0].Amount, want)
	}
	solve(t, blk)
	accept(t, c, blk)
	if c.Mempool().Len() != 0 {
		t.Fatalf("%d txs left after mining them all", c.Mempool().Len())
	}
}

func TestMempoolEqualFeesDeterministic(t *testing.T) {
	c, clock := newTestChain(t)
	ws := []*Wallet{wallet(1), wallet(2), wallet(3), wallet(4)}
	fundChain(t, c, clock, ws...)
	var txs []*Tx
	for _, w := range ws {
		txs = append(txs, w.NewTx(testNet, wallet(9).Address(), 1, 5, 0))
	}
	submitAll(t, c, txs...)
	got := c.Mempool().Pending()
	for i := 1; i < len(got); i++ {
		a, b := got[i-1].Sender, got[i].Sender
		if bytes.Compare(a[:], b[:]) >= 0 {
			t.Fatal("equal fees not ordered by sender")
		}
	}
}

func TestMempoolCountCapEvictsLowestFeeTail(t *testing.T) {
	const maxTxs = 3
	c, clock := newParamsChain(t, TestParams(), Options{MempoolMaxTxs: maxTxs})
	a, b, cc, d, to := wallet(1), wallet(2), wallet(3), wallet(4), wallet(9)
	fundChain(t, c, clock, a, a, b, cc, d) // a: 100, the others 50
	pool := c.Mempool()

	a0 := a.NewTx(testNet, to.Address(), 1, 1, 0)
	a1 := a.NewTx(testNet, to.Address(), 1, 5, 1)
	b0 := b.NewTx(testNet, to.Address(), 1, 3, 0)
	submitAll(t, c, a0, a1, b0)

	// C0 pays 4: the tails are A1 (5) and B0 (3); B0 goes. A0 pays less
	// but A1 depends on it, so it stays.
	c0 := cc.NewTx(testNet, to.Address(), 1, 4, 0)
	submitAll(t, c, c0)
	if pool.Has(b0.ID()) || !pool.Has(a0.ID()) || !pool.Has(c0.ID()) {
		t.Fatal("want B0 evicted for C0, A0 kept")
	}
	checkPool(t, c, maxTxs)

	// Not more than the cheapest tail (C0, 4): refused, nothing evicted.
	before := snapshot(c)
	for _, fee := range []uint64{4, 2, 0} {
		if err := c.SubmitTx(d.NewTx(testNet, to.Address(), 1, fee, 0)); !errors.Is(err, ErrMempoolFull) {
			t.Fatalf("fee %d into a full pool: %v, want ErrMempoolFull", fee, err)
		}
	}
	assertUnchanged(t, c, before)

	// A sender's own queue is never a victim for its next tx: A2 evicts C0.
	a2 := a.NewTx(testNet, to.Address(), 1, 40, 2)
	submitAll(t, c, a2)
	if pool.Has(c0.ID()) || !pool.Has(a2.ID()) {
		t.Fatal("want C0 evicted for A2")
	}
	checkPool(t, c, maxTxs)
	// The pool holds only A's chain: A3 cannot evict A's own.
	before = snapshot(c)
	if err := c.SubmitTx(a.NewTx(testNet, to.Address(), 1, 40, 3)); !errors.Is(err, ErrMempoolFull) {
		t.Fatalf("A3 into a pool full of A's: %v, want ErrMempoolFull", err)
	}
	assertUnchanged(t, c, before)

	// Another sender's well-paying tx takes A's tail (A2), never A0 or A1.
	b0x := b.NewTx(testNet, to.Address(), 2, 45, 0)
	submitAll(t, c, b0x)
	if pool.Has(a2.ID()) || !pool.Has(a0.ID()) || !pool.Has(a1.ID()) {
		t.Fatal("want A2 (the tail) evicted, A0 and A1 kept")
	}
	checkPool(t, c, maxTxs)
	// A2 cannot come back: the only other sender's tail pays more.
	if err := c.SubmitTx(a2); !errors.Is(err, ErrMempoolFull) {
		t.Fatalf("A2 again: %v, want ErrMempoolFull", err)
	}
	wantOrder(t, pool.Pending(), b0x, a0, a1)
}

func TestMempoolByteCap(t *testing.T) {
	c, clock := newParamsChain(t, TestParams(), Options{MempoolMaxTxs: 100, MempoolMaxBytes: 2*TxSize + TxSize/2})
	a, b, cc, d, to := wallet(1), wallet(2), wallet(3), wallet(4), wallet(9)
	fundChain(t, c, clock, a, b, cc, d)
	a0, b0 := a.NewTx(testNet, to.Address(), 1, 1, 0), b.NewTx(testNet, to.Address(), 1, 2, 0)
	submitAll(t, c, a0, b0)
	c0 := cc.NewTx(testNet, to.Address(), 1, 3, 0)
	submitAll(t, c, c0)
	if c.Mempool().Len() != 2 || c.Mempool().Has(a0.ID()) {
		t.Fatal("want A0 evicted by bytes")
	}
	if err := c.SubmitTx(d.NewTx(testNet, to.Address(), 1, 2, 0)); !errors.Is(err, ErrMempoolFull) {
		t.Fatalf("fee equal to the cheapest: %v, want ErrMempoolFull", err)
	}
	checkPool(t, c, 2)
}

// Several transactions from one sender in a row, each on the pending nonce.
func TestMempoolPendingNonceChain(t *testing.T) {
	c, clock := newTestChain(t)
	alice, bob := wallet(1), wallet(2)
	fundChain(t, c, clock, alice) // 50
	pool := c.Mempool()
	for n := range uint64(4) {
		if got := pool.PendingNonce(alice.Address(), c.Account(alice.Address())); got != n {
			t.Fatalf("pending nonce %d, want %d", got, n)
		}
		submitAll(t, c, alice.NewTx(testNet, bob.Address(), 10, 1, n)) // 44 in all
	}
	before := snapshot(c, alice.Address(), bob.Address())
	for name, tx := range map[string]*Tx{
		"gap":            alice.NewTx(testNet, bob.Address(), 1, 0, 5),
		"reused nonce":   alice.NewTx(testNet, bob.Address(), 1, 0, 2),
		"account nonce":  alice.NewTx(testNet, bob.Address(), 1, 0, 0),
		"over the chain": alice.NewTx(testNet, bob.Address(), 6, 1, 4), // 7 > 6 left
	} {
		err := c.SubmitTx(tx)
		want := ErrBadNonce
		if name == "over the chain" {
			want = ErrInsufficientBalance
		}
		if !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", name, err, want)
		}
	}
	assertUnchanged(t, c, before)
	submitAll(t, c, alice.NewTx(testNet, bob.Address(), 5, 1, 4)) // exactly the 6 left
	checkPool(t, c, 1000)

	blk := mine(t, c, clock, bob.Address())
	if len(blk.Txs) != 6 {
		t.Fatalf("block with %d txs, want coinbase + 5", len(blk.Txs))
	}
	for i, tx := range blk.Txs[1:] {
		if tx.Nonce != uint64(i) {
			t.Fatalf("tx %d has nonce %d", i, tx.Nonce)
		}
	}
	if got := c.Account(alice.Address()); got.Balance != 0 || got.Nonce != 5 {
		t.Fatalf("alice %+v, want 0/5", got)
	}
	if pool.Len() != 0 || pool.PendingNonce(alice.Address(), c.Account(alice.Address())) != 5 {
		t.Fatal("pool not emptied by the block")
	}
}

func TestMempoolRecheckOnNewHead(t *testing.T) {
	t.Run("mined by another node", func(t *testing.T) {
		f := newFixture(t)
		tx := f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0)
		submitAll(t, f.c, tx)
		f.accept(t, f.next(t, tx)) // built outside the template
		if f.c.Mempool().Has(tx.ID()) || !f.c.Mempool().Has(f.pending.ID()) {
			t.Fatal("want the mined tx gone and dave's kept")
		}
		checkPool(t, f.c, 1000)
	})
	t.Run("sender spent the balance in a block", func(t *testing.T) {
		f := newFixture(t)
		tx0 := f.alice.NewTx(testNet, f.bob.Address(), 10, 0, 0)
		tx1 := f.alice.NewTx(testNet, f.bob.Address(), 30, 0, 1)
		submitAll(t, f.c, tx0, tx1)
		// Another node mined alice's other spend of nonce 0: tx0 is stale,
		// tx1 has the right nonce now but 5 coins cannot pay 30.
		spend := f.alice.NewTx(testNet, f.carol.Address(), 45, 0, 0)
		f.accept(t, f.next(t, spend))
		if f.c.Mempool().Has(tx0.ID()) || f.c.Mempool().Has(tx1.ID()) {
			t.Fatal("txs invalid on the new head are still pending")
		}
		if !f.c.Mempool().Has(f.pending.ID()) {
			t.Fatal("an unrelated tx left the pool")
		}
		checkPool(t, f.c, 1000)
		submitAll(t, f.c, f.alice.NewTx(testNet, f.bob.Address(), 5, 0, 1))
	})
	t.Run("reorg returns the losing branch's txs", func(t *testing.T) {
		c, clock := newTestChain(t)
		alice, bob, carol, dave := wallet(1), wallet(2), wallet(3), wallet(4)
		b2 := mine(t, c, clock, alice.Address()) // alice 50
		tx1 := alice.NewTx(testNet, bob.Address(), 10, 1, 0)
		tx2 := alice.NewTx(testNet, carol.Address(), 5, 1, 1)
		submitAll(t, c, tx1, tx2)
		a3 := mine(t, c, clock, alice.Address()) // holds tx1, tx2
		if len(a3.Txs) != 3 {
			t.Fatalf("a3 has %d txs", len(a3.Txs))
		}
		tx3 := alice.NewTx(testNet, dave.Address(), 1, 1, 2)
		submitAll(t, c, tx3) // pending on top of branch A

		// Branch B from b2 holds tx1 only, and outweighs A.
		ts := a3.Timestamp
		b3 := childOf(t, c, b2, carol.Address(), ts+1, tx1)
		b4 := childOf(t, c, b3, carol.Address(), ts+2)
		if _, err := c.AddBlock(b3); err != nil {
			t.Fatal(err)
		}
		res, err := c.AddBlock(b4)
		if err != nil || !res.Reorg {
			t.Fatalf("b4: %+v %v, want a reorg", res, err)
		}
		// tx1 is on both branches: not pending. tx2 comes back; tx3 still
		// follows it.
		wantOrder(t, c.Mempool().Pending(), tx2, tx3)
		checkPool(t, c, 1000)

		// Branch A outweighs again, by a block whose alice nonce 2 spend
		// conflicts with tx3: nothing of alice's stays pending.
		tx3x := alice.NewTx(testNet, carol.Address(), 2, 0, 2)
		a4 := childOf(t, c, a3, alice.Address(), ts+3, tx3x)
		a5 := childOf(t, c, a4, alice.Address(), ts+4)
		if _, err := c.AddBlock(a4); err != nil {
			t.Fatal(err)
		}
		if res, err := c.AddBlock(a5); err != nil || !res.Reorg {
			t.Fatalf("a5: %+v %v, want a reorg", res, err)
		}
		if n := c.Mempool().Len(); n != 0 {
			t.Fatalf("%d txs pending after switching back, want 0", n)
		}
		// B's txs (only tx1) are on A too: nothing to return.
		if got := c.Account(alice.Address()); got.Nonce != 3 {
			t.Fatalf("alice nonce %d, want 3", got.Nonce)
		}
	})
}

// Concurrent submitters, miners and readers, for the race detector.
func TestConcurrentUse(t *testing.T) {
	c, clock := newTestChain(t)
	senders := []*Wallet{wallet(1), wallet(2), wallet(3), wallet(4)}
	fundChain(t, c, clock, senders...)
	var clockMu sync.Mutex
	c.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock.t }

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for _, w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := uint64(0); n < 8; n++ {
				tx := w.NewTx(testNet, wallet(9).Address(), 1, n%3, n)
				if err := c.SubmitTx(tx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 10 {
			clockMu.Lock()
			clock.t = clock.t.Add(time.Second)
			clockMu.Unlock()
			b := c.NewBlockTemplate(wallet(8).Address())
			solve(t, b)
			if _, err := c.AddBlock(b); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			tip := c.Tip()
			_ = c.Account(senders[0].Address())
			_ = c.Mempool().Pending()
			_, _ = c.BlockByIndex(tip.Index)
			_ = c.Locator()
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkPool(t, c, 10000)
}

// The caps hold when a reorg brings transactions back.
func TestMempoolCapsHoldAfterReorg(t *testing.T) {
	for name, opts := range map[string]Options{
		"count": {MempoolMaxTxs: 2},
		"bytes": {MempoolMaxTxs: 100, MempoolMaxBytes: 2 * TxSize},
	} {
		t.Run(name, func(t *testing.T) {
			c, clock := newParamsChain(t, TestParams(), opts)
			alice, bob, carol := wallet(1), wallet(2), wallet(3)
			b2 := mine(t, c, clock, alice.Address())
			submitAll(t, c, alice.NewTx(testNet, bob.Address(), 1, 1, 0), alice.NewTx(testNet, bob.Address(), 1, 1, 1))
			a3 := mine(t, c, clock, alice.Address())
			submitAll(t, c, alice.NewTx(testNet, bob.Address(), 1, 1, 2), alice.NewTx(testNet, bob.Address(), 1, 1, 3))
			if c.Mempool().Len() != 2 {
				t.Fatalf("%d pending, want 2", c.Mempool().Len())
			}
			s3 := childOf(t, c, b2, carol.Address(), a3.Timestamp+1)
			s4 := childOf(t, c, s3, carol.Address(), a3.Timestamp+2)
			if _, _, err := c.AddBlocks([]*Block{s3, s4}); err != nil {
				t.Fatal(err)
			}
			// Four txs of alice's are valid again; two fit.
			checkPool(t, c, 2)
			pending := c.Mempool().Pending()
			if len(pending) != 2 || pending[0].Nonce != 0 || pending[1].Nonce != 1 {
				t.Fatalf("pending after the reorg: %d txs", len(pending))
			}
		})
	}
}
