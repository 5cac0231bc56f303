package node

import (
	"bufio"
	"context"
	"errors"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/network"
)

// TestInvalidBlocksAndGarbageFromPeer: an evil peer connected to B publishes
// blocks with a bad proof, a bad signature and an unknown parent, and
// answers sync requests with garbage. C, behind B, never receives an invalid
// block; B and C keep working; the evil peer is penalised.
func TestInvalidBlocksAndGarbageFromPeer(t *testing.T) {
	ctx := context.Background()
	b, c := testNode(t, ""), testNode(t, "")
	connectNodes(t, b, c)
	mineN(t, b, 1) // a parent for the evil blocks
	waitFor(t, 20*time.Second, "B and C agree", func() bool { return sameHead(b, c) && c.Chain().Tip().Index == 2 })

	// The evil peer: a plain host with gossipsub and no validators.
	evil := newTestHost(t, HostConfig{}, false)
	genesis := b.Chain().GenesisHash()
	var lie atomic.Bool // claim huge work only once the gossip part is done
	evil.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		r := bufio.NewReader(s)
		req, err := readFrame(r, maxRequestBytes)
		if err != nil || len(req) == 0 {
			return
		}
		if req[0] == reqStatus {
			work := big.NewInt(1)
			if lie.Load() {
				work.Lsh(work, 200)
			}
			writeFrame(s, encodeStatus(PeerStatus{Genesis: genesis, Head: chain.Hash{9}, Index: 1 << 30, Work: work}))
			return
		}
		writeFrame(s, []byte("\x05this is not a batch of blocks"))
	})
	ps, err := NewGossipSub(ctx, evil, PubSubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	_, blockName := TopicNames(genesis[:])
	topic, err := JoinTopic(ps, blockName, TopicConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	info, err := ParsePeerAddr(b.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := evil.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "evil peer in B's block mesh", func() bool {
		return len(topic.ListPeers()) > 0 && b.mesh.count(blockName) >= 2
	})

	tip, _ := b.Chain().BlockByIndex(2)
	miner := chain.WalletFromSeed([32]byte{66})
	mk := func(mutate func(*chain.Block)) *chain.Block {
		blk := &chain.Block{
			Header: chain.Header{Index: 3, Timestamp: tip.Timestamp + 1000, PrevHash: tip.Hash(), Bits: tip.Bits},
			Txs:    []*chain.Tx{{Recipient: miner.Address(), Amount: 50, Nonce: 3}},
		}
		mutate(blk)
		blk.MerkleRoot = chain.MerkleRoot(blk.Txs)
		return blk
	}
	solveBlock := func(blk *chain.Block, wantValid bool) {
		for n := uint64(0); ; n++ {
			blk.Nonce = n
			err := chain.CheckBlockSanity(blk, b.Chain().Params())
			if valid := err == nil || !isPoWErr(err); valid == wantValid {
				return
			}
		}
	}
	badPoW := mk(func(*chain.Block) {})
	solveBlock(badPoW, false)
	badSig := mk(func(blk *chain.Block) {
		tx := miner.NewTx(b.Chain().GenesisHash(), chain.NewWallet().Address(), 1, 0, 0)
		tx.Signature[0] ^= 1
		blk.Txs = append(blk.Txs, tx)
	})
	solveBlock(badSig, true)
	orphan := mk(func(blk *chain.Block) { blk.PrevHash = chain.Hash{1, 2, 3} })
	solveBlock(orphan, true)

	for _, blk := range []*chain.Block{badPoW, badSig} {
		if err := topic.Publish(ctx, blk.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "B's gossip score for the evil peer to drop", func() bool {
		return b.scores.Score(evil.ID()) < 0
	})
	lie.Store(true)
	if err := topic.Publish(ctx, orphan.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "B to penalise the evil peer's garbage sync replies", func() bool {
		return b.Penalty(evil.ID()) > 0
	})
	waitFor(t, 10*time.Second, "B to drop the evil peer", func() bool {
		return b.Host().Network().Connectedness(evil.ID()) != network.Connected
	})

	// The honest pair still works, and C never saw the bad blocks.
	blk, err := c.MineBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "B to get C's block", func() bool { return b.Chain().IsMain(blk.Hash()) })
	for _, bad := range []*chain.Block{badPoW, badSig} {
		if c.Chain().HasBlock(bad.Hash()) || b.Chain().IsMain(bad.Hash()) {
			t.Fatalf("invalid block %s got through", bad.Hash())
		}
	}
	if c.Chain().HasBlock(orphan.Hash()) {
		t.Fatal("C received the evil orphan: B forwarded a block it could not validate")
	}
	// The first invalid block bans its sender (severe), so the second
	// may never reach B's validator: one rejection is enough.
	if got := b.Metrics().BlocksRejected.Load(); got < 1 {
		t.Fatalf("B counted %d rejected blocks, want at least 1", got)
	}
}

func isPoWErr(err error) bool {
	return errors.Is(err, chain.ErrBadPoW)
}
