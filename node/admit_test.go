package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// Submitters that arrive while every slot (one a core) is admitting a
// group queue, and are admitted together as the next group, each with the
// answer chain.SubmitTx would give it: the good ones pooled, a badly
// signed one refused with its own error. Then a lone submitter is
// admitted at once, and a second spend of its nonce refused.
func TestAdmissionGroupsQueuedSubmitters(t *testing.T) {
	n := testNode(t, "")
	mineN(t, n, 3)
	ctx := context.Background()
	g := n.Chain().GenesisHash()
	slots := n.admission.leaders
	var senders []*chain.Wallet
	for range slots + 7 {
		w := chain.NewWallet()
		if _, err := n.Send(ctx, w.Address(), 5, 1); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, w)
	}
	mineN(t, n, 1)

	// Every slot's group is held inside the real chain.SubmitTxs until
	// the others have queued behind them.
	entered, release := make(chan struct{}, slots), make(chan struct{})
	var calls atomic.Int32
	n.admission.submit = func(txs []*chain.Tx) []error {
		if calls.Add(1) <= int32(slots) {
			entered <- struct{}{}
			<-release
		}
		return n.Chain().SubmitTxs(txs)
	}
	to := chain.NewWallet().Address()
	errs := make(map[chain.Hash]error)
	var mu sync.Mutex
	var wg sync.WaitGroup
	submit := func(tx *chain.Tx) {
		wg.Go(func() {
			err := n.SubmitTx(ctx, tx)
			mu.Lock()
			errs[tx.ID()] = err
			mu.Unlock()
		})
	}
	var good []*chain.Tx
	for _, w := range senders[:slots] { // one leader a slot, held
		tx := w.NewTx(g, to, 1, 1, 0)
		good = append(good, tx)
		submit(tx)
		<-entered
	}
	var queued []*chain.Tx
	for _, w := range senders[slots : slots+5] {
		queued = append(queued, w.NewTx(g, to, 1, 1, 0))
	}
	good = append(good, queued...)
	forged := senders[slots+5].NewTx(g, to, 1, 1, 0)
	forged.Sender = senders[slots+6].Address() // signed by another key
	queued = append(queued, forged)
	for _, tx := range queued {
		submit(tx)
	}
	waitFor(t, 10*time.Second, "submitters queued", func() bool {
		n.admission.mu.Lock()
		defer n.admission.mu.Unlock()
		return len(n.admission.queue) == len(queued)
	})
	before := n.AdmissionStats()
	close(release)
	wg.Wait()

	after := n.AdmissionStats()
	if groups, txs := after.Groups-before.Groups, after.Txs-before.Txs; groups != int64(slots+1) || txs != int64(slots+len(queued)) {
		t.Fatalf("admitted %d txs in %d groups, want %d in %d (the queue as one)", txs, groups, slots+len(queued), slots+1)
	}
	for _, tx := range good {
		if err := errs[tx.ID()]; err != nil || !n.Chain().Mempool().Has(tx.ID()) {
			t.Fatalf("good tx: err %v, pooled %v", err, n.Chain().Mempool().Has(tx.ID()))
		}
	}
	if err := errs[forged.ID()]; !errors.Is(err, chain.ErrBadSignature) {
		t.Fatalf("forged tx: %v, want a bad signature", err)
	}
	// Alone now (no group running): admitted at once.
	w := senders[slots+5]
	if err := n.SubmitTx(ctx, w.NewTx(g, to, 1, 1, 0)); err != nil {
		t.Fatal(err)
	}
	// The forged body again is refused by the pool's memory of it, before
	// any write: the next good transaction's synced answer counts one
	// record more, its own (batches are answered in order, so every
	// record started before is counted by then, the forged one's first
	// included).
	records := n.TxLogStats().Records
	if err := n.SubmitTx(ctx, forged); !errors.Is(err, chain.ErrBadSignature) {
		t.Fatalf("forged tx again: %v, want a bad signature", err)
	}
	if err := n.SubmitTx(ctx, w.NewTx(g, to, 1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if got := n.TxLogStats().Records - records; got != 1 {
		t.Fatalf("%d records written for a resent forged tx and a good one, want 1", got)
	}
	if err := n.SubmitTx(ctx, w.NewTx(g, to, 2, 1, 0)); !errors.Is(err, chain.ErrBadNonce) {
		t.Fatalf("second spend of a nonce: %v, want a bad nonce", err)
	}
}
