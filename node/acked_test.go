package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// fundWallets sends each wallet coins from the node's own and mines them.
func fundWallets(t *testing.T, n *Node, ws ...*chain.Wallet) {
	t.Helper()
	ctx := context.Background()
	for _, w := range ws {
		if _, err := n.Send(ctx, w.Address(), 20, 1); err != nil {
			t.Fatal(err)
		}
	}
	mineN(t, n, 1)
	for _, w := range ws {
		if n.Chain().Account(w.Address()).Balance < 20 {
			t.Fatal("funding not mined")
		}
	}
}

// nodeWithParkedSend returns a node (pool capped at 2) whose wallet's
// first transfer was evicted by two better-paying ones and parked.
func nodeWithParkedSend(t *testing.T) (*Node, *chain.Tx) {
	t.Helper()
	n := testNode(t, "", func(c *Config) { c.MempoolMaxTxs = 2 })
	mineN(t, n, 2)
	bob, carol := chain.NewWallet(), chain.NewWallet()
	fundWallets(t, n, bob, carol)
	first, err := n.Send(context.Background(), chain.NewWallet().Address(), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	g, to := n.Chain().GenesisHash(), chain.NewWallet().Address()
	for _, tx := range []*chain.Tx{bob.NewTx(g, to, 1, 5, 0), carol.NewTx(g, to, 1, 6, 0)} {
		if err := n.Chain().SubmitTx(tx); err != nil {
			t.Fatal(err)
		}
	}
	if n.Chain().Mempool().Has(first.ID()) || len(n.ParkedTxs()) != 1 {
		t.Fatalf("setup: the node's transfer not evicted and parked (pending %v, parked %d)", n.Chain().Mempool().Has(first.ID()), len(n.ParkedTxs()))
	}
	return n, first
}

// waitMined mines until every id is on the main chain.
func waitMined(t *testing.T, n *Node, ids ...chain.Hash) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for !txOnMain(n, id) {
			if time.Now().After(deadline) {
				t.Fatalf("acknowledged tx %s never mined (pending %v, parked %d)", id, n.Chain().Mempool().Has(id), len(n.ParkedTxs()))
			}
			mineN(t, n, 1)
			time.Sleep(parkInterval / 4)
		}
	}
}

// An acknowledged transaction that a full pool evicts for better-paying
// ones from gossip is parked, kept in the log across a restart, and mined
// once there is room. It used to be dropped: acknowledged, then lost.
func TestEvictedAcknowledgedTxParked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	small := func(c *Config) { c.MempoolMaxTxs = 2 }
	n := testNode(t, dir, small)
	mineN(t, n, 2)
	alice, bob, carol := chain.NewWallet(), chain.NewWallet(), chain.NewWallet()
	fundWallets(t, n, alice, bob)
	fundWallets(t, n, carol)
	g, to := n.Chain().GenesisHash(), chain.NewWallet().Address()
	acked := alice.NewTx(g, to, 1, 1, 0)
	if err := n.SubmitTx(ctx, acked); err != nil {
		t.Fatal(err)
	}
	// A retry of it (an answer lost on the way) is refused as known and
	// must leave it acknowledged.
	if err := n.SubmitTx(ctx, acked); !errors.Is(err, chain.ErrKnownTx) {
		t.Fatalf("retry: %v, want ErrKnownTx", err)
	}
	// Two better-paying transactions as from gossip (not acknowledged
	// here) fill the pool: the acknowledged one is evicted.
	for _, tx := range []*chain.Tx{bob.NewTx(g, to, 1, 5, 0), carol.NewTx(g, to, 1, 6, 0)} {
		if err := n.Chain().SubmitTx(tx); err != nil {
			t.Fatal(err)
		}
	}
	if n.Chain().Mempool().Has(acked.ID()) {
		t.Fatal("setup: the acknowledged tx was not evicted")
	}
	parked := n.ParkedTxs()
	if len(parked) != 1 || parked[0].ID() != acked.ID() {
		t.Fatalf("evicted acknowledged tx not parked (%d parked)", len(parked))
	}
	// A restart (the log, compacted at Close) keeps it.
	n.Close()
	n = testNode(t, dir, small)
	if !n.Chain().Mempool().Has(acked.ID()) && len(n.ParkedTxs()) == 0 {
		t.Fatal("the evicted acknowledged tx is gone after a restart")
	}
	waitMined(t, n, acked.ID())
}

