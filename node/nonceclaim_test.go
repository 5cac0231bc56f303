package node

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// A second spend of a nonce waits for the first one's verdict, then is
// checked against the pool it left: refused when the first got in (and
// no record written for it), admitted when the first was refused.
func TestSpendsOfOneNonceTakeTurns(t *testing.T) {
	n := testNode(t, "")
	ctx := context.Background()
	g := n.Chain().GenesisHash()
	w := fundedSender(t, n)

	// The first call of the admission is held until released.
	entered, proceed := make(chan struct{}, 1), make(chan struct{})
	held := true
	n.admission.submit = func(txs []*chain.Tx) []error {
		if held {
			held = false
			entered <- struct{}{}
			<-proceed
		}
		return n.Chain().SubmitTxs(txs)
	}
	waiting := func(tx *chain.Tx) bool {
		n.spends.mu.Lock()
		defer n.spends.mu.Unlock()
		return n.spends.held[spendKey{tx.Sender, tx.Nonce}] != nil
	}
	race := func(first, second *chain.Tx) (error, error) {
		t.Helper()
		held = true
		errs := make(chan error, 1)
		go func() { errs <- n.SubmitTx(ctx, first) }()
		<-entered
		errs2 := make(chan error, 1)
		go func() { errs2 <- n.SubmitTx(ctx, second) }()
		waitFor(t, 10*time.Second, "the second spend waiting for the first", func() bool { return waiting(second) })
		close(proceed)
		err1, err2 := <-errs, <-errs2
		proceed = make(chan struct{})
		return err1, err2
	}

	records := n.TxLogStats().Records
	a, b := w.NewTx(g, chain.NewWallet().Address(), 1, 1, 0), w.NewTx(g, chain.NewWallet().Address(), 1, 1, 0)
	errA, errB := race(a, b)
	if errA != nil || !errors.Is(errB, chain.ErrBadNonce) {
		t.Fatalf("first spend: %v; second: %v, want nil and a bad nonce", errA, errB)
	}
	// A synced answer after both counts their records: the first's only.
	if err := n.SubmitTx(ctx, w.NewTx(g, chain.NewWallet().Address(), 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if got := n.TxLogStats().Records - records; got != 2 {
		t.Fatalf("%d records for a spend, a refused second spend of its nonce and a good tx; want 2", got)
	}

	forged := chain.NewWallet().NewTx(g, chain.NewWallet().Address(), 1, 1, 2)
	forged.Sender = w.Address() // signed by another key
	good := w.NewTx(g, chain.NewWallet().Address(), 1, 1, 2)
	errF, errG := race(forged, good)
	if !errors.Is(errF, chain.ErrBadSignature) || errG != nil {
		t.Fatalf("forged spend: %v; good one after it: %v, want a bad signature and nil", errF, errG)
	}
	if !n.Chain().Mempool().Has(good.ID()) {
		t.Fatal("the good spend is not pooled")
	}
	n.spends.mu.Lock()
	left := len(n.spends.held)
	n.spends.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d claims left after every submission returned", left)
	}
}

// What a SIGKILL can leave: several records spending one nonce. The
// replay keeps the last well-signed one (the pool's choice before the
// crash), whatever the others are.
func TestReplayKeepsThePoolsChoiceOfSpends(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, dir)
	g := n.Chain().GenesisHash()
	w := fundedSender(t, n)
	n.Close()

	to := chain.NewWallet().Address()
	refused := w.NewTx(g, to, 1, 1, 0) // refused before the crash: lost its nonce to acked
	acked := w.NewTx(g, to, 2, 1, 0)
	next := w.NewTx(g, to, 1, 1, 1)
	forged := chain.NewWallet().NewTx(g, to, 3, 1, 1)
	forged.Sender = w.Address() // a forgery of next's nonce, written after it
	path := filepath.Join(dir, chain.TxLogFile)
	l, _, err := chain.OpenTxLog(path, chain.TxLogOptions{Live: func() []*chain.Tx { return []*chain.Tx{refused, acked, next, forged} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	n = testNode(t, dir)
	pool := n.Chain().Mempool()
	if !pool.Has(acked.ID()) || !pool.Has(next.ID()) || pool.Len() != 2 {
		t.Fatalf("replay pooled %d txs (acked %v, next %v), want exactly those two", pool.Len(), pool.Has(acked.ID()), pool.Has(next.ID()))
	}
	if n.acked.len() != 2 || len(n.ParkedTxs()) != 0 {
		t.Fatalf("replay took %d txs for acknowledged and parked %d, want 2 and 0", n.acked.len(), len(n.ParkedTxs()))
	}
}

func TestLastSpendsKeepsUncontestedRecords(t *testing.T) {
	g := chain.Hash{1}
	w := chain.NewWallet()
	to := chain.NewWallet().Address()
	a, b, c := w.NewTx(g, to, 1, 1, 0), w.NewTx(g, to, 1, 1, 1), w.NewTx(g, to, 2, 1, 1)
	lone := chain.NewWallet().NewTx(g, to, 1, 1, 0)
	lone.Sender = chain.NewWallet().Address() // badly signed, but alone: the admission refuses it
	got := lastSpends([]*chain.Tx{a, b, lone, c}, g)
	want := []*chain.Tx{a, lone, c}
	if len(got) != len(want) {
		t.Fatalf("kept %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: got %s, want %s", i, got[i].ID(), want[i].ID())
		}
	}
}

// A compaction writes the pool's transactions after the parked ones, so
// that of a parked acknowledged spend and a pooled spend of the same
// nonce, the replay keeps the pooled one, as the node would have mined it.
func TestCompactionWritesThePoolLast(t *testing.T) {
	n := testNode(t, "")
	ctx := context.Background()
	g := n.Chain().GenesisHash()
	w := fundedSender(t, n)
	pooled := w.NewTx(g, chain.NewWallet().Address(), 1, 1, 0)
	if err := n.SubmitTx(ctx, pooled); err != nil {
		t.Fatal(err)
	}
	parked := w.NewTx(g, chain.NewWallet().Address(), 2, 1, 0) // as if evicted, then re-spent
	n.acked.add(parked)
	n.parked.add(parked)
	live := n.liveTxs()
	at := func(tx *chain.Tx) int {
		for i, l := range live {
			if l.ID() == tx.ID() {
				return i
			}
		}
		t.Fatalf("tx %s not live", tx.ID())
		return -1
	}
	if at(pooled) < at(parked) {
		t.Fatalf("the pooled spend is written before the parked one (%d < %d)", at(pooled), at(parked))
	}
	if got := lastSpends(live, g); len(got) != len(live)-1 || slices.Contains(got, parked) {
		t.Fatal("the replay would keep the parked spend")
	}
}

// fundedSender is a new wallet holding 20 coins in n's chain.
func fundedSender(t *testing.T, n *Node) *chain.Wallet {
	t.Helper()
	mineN(t, n, 2)
	w := chain.NewWallet()
	if _, err := n.Send(context.Background(), w.Address(), 20, 1); err != nil {
		t.Fatal(err)
	}
	mineN(t, n, 1)
	return w
}
