package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/pow"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
)

// weakBranch builds k valid blocks on parent at p's initial bits: real
// proof of work, little of it.
func weakBranch(p chain.Params, parent *chain.Block, k int) []*chain.Block {
	miner := chain.WalletFromSeed([32]byte{66})
	var out []*chain.Block
	for range k {
		index := parent.Index + 1
		b := &chain.Block{
			Header: chain.Header{Index: index, Timestamp: parent.Timestamp + 1000, PrevHash: parent.Hash(), Bits: p.InitialBits},
			Txs:    []*chain.Tx{{Recipient: miner.Address(), Amount: p.BlockReward, Nonce: index}},
		}
		b.MerkleRoot = chain.MerkleRoot(b.Txs)
		target, _ := pow.TargetFromBits(b.Bits)
		for b.Nonce = 0; ; b.Nonce++ {
			h := [32]byte(b.Hash())
			if pow.HashMeetsTarget(&h, target) {
				break
			}
		}
		out = append(out, b)
		parent = b
	}
	return out
}

// evilGossip joins the block topic of n's network on h and waits until h
// is in n's block mesh.
func evilGossip(t *testing.T, h host.Host, n *Node) *pubsub.Topic {
	t.Helper()
	ctx := context.Background()
	ps, err := NewGossipSub(ctx, h, PubSubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	genesis := n.Chain().GenesisHash()
	_, blockName := TopicNames(genesis[:])
	topic, err := JoinTopic(ps, blockName, TopicConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	info, err := ParsePeerAddr(n.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "evil peer in the block mesh", func() bool {
		return len(topic.ListPeers()) > 0 && n.mesh.count(blockName) >= 1
	})
	return topic
}

// TestLowWorkBranchByGossip: a peer publishes a valid block on the genesis
// while B's chain is far ahead. B neither stores nor relays it (C never
// sees it), and does not penalise the sender: an honest miner that is
// behind sends such blocks too (the chaos test saw one banned by all).
func TestLowWorkBranchByGossip(t *testing.T) {
	b, c := testNode(t, ""), testNode(t, "")
	connectNodes(t, b, c)
	mineN(t, b, chain.LowWorkMargin+3)
	waitFor(t, 20*time.Second, "B and C agree", func() bool { return sameHead(b, c) && c.Chain().Tip().Index == chain.LowWorkMargin+4 })

	evil := newTestHost(t, HostConfig{}, false)
	topic := evilGossip(t, evil, b)
	low := weakBranch(b.Chain().Params(), chain.Genesis(b.Chain().Params()), 1)[0]
	if err := topic.Publish(context.Background(), low.Bytes()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "B to ignore the low-work block", func() bool { return b.Metrics().BlocksLowWork.Load() > 0 })
	if pts := b.Penalty(evil.ID()); pts > 0 {
		t.Fatalf("the low-work block's sender was penalised: %.0f points", pts)
	}
	if b.Chain().HasBlock(low.Hash()) || c.Chain().HasBlock(low.Hash()) {
		t.Fatal("a low-work side-branch block was stored")
	}
	// Gossip relays a block to C only after B's validator accepts it: a
	// block mined now reaches C, the low-work one never did.
	blk, err := b.MineBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "C to get B's next block", func() bool { return c.Chain().IsMain(blk.Hash()) })
	if c.Chain().HasBlock(low.Hash()) {
		t.Fatal("the low-work block was relayed to C")
	}
}

// TestWeakHeadersPenalised: a peer claims far more work than ours in its
// status but its headers (a short branch from the genesis) show little; or
// it sends more headers than a session holds. B penalises it, never asks
// for its blocks, and stores nothing of its branch.
func TestWeakHeadersPenalised(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks int
	}{
		{"headers short of the claimed work", 3},
		// Heavier than B's 46 blocks, but only after more headers than
		// B's session of 40 holds.
		{"more headers than a session holds", 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testNode(t, "", func(c *Config) { c.HeaderSessionMax = 40 })
			mineN(t, b, 45)
			p := b.Chain().Params()
			branch := weakBranch(p, chain.Genesis(p), tc.blocks)

			evil := newTestHost(t, HostConfig{}, false)
			var blockRequests atomic.Int32
			evil.SetStreamHandler(SyncProtocol, func(s network.Stream) {
				defer s.Close()
				r := bufio.NewReader(s)
				req, err := readFrame(r, maxRequestBytes)
				if err != nil || len(req) == 0 {
					return
				}
				switch req[0] {
				case reqStatus:
					writeFrame(s, encodeStatus(PeerStatus{Genesis: b.Chain().GenesisHash(), Head: branch[len(branch)-1].Hash(), Index: 1 << 20, Work: new(big.Int).Lsh(big.NewInt(1), 100)}))
				case reqHeaders:
					loc, max, err := decodeBlocksRequest(req[1:])
					if err != nil {
						return
					}
					from := 0
					for i, blk := range branch {
						if blk.Hash() == loc[0] {
							from = i + 1
						}
					}
					var hs []chain.Header
					for _, blk := range branch[from:min(len(branch), from+max)] {
						hs = append(hs, blk.Header)
					}
					writeFrame(s, encodeHeaders(hs))
				default:
					blockRequests.Add(1)
					writeFrame(s, encodeBatch(branch))
					writeFrame(s, encodeBatch(nil))
				}
			})
			info, err := ParsePeerAddr(b.Addrs()[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := evil.Connect(context.Background(), info); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "B to penalise the peer", func() bool { return b.Penalty(evil.ID()) > 0 })
			if n := blockRequests.Load(); n != 0 {
				t.Fatalf("B asked the peer for blocks %d times", n)
			}
			for _, blk := range branch {
				if b.Chain().HasBlock(blk.Hash()) {
					t.Fatalf("block %d of the weak branch stored", blk.Index)
				}
			}
			if got := b.Chain().Tip().Index; got != 46 {
				t.Fatalf("B's head moved to %d", got)
			}
		})
	}
}

