package node

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// Submitters that arrive while a group is being admitted queue and are
// admitted together as the next group, each with the answer
// chain.SubmitTx would give it: the good ones pooled, a badly signed one
// and a alone nonce refused with their own errors.
func TestAdmissionGroupsQueuedSubmitters(t *testing.T) {
	n := testNode(t, "")
	mineN(t, n, 3)
	ctx := context.Background()
	g := n.Chain().GenesisHash()
	var senders []*chain.Wallet
	for range 8 {
		w := chain.NewWallet()
		if _, err := n.Send(ctx, w.Address(), 5, 1); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, w)
	}
	mineN(t, n, 1)

	// The first group is held inside the real chain.SubmitTxs until the
	// others have queued behind it.
	first, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	n.admission.submit = func(txs []*chain.Tx) []error {
		held := false
		once.Do(func() { held = true })
		if held {
			close(first)
			<-release
		}
		return n.Chain().SubmitTxs(txs)
	}
	to := chain.NewWallet().Address()
	leader := senders[0].NewTx(g, to, 1, 1, 0)
	queued := make([]*chain.Tx, 0, 7)
	for _, w := range senders[1:6] {
		queued = append(queued, w.NewTx(g, to, 1, 1, 0))
	}
	forged := senders[6].NewTx(g, to, 1, 1, 0)
	forged.Sender = senders[7].Address() // signed by another key
	alone := senders[6].NewTx(g, to, 1, 1, 0)
	queued = append(queued, forged)

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
	submit(leader)
	<-first
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
	if after.Groups-before.Groups != 2 || after.Txs-before.Txs != int64(1+len(queued)) {
		t.Fatalf("admitted %d txs in %d groups, want %d in 2", after.Txs-before.Txs, after.Groups-before.Groups, 1+len(queued))
	}
	for _, tx := range append([]*chain.Tx{leader}, queued[:5]...) {
		if err := errs[tx.ID()]; err != nil || !n.Chain().Mempool().Has(tx.ID()) {
			t.Fatalf("good tx: err %v, pooled %v", err, n.Chain().Mempool().Has(tx.ID()))
		}
	}
	if err := errs[forged.ID()]; !errors.Is(err, chain.ErrBadSignature) {
		t.Fatalf("forged tx: %v, want a bad signature", err)
	}
	// Alone now (no group running): admitted at once.
	if err := n.SubmitTx(ctx, alone); err != nil {
		t.Fatal(err)
	}
	if err := n.SubmitTx(ctx, senders[6].NewTx(g, to, 2, 1, 0)); !errors.Is(err, chain.ErrBadNonce) {
		t.Fatalf("second spend of a nonce: %v, want a bad nonce", err)
	}
}
