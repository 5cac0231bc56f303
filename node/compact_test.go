package node

import (
	"bufio"
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/pow"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
)

// buildFundedChain writes a chain with one block per wallet, each block's
// coinbase paying that wallet, so each can send BlockReward coins.
func buildFundedChain(t testing.TB, dir string, p chain.Params, wallets []*chain.Wallet) {
	t.Helper()
	c, err := chain.Open(filepath.Join(dir, ChainFile), chain.Options{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parent := chain.Genesis(p)
	ts := p.GenesisTime
	var blocks []*chain.Block
	for _, w := range wallets {
		ts = ts.Add(time.Second)
		b := &chain.Block{
			Header: chain.Header{Index: parent.Index + 1, Timestamp: ts.UnixMilli(), PrevHash: parent.Hash(), Bits: p.InitialBits},
			Txs:    []*chain.Tx{{Recipient: w.Address(), Amount: p.BlockReward, Nonce: parent.Index + 1}},
		}
		b.MerkleRoot = chain.MerkleRoot(b.Txs)
		solve(b)
		blocks = append(blocks, b)
		parent = b
	}
	if _, _, err := c.AddBlocks(blocks); err != nil {
		t.Fatal(err)
	}
}

func solve(b *chain.Block) {
	target, _ := pow.TargetFromBits(b.Bits)
	for n := uint64(0); ; n++ {
		b.Nonce = n
		h := [32]byte(b.Hash())
		if pow.HashMeetsTarget(&h, target) {
			return
		}
	}
}

func testWallets(k int) []*chain.Wallet {
	ws := make([]*chain.Wallet, k)
	for i := range ws {
		ws[i] = chain.WalletFromSeed([32]byte{0xc0, byte(i >> 8), byte(i)})
	}
	return ws
}

// signTxs makes perSender transfers from each wallet, nonces from start.
func signTxs(p chain.Params, ws []*chain.Wallet, perSender int, start uint64) [][]*chain.Tx {
	to := chain.WalletFromSeed([32]byte{0xee}).Address()
	out := make([][]*chain.Tx, len(ws))
	for i, w := range ws {
		for k := range perSender {
			out[i] = append(out[i], w.NewTx(chain.NetworkID(p), to, 1, 0, start+uint64(k)))
		}
	}
	return out
}

func submitAll(t testing.TB, n *Node, groups [][]*chain.Tx) {
	t.Helper()
	for _, g := range groups {
		for _, tx := range g {
			if err := n.Chain().SubmitTx(tx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// compactPair starts A and B on the same funded chain, connected, with no
// status polls or rebroadcasts during the test (mempools stay as set).
func compactPair(t *testing.T, senders int) (a, b *Node, ws []*chain.Wallet) {
	t.Helper()
	p := chain.TestParams()
	ws = testWallets(senders)
	quiet := func(c *Config) { c.StatusInterval = time.Hour }
	da, db := t.TempDir(), t.TempDir()
	buildFundedChain(t, da, p, ws)
	buildFundedChain(t, db, p, ws)
	a = testNode(t, da, quiet)
	b = testNode(t, db, quiet)
	connectNodes(t, b, a)
	meshed(t, map[*Node]int{a: 1, b: 1})
	return a, b, ws
}

func waitHead(t *testing.T, n *Node, h chain.Hash) {
	t.Helper()
	waitFor(t, 30*time.Second, "the block to arrive", func() bool { return n.Chain().Tip().Hash == h })
}

// A 2,000-tx block mined at A reaches B as a compact block: with B's
// mempool holding every tx it is rebuilt with no request, and the gossip
// message is under 10% of the block; with 10% of them missing, exactly
// those are asked for, in one request.
func TestCompactBlockRebuiltFromMempool(t *testing.T) {
	a, b, ws := compactPair(t, 200)
	p := a.cfg.Params
	round1 := signTxs(p, ws, 10, 0)
	submitAll(t, a, round1)
	submitAll(t, b, round1)
	blk, err := a.MineBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(blk.Txs) != 2001 {
		t.Fatalf("block of %d txs, want 2001", len(blk.Txs))
	}
	waitHead(t, b, blk.Hash())
	st := b.CompactStats()
	if st.Received != 1 || st.Rebuilt != 1 || st.TxnRequests != 0 || st.FullFetches != 0 {
		t.Fatalf("in sync: %+v, want one block rebuilt with no request", st)
	}
	ratio := float64(st.GossipBytes) / float64(blk.Size())
	t.Logf("compact message %d bytes, block %d bytes: %.2f%%", st.GossipBytes, blk.Size(), 100*ratio)
	if ratio > 0.10 {
		t.Fatalf("compact block is %.1f%% of the block", 100*ratio)
	}

	round2 := signTxs(p, ws, 10, 10)
	submitAll(t, a, round2)
	submitAll(t, b, round2[20:]) // B lacks 20 senders' txs: 200 of 2,000
	blk2, err := a.MineBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitHead(t, b, blk2.Hash())
	st2 := b.CompactStats()
	if got := st2.TxnRequests - st.TxnRequests; got != 1 {
		t.Fatalf("%d blocktxn requests, want 1", got)
	}
	if got := st2.TxsRequested - st.TxsRequested; got != 200 {
		t.Fatalf("%d txs requested, want exactly the 200 missing", got)
	}
	if st2.FullFetches != 0 || st2.Collisions != 0 {
		t.Fatalf("fell back: %+v", st2)
	}
	if a.CompactStats().Served != 1 {
		t.Fatalf("A served %d requests, want 1", a.CompactStats().Served)
	}
}

// mineQuiet mines a block on n's head and adds it without gossiping it.
func mineQuiet(t *testing.T, n *Node) *chain.Block {
	t.Helper()
	b := n.Chain().NewBlockTemplate(n.Address())
	solve(b)
	if _, err := n.Chain().AddBlock(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// evilCompactPeer is a plain host on n's compact topic, connected to n,
// whose blocktxn handler is serve.
func evilCompactPeer(t *testing.T, n *Node, serve func(typ byte, h chain.Hash, indexes []int) []byte) (host.Host, *pubsub.Topic) {
	t.Helper()
	ctx := context.Background()
	evil := newTestHost(t, HostConfig{}, false)
	ps, err := NewGossipSub(ctx, evil, PubSubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	genesis := n.Chain().GenesisHash()
	topic, err := JoinTopic(ps, CompactTopicName(genesis[:]), TopicConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	evil.SetStreamHandler(BlockTxnProtocol, func(s network.Stream) {
		defer s.Close()
		req, err := readFrame(bufio.NewReader(s), maxTxnRequestBytes)
		if err != nil {
			s.Reset()
			return
		}
		typ, h, idx, err := decodeTxnRequest(req, 4000)
		if err != nil {
			s.Reset()
			return
		}
		writeFrame(s, serve(typ, h, idx))
	})
	info, err := ParsePeerAddr(n.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := evil.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "evil peer on the compact topic", func() bool {
		return len(topic.ListPeers()) > 0 && n.mesh.count(topic.String()) >= 1
	})
	return evil, topic
}

// A peer that answers the blocktxn request with wrong transactions is
// penalised, and the block still arrives: fetched whole from another peer.
func TestCompactWrongTxsPenalisedAndBlockFetched(t *testing.T) {
	a, b, ws := compactPair(t, 20)
	p := a.cfg.Params
	txs := signTxs(p, ws, 5, 0)
	submitAll(t, a, txs)
	submitAll(t, b, txs[5:]) // B lacks 25 txs
	blk := mineQuiet(t, a)   // only A has it; E announces it
	evil, topic := evilCompactPeer(t, b, func(typ byte, h chain.Hash, idx []int) []byte {
		if typ == txnReqBlock {
			return nil // "don't have it": B must ask someone else
		}
		wrong := make([]*chain.Tx, len(idx))
		for k := range wrong {
			wrong[k] = txs[10][0] // a real, signed tx, at the wrong places
		}
		return encodeTxnReply(wrong)
	})
	if err := topic.Publish(context.Background(), newCompactBlock(blk, 1).Bytes()); err != nil {
		t.Fatal(err)
	}
	waitHead(t, b, blk.Hash())
	if b.Penalty(evil.ID()) == 0 {
		t.Fatal("the peer that sent wrong txs was not penalised")
	}
	if st := b.CompactStats(); st.TxnRequests != 1 || st.FullFetches != 1 {
		t.Fatalf("%+v: want one tx request, then one whole-block fetch", st)
	}
}

// Short-id collisions are honest: the block is fetched whole and nobody is
// penalised. Two of the block's txs sharing a short id (the sender cannot
// tell them apart) and a pending tx taking the short id of one of the
// block's (a Merkle mismatch after the rebuild) both fall back.
func TestCompactShortIDCollisionFallsBack(t *testing.T) {
	a, b, ws := compactPair(t, 20)
	p := a.cfg.Params
	txs := signTxs(p, ws, 5, 0)
	submitAll(t, a, txs[:10])
	submitAll(t, b, txs)
	evil, topic := evilCompactPeer(t, b, func(typ byte, h chain.Hash, idx []int) []byte {
		blk, err := a.Chain().BlockByHash(h)
		if err != nil || typ != txnReqBlock {
			return nil
		}
		return blk.Bytes()
	})

	// Two of the block's txs with one short id.
	blk := mineQuiet(t, a)
	cb := newCompactBlock(blk, 2)
	cb.ShortIDs[7] = cb.ShortIDs[3]
	if err := topic.Publish(context.Background(), cb.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitHead(t, b, blk.Hash())
	if st := b.CompactStats(); st.Collisions != 1 || st.FullFetches != 1 || st.TxnRequests != 0 {
		t.Fatalf("%+v: want one collision and one whole-block fetch", st)
	}

	// B's pending tx of sender 19 (not in A's block) matches a short id of
	// the block: rebuilt with it, the Merkle root is wrong.
	submitAll(t, a, txs[10:19])
	blk2 := mineQuiet(t, a)
	cb2 := newCompactBlock(blk2, 3)
	cb2.ShortIDs[5] = shortID(cb2.key, txs[19][0].ID())
	if err := topic.Publish(context.Background(), cb2.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitHead(t, b, blk2.Hash())
	if st := b.CompactStats(); st.Collisions != 2 || st.FullFetches != 2 {
		t.Fatalf("%+v: want two collisions and two whole-block fetches", st)
	}
	if b.Penalty(evil.ID()) != 0 {
		t.Fatal("a collision was penalised")
	}
}

// A compact block whose header fails is refused before any tx work: no
// rebuild, no request, the sender penalised.
func TestCompactBadHeaderRejectedFirst(t *testing.T) {
	a, b, ws := compactPair(t, 20)
	p := a.cfg.Params
	txs := signTxs(p, ws, 5, 0)
	submitAll(t, a, txs)
	blk := a.Chain().NewBlockTemplate(a.Address())
	blk.Bits = p.LimitBits // easier than the parent requires
	solve(blk)
	evil, topic := evilCompactPeer(t, b, func(byte, chain.Hash, []int) []byte { return nil })
	if err := topic.Publish(context.Background(), newCompactBlock(blk, 4).Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "B to penalise the sender of a bad header", func() bool {
		return b.Penalty(evil.ID()) > 0
	})
	if st := b.CompactStats(); st.Received != 0 || st.TxnRequests != 0 || st.FullFetches != 0 {
		t.Fatalf("tx work for a bad header: %+v", st)
	}
}

func TestCompactWireRoundTrip(t *testing.T) {
	p := chain.TestParams()
	ws := testWallets(3)
	blk := &chain.Block{Header: chain.Header{Index: 2, Timestamp: 5, Bits: p.InitialBits}}
	blk.Txs = append([]*chain.Tx{{Recipient: ws[0].Address(), Amount: 50, Nonce: 2}}, signTxs(p, ws, 4, 0)[1]...)
	cb := newCompactBlock(blk, 99)
	enc := cb.Bytes()
	ids := make([]chain.Hash, len(blk.Txs))
	for i, tx := range blk.Txs {
		ids[i] = tx.ID()
	}
	if !bytes.Equal(newCompactBlockIDs(blk, 99, ids).Bytes(), enc) {
		t.Fatal("the compact block made with the ids known differs")
	}
	got, err := decodeCompactBlock(enc, 4000)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), enc) || got.hash != blk.Hash() || got.key != cb.key || got.Count != 5 {
		t.Fatal("compact block does not round-trip")
	}
	if want := chain.HeaderSize + 8 + 1 + 1 + 1 + chain.TxSize + 4*shortIDSize; len(enc) != want {
		t.Fatalf("compact block of %d bytes, want %d", len(enc), want)
	}
	req := encodeTxnRequest(blk.Hash(), []int{1, 3, 4})
	typ, h, idx, err := decodeTxnRequest(req, 5)
	if err != nil || typ != txnReqTxs || h != blk.Hash() || len(idx) != 3 || idx[2] != 4 {
		t.Fatalf("request: %v %v %v", typ, idx, err)
	}
	if _, _, _, err := decodeTxnRequest(req, 4); err == nil {
		t.Fatal("index 4 of a 4-tx block accepted")
	}
	if _, err := decodeTxnReply(encodeTxnReply(blk.Txs[1:3]), 3); err == nil {
		t.Fatal("a reply of 2 txs accepted for 3")
	}
}

func FuzzDecodeCompactBlock(f *testing.F) {
	p := chain.TestParams()
	ws := testWallets(2)
	blk := &chain.Block{Header: chain.Header{Index: 2, Bits: p.InitialBits}}
	blk.Txs = append([]*chain.Tx{{Recipient: ws[0].Address(), Amount: 50, Nonce: 2}}, signTxs(p, ws, 3, 0)[0]...)
	f.Add(newCompactBlock(blk, 7).Bytes())
	cb := newCompactBlock(blk, 8)
	cb.Prefilled = append(cb.Prefilled, prefilled{2, blk.Txs[2]})
	cb.ShortIDs = cb.ShortIDs[:2]
	f.Add(cb.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		cb, err := decodeCompactBlock(data, 16)
		if err != nil {
			return
		}
		if cb.Count > 16 || len(cb.Prefilled)+len(cb.ShortIDs) != cb.Count || cb.Prefilled[0].Index != 0 {
			t.Fatalf("inconsistent compact block accepted: %d txs, %d prefilled, %d short ids", cb.Count, len(cb.Prefilled), len(cb.ShortIDs))
		}
		if !bytes.Equal(cb.Bytes(), data) {
			t.Fatal("accepted a compact block that does not encode back to its bytes")
		}
	})
}

func FuzzDecodeTxnRequest(f *testing.F) {
	f.Add(encodeTxnRequest(chain.Hash{1}, []int{0, 5, 6}))
	f.Add(encodeBlockRequest(chain.Hash{2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, h, idx, err := decodeTxnRequest(data, 64)
		if err != nil {
			return
		}
		var enc []byte
		if typ == txnReqBlock {
			enc = encodeBlockRequest(h)
		} else {
			for k, i := range idx {
				if i >= 64 || (k > 0 && i <= idx[k-1]) {
					t.Fatalf("index %d accepted", i)
				}
			}
			enc = encodeTxnRequest(h, idx)
		}
		if !bytes.Equal(enc, data) {
			t.Fatal("accepted a request that does not encode back to its bytes")
		}
	})
}

func FuzzDecodeTxnReply(f *testing.F) {
	ws := testWallets(1)
	f.Add(encodeTxnReply(signTxs(chain.TestParams(), ws, 2, 0)[0]), 2)
	f.Fuzz(func(t *testing.T, data []byte, want int) {
		want = max(0, want%64)
		txs, err := decodeTxnReply(data, want)
		if err != nil {
			return
		}
		if len(txs) != want || !bytes.Equal(encodeTxnReply(txs), data) {
			t.Fatal("reply accepted with the wrong count or a second encoding")
		}
	})
}
