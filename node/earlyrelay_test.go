package node

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// quietFunded starts k nodes on one funded chain, with no status polls.
func quietFunded(t *testing.T, k int, ws []*chain.Wallet, mutate ...func(*Config)) []*Node {
	t.Helper()
	p := chain.TestParams()
	quiet := func(c *Config) { c.StatusInterval = time.Hour }
	nodes := make([]*Node, k)
	for i := range nodes {
		dir := t.TempDir()
		buildFundedChain(t, dir, p, ws)
		nodes[i] = testNode(t, dir, append([]func(*Config){quiet}, mutate...)...)
	}
	return nodes
}

// B relays a compact block before its own commit is done. A — B — C in a
// line; B's commits are held (holdCommits) before AddBlock. C, which hears
// of blocks only through B, has the block in its chain while B has not
// added it yet.
func TestCompactRelayedBeforeCommit(t *testing.T) {
	ws := testWallets(1)
	nodes := quietFunded(t, 3, ws)
	a, b, c := nodes[0], nodes[1], nodes[2]
	connectNodes(t, b, a)
	connectNodes(t, c, b)
	meshed(t, map[*Node]int{a: 1, b: 2, c: 1})

	// B's commits wait until released; its relay must not. (The test held
	// B's mempool lock, which AddBlock took before its commit; since the
	// verified-signature cache is per chain, AddBlock takes it after the
	// commit, under the chain's lock, and the test deadlocked.)
	release := b.holdCommits()
	defer release()

	blk, err := a.MineBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "C to add the block B relayed", func() bool { return c.Chain().IsMain(blk.Hash()) })
	if b.Chain().HasBlock(blk.Hash()) {
		t.Fatal("B added the block although its commits were held: the test proves nothing")
	}
	// Its child waits at B for the parent's commit (its header's
	// context needs the parent in the tree), so it is not relayed yet.
	blk2, err := a.MineBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st := b.CompactStats(); st.Relayed != 1 || st.Committed != 0 {
		t.Fatalf("B: %+v, want one block relayed and none committed yet", st)
	}
	release()
	waitFor(t, 30*time.Second, "B and C to add both blocks once B's commits are released", func() bool {
		return b.Chain().IsMain(blk2.Hash()) && c.Chain().IsMain(blk2.Hash())
	})
	if st := b.CompactStats(); st.Relayed != 2 || st.Committed != 2 || st.FailedAfterRelay != 0 {
		t.Fatalf("B: %+v, want both blocks relayed and committed", st)
	}
}

// A block with a valid header and a body matching its Merkle root that
// fails full validation (here: two transfers of one sender in the wrong
// nonce order, both pending everywhere, so every node rebuilds it) is
// relayed by B before B finds out. Neither B nor C connects it; the relay B is
// not penalised by C (BIP152: not for a block whose header was valid); the
// author E is, by both, medium for a state error. A child of the failed
// block is refused at once, medium. A block whose shape is broken (a bad
// coinbase) is refused at once and not relayed: severe, E is banned.
func TestCompactBlockFailingAfterRelay(t *testing.T) {
	ws := testWallets(1)
	nodes := quietFunded(t, 2, ws)
	b, c := nodes[0], nodes[1]
	connectNodes(t, c, b)
	meshed(t, map[*Node]int{b: 1, c: 1})
	p := b.cfg.Params
	txs := signTxs(p, ws, 2, 0)
	submitAll(t, b, txs)
	submitAll(t, c, txs)
	evil, topic := evilCompactPeer(t, b, func(byte, chain.Hash, []int) []byte { return nil })
	tip := b.Chain().Tip().Hash

	bad := b.Chain().NewBlockTemplate(chain.WalletFromSeed([32]byte{0xe1}).Address())
	if len(bad.Txs) != 3 {
		t.Fatalf("template of %d txs, want 3", len(bad.Txs))
	}
	bad.Txs[1], bad.Txs[2] = bad.Txs[2], bad.Txs[1] // nonce 1 before nonce 0
	bad.MerkleRoot = chain.MerkleRoot(bad.Txs)
	solve(bad)
	if err := topic.Publish(context.Background(), newCompactBlock(bad, 7).Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "B and C to find the relayed block invalid", func() bool {
		return b.CompactStats().FailedAfterRelay == 1 && c.CompactStats().FailedAfterRelay == 1
	})
	for _, n := range []*Node{b, c} {
		// A block that fails against state is kept in the tree marked
		// invalid (so its descendants are refused by their headers).
		if n.Chain().IsMain(bad.Hash()) || n.Chain().Tip().Hash != tip || !n.Chain().IsInvalid(bad.Hash()) {
			t.Fatal("the invalid block was connected, or not marked invalid")
		}
		if got := n.Penalty(evil.ID()); got < float64(SeverityMedium)-1 || got > float64(SeverityMedium) {
			t.Fatalf("author penalised %.1f points, want medium (%v)", got, SeverityMedium)
		}
	}
	if b.CompactStats().Relayed != 1 || c.CompactStats().Received != 1 {
		t.Fatal("B did not relay the block to C")
	}
	if got := c.Penalty(b.host.ID()); got != 0 {
		t.Fatalf("C penalised the relay B (%.1f points) for a block with a valid header", got)
	}

	// Its child: refused by its header, medium, not relayed.
	child := &chain.Block{
		Header: chain.Header{Index: bad.Index + 1, Timestamp: bad.Timestamp + 1, PrevHash: bad.Hash(), Bits: bad.Bits},
		Txs:    []*chain.Tx{{Recipient: chain.WalletFromSeed([32]byte{0xe1}).Address(), Amount: p.BlockReward, Nonce: bad.Index + 1}},
	}
	child.MerkleRoot = chain.MerkleRoot(child.Txs)
	solve(child)
	if err := topic.Publish(context.Background(), newCompactBlock(child, 8).Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "B to penalise the child of the failed block", func() bool {
		return b.Penalty(evil.ID()) >= 2*float64(SeverityMedium)-1
	})

	// A bad coinbase: broken shape, refused before relay, severe.
	shape := b.Chain().NewBlockTemplate(chain.WalletFromSeed([32]byte{0xe1}).Address())
	shape.Txs[0].Nonce++ // a coinbase's nonce must be its block's index
	shape.MerkleRoot = chain.MerkleRoot(shape.Txs)
	solve(shape)
	if err := topic.Publish(context.Background(), newCompactBlock(shape, 9).Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "B to ban the author of a malformed block", func() bool { return b.IsBanned(evil.ID()) })
	if st := b.CompactStats(); st.Relayed != 1 {
		t.Fatalf("B relayed %d blocks, want only the first", st.Relayed)
	}
	if st := c.CompactStats(); st.Received != 1 {
		t.Fatalf("C received %d compact blocks, want only the first", st.Received)
	}
}