// The node's wallet never reuses the nonce of one of its own parked
// transactions: that would make the node itself the author of the
// conflicting spend that voids its own acknowledgement (the chaos test
// lost five node-wallet transfers so). A transfer behind parked ones is
// parked with them, and all are mined.
func TestSendSkipsOwnParkedNonce(t *testing.T) {
	ctx := context.Background()
	n, first := nodeWithParkedSend(t)
	me := n.Address()
	second, err := n.Send(ctx, chain.NewWallet().Address(), 1, 1)
	if err != nil {
		t.Fatalf("send behind a parked transfer: %v", err)
	}
	if second.Nonce != first.Nonce+1 {
		t.Fatalf("second transfer has nonce %d; the parked first has %d", second.Nonce, first.Nonce)
	}
	if _, next := n.Balance(me); next != second.Nonce+1 {
		t.Fatalf("next nonce %d, want %d (counting the parked)", next, second.Nonce+1)
	}
	waitMined(t, n, first.ID(), second.ID())
}

// A transfer behind the wallet's parked one is acknowledged only if the
// head's balance covers it and every earlier acknowledged transfer: the
// pool cannot check its funds while it waits. Without the check a wallet
// short of funds acknowledged transfers that could never be mined (the
// chaos test lost 89 that way).
func TestSendBehindParkedNeedsFunds(t *testing.T) {
	ctx := context.Background()
	n, first := nodeWithParkedSend(t)
	me := n.Address()
	if st := n.Status(); st.Parked != 1 || st.ParkedAcknowledged != 1 {
		t.Fatalf("status: %d parked, %d acknowledged, want 1 and 1", st.Parked, st.ParkedAcknowledged)
	}
	balance := n.Chain().Account(me).Balance
	left := balance - first.Amount - first.Fee
	_, nextBefore := n.Balance(me)
	acked := n.acked.len()
	// One coin more than what the parked transfer leaves.
	if _, err := n.Send(ctx, chain.NewWallet().Address(), left, 1); !errors.Is(err, chain.ErrInsufficientBalance) {
		t.Fatalf("a transfer the wallet cannot fund behind a parked one: %v, want ErrInsufficientBalance", err)
	}
	if _, next := n.Balance(me); next != nextBefore || n.acked.len() != acked || len(n.ParkedTxs()) != 1 {
		t.Fatalf("the refusal changed something: next nonce %d (was %d), %d acknowledged (was %d), %d parked", next, nextBefore, n.acked.len(), acked, len(n.ParkedTxs()))
	}
	// What the balance covers is acknowledged behind the parked one.
	second, err := n.Send(ctx, chain.NewWallet().Address(), left-1, 1)
	if err != nil {
		t.Fatalf("a transfer the wallet can fund: %v", err)
	}
	if second.Nonce != first.Nonce+1 || !n.Parked(second.ID()) {
		t.Fatalf("second: nonce %d (first %d), parked %v", second.Nonce, first.Nonce, n.Parked(second.ID()))
	}
	waitMined(t, n, first.ID(), second.ID())
}

// Past MaxAcknowledged transactions not yet mined, a new one is refused
// (503 at the API) and nothing changes.
func TestAcknowledgedBound(t *testing.T) {
	ctx := context.Background()
	n := testNode(t, "", func(c *Config) { c.MaxAcknowledged = 3 })
	mineN(t, n, 2)
	to := chain.NewWallet().Address()
	for range 3 {
		if _, err := n.Send(ctx, to, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	_, err := n.Send(ctx, to, 1, 1)
	if err == nil || !isMempoolFull(err) {
		t.Fatalf("fourth send: %v, want a refusal wrapping ErrMempoolFull", err)
	}
	if n.Chain().Mempool().Len() != 3 {
		t.Fatalf("%d pending after the refusal", n.Chain().Mempool().Len())
	}
	mineN(t, n, 1) // the three are mined: room again
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := n.Send(ctx, to, 1, 1); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("still refused after the acknowledged were mined: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isMempoolFull(err error) bool { return errors.Is(err, chain.ErrMempoolFull) }