func TestHeadersWire(t *testing.T) {
	p := chain.TestParams()
	branch := weakBranch(p, chain.Genesis(p), 3)
	var hs []chain.Header
	for _, b := range branch {
		hs = append(hs, b.Header)
	}
	got, err := decodeHeaders(encodeHeaders(hs), 3)
	if err != nil || len(got) != 3 || got[2] != hs[2] {
		t.Fatalf("round trip: %v, %v", got, err)
	}
	if _, err := decodeHeaders(encodeHeaders(hs), 2); !errors.Is(err, errBadMessage) {
		t.Fatalf("3 headers where 2 were asked: %v", err)
	}
	enc := encodeHeaders(hs)
	if _, err := decodeHeaders(enc[:len(enc)-1], 3); !errors.Is(err, errBadMessage) {
		t.Fatalf("truncated: %v", err)
	}
	// The frame's size is checked before it is read.
	var buf bytes.Buffer
	writeFrame(&buf, make([]byte, maxHeadersFrame+1))
	if _, err := readFrame(bufio.NewReader(&buf), maxHeadersFrame); !errors.Is(err, errFrameTooBig) {
		t.Fatalf("oversized frame: %v", err)
	}
	if req := encodeHeadersRequest([]chain.Hash{{1}}, 5); req[0] != reqHeaders {
		t.Fatal("request type")
	} else if loc, max, err := decodeBlocksRequest(req[1:]); err != nil || max != 5 || loc[0] != (chain.Hash{1}) {
		t.Fatalf("request round trip: %v %d %v", loc, max, err)
	}
}

func FuzzDecodeHeaders(f *testing.F) {
	p := chain.TestParams()
	var hs []chain.Header
	for _, b := range weakBranch(p, chain.Genesis(p), 2) {
		hs = append(hs, b.Header)
	}
	f.Add(encodeHeaders(hs))
	f.Add(encodeHeaders(nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeHeaders(b, maxHeadersPerReply)
		if err != nil {
			return
		}
		if len(got) > maxHeadersPerReply {
			t.Fatalf("%d headers past the limit", len(got))
		}
		// The count may be a non-minimal uvarint; the headers must be
		// the input's bytes.
		enc := encodeHeaders(got)
		_, k := binary.Uvarint(enc)
		if !bytes.HasSuffix(b, enc[k:]) || len(b) > len(enc)-k+binary.MaxVarintLen64 {
			t.Fatal("decoded headers do not encode back to the input")
		}
	})
}

// TestHeadersPrefetched: a fresh node's headers come in replies of
// maxHeadersPerReply, each asked for before the one before it is checked.
// A 4,500-block chain takes three replies and no request more; a peer
// whose second reply does not link up is penalised, and nothing of its
// chain is stored, though the first reply was good and the third already
// asked for.
func TestHeadersPrefetched(t *testing.T) {
	p := chain.TestParams()
	blocks := downloadChain(p, 4500)
	for _, bad := range []bool{false, true} {
		t.Run(map[bool]string{false: "good replies", true: "second reply broken"}[bad], func(t *testing.T) {
			srv := servingNode(t, blocks)
			var headerReqs atomic.Int32
			srv.host.SetStreamHandler(SyncProtocol, func(s network.Stream) {
				defer s.Close()
				req, err := readFrame(bufio.NewReader(s), maxRequestBytes)
				if err != nil || len(req) == 0 {
					s.Reset()
					return
				}
				if req[0] != reqHeaders {
					srv.serveSyncRequest(s, req)
					return
				}
				k := headerReqs.Add(1)
				loc, max, err := decodeBlocksRequest(req[1:])
				if err != nil {
					s.Reset()
					return
				}
				hs := srv.Chain().MainHeadersAfter(loc, min(max, maxHeadersPerReply))
				if bad && k == 2 && len(hs) > 10 {
					hs[10].PrevHash = chain.Hash{1} // links to nothing
				}
				writeFrame(s, encodeHeaders(hs))
			})
			d := testNode(t, "", func(c *Config) { c.NoAutoSync = true })
			connectNodes(t, d, srv)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := d.syncParallel(ctx, srv.host.ID())
			if !bad {
				if err != nil || d.Chain().Tip().Hash != blocks[len(blocks)-1].Hash() {
					t.Fatalf("sync: %v, head at %d", err, d.Chain().Tip().Index)
				}
				// 2,000 + 2,000 + 500: the last is short, so nothing
				// after it is asked for.
				if n := headerReqs.Load(); n != 3 {
					t.Errorf("%d header requests, want 3", n)
				}
				return
			}
			if !errors.Is(err, errPeerMisbehaved) {
				t.Fatalf("sync from the broken peer: %v", err)
			}
			waitFor(t, 5*time.Second, "the peer penalised", func() bool { return d.Penalty(srv.host.ID()) > 0 })
			if got := d.Chain().Tip().Index; got != 1 {
				t.Fatalf("head moved to %d", got)
			}
		})
	}
}