// A block whose missing transaction carries a bad signature (served by its
// author over blocktxn, matching its short id) is relayed, then fails its
// signature check: it is not stored, its author is banned (severe), and the
// same block sent again in another message by another peer costs a lookup:
// no rebuild, no request, no penalty for that peer.
func TestCompactBadSignatureAfterRelay(t *testing.T) {
	ws := testWallets(2)
	var validated atomic.Int64 // block messages whose validator returned
	nodes := quietFunded(t, 1, ws, func(c *Config) {
		c.Observe = func(name string, _ float64) {
			if name == "gossip_block" {
				validated.Add(1)
			}
		}
	})
	b := nodes[0]
	p := b.cfg.Params
	txs := signTxs(p, ws, 1, 0)
	submitAll(t, b, txs[:1])
	forged := *txs[1][0]
	forged.Signature[5] ^= 1
	bad := b.Chain().NewBlockTemplate(chain.WalletFromSeed([32]byte{0xe2}).Address())
	bad.Txs = append(bad.Txs, &forged)
	bad.MerkleRoot = chain.MerkleRoot(bad.Txs)
	solve(bad)
	serve := func(typ byte, h chain.Hash, idx []int) []byte {
		if typ != txnReqTxs || h != bad.Hash() {
			return nil
		}
		out := make([]*chain.Tx, len(idx))
		for k, i := range idx {
			out[k] = bad.Txs[i]
		}
		return encodeTxnReply(out)
	}
	evil, topic := evilCompactPeer(t, b, serve)
	if err := topic.Publish(context.Background(), newCompactBlock(bad, 1).Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "B to find the relayed block's signature bad", func() bool {
		return b.CompactStats().FailedAfterRelay == 1
	})
	if st := b.CompactStats(); st.Relayed != 1 || st.TxsRequested != 1 {
		t.Fatalf("%+v: want the block relayed after one tx was fetched", st)
	}
	if b.Chain().HasBlock(bad.Hash()) || !b.IsBanned(evil.ID()) {
		t.Fatal("want the block not stored and its author banned")
	}

	other, topic2 := evilCompactPeer(t, b, serve)
	before, seen := b.CompactStats(), validated.Load()
	if err := topic2.Publish(context.Background(), newCompactBlock(bad, 2).Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "B to validate the second message", func() bool { return validated.Load() > seen })
	if st := b.CompactStats(); st.Received != before.Received || st.TxnRequests != before.TxnRequests {
		t.Fatalf("%+v: the known-failed block was worked on again", st)
	}
	if got := b.Penalty(other.ID()); got != 0 {
		t.Fatalf("the peer that relayed a known-failed block was penalised %.1f points", got)
	}
}

// A block relayed but not yet added is served to the peers it was relayed
// to: its missing transactions and the whole block, over the real
// blocktxn protocol, from the pending set.
func TestPendingBlockServed(t *testing.T) {
	ws := testWallets(5)
	nodes := quietFunded(t, 2, ws)
	a, b := nodes[0], nodes[1]
	connectNodes(t, b, a)
	submitAll(t, a, signTxs(a.cfg.Params, ws, 1, 0))
	blk := a.Chain().NewBlockTemplate(a.Address())
	solve(blk)
	ctx := context.Background()
	if _, err := b.requestTxs(ctx, a.host.ID(), blk.Hash(), []int{1, 3}); err == nil {
		t.Fatal("A served a block it neither stores nor holds")
	}
	release := a.compact.early.hold(blk)
	defer release()
	txs, err := b.requestTxs(ctx, a.host.ID(), blk.Hash(), []int{1, 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 2 || txs[0].ID() != blk.Txs[1].ID() || txs[1].ID() != blk.Txs[3].ID() {
		t.Fatal("A served the wrong transactions")
	}
	got, err := b.fetchFullBlock(ctx, blk.Hash(), a.host.ID(), false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Block.Hash() != blk.Hash() || len(got.Block.Txs) != len(blk.Txs) {
		t.Fatal("A served another block")
	}
	if a.Chain().HasBlock(blk.Hash()) {
		t.Fatal("the block was added: the test proves nothing")
	}
}
