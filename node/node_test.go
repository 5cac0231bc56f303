package node

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/pow"
	"github.com/libp2p/go-libp2p/core/network"
)

// testNode starts a real node on loopback with the easy test network.
func testNode(t testing.TB, dir string, mutate ...func(*Config)) *Node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := Config{
		DataDir:      dir,
		Params:       chain.TestParams(),
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0"},
		MinerWorkers: 1,
		Logger:       testLogger(t),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func bootstrapTo(other *Node) func(*Config) {
	return func(c *Config) { c.Bootstrap = append(c.Bootstrap, other.Addrs()[0]) }
}

func connectNodes(t testing.TB, a, b *Node) {
	t.Helper()
	if _, err := a.Connect(context.Background(), b.Addrs()[0]); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

func mineN(t testing.TB, n *Node, k int) {
	t.Helper()
	for range k {
		if _, err := n.MineBlock(context.Background()); err != nil {
			t.Fatalf("mine: %v", err)
		}
	}
}

func sameHead(nodes ...*Node) bool {
	h := nodes[0].Chain().Tip().Hash
	for _, n := range nodes[1:] {
		if n.Chain().Tip().Hash != h {
			return false
		}
	}
	return true
}

// meshed waits until every node sees its expected number of peers on both
// gossip topics: before that a publish may reach nobody.
func meshed(t testing.TB, want map[*Node]int) {
	t.Helper()
	waitFor(t, 20*time.Second, "gossip meshes to form", func() bool {
		for n, k := range want {
			if b, tx := n.MeshPeers(); b < k || tx < k {
				return false
			}
		}
		return true
	})
}

// buildChain writes a chain of k blocks (each with txsPerBlock signed
// transfers after the first block) into dir, as a node would store it, so
// sync tests start from a long chain without mining it over the network.
func buildChain(t testing.TB, dir string, p chain.Params, k, txsPerBlock int) {
	t.Helper()
	c, err := chain.Open(filepath.Join(dir, "chain.db"), chain.Options{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	miner := chain.WalletFromSeed([32]byte{42})
	to := chain.WalletFromSeed([32]byte{43}).Address()
	ts := p.GenesisTime
	var nonce uint64
	var batch []*chain.Block
	flush := func() {
		if _, _, err := c.AddBlocks(batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	parent := chain.Genesis(p)
	for i := range k {
		ts = ts.Add(time.Second)
		index := parent.Index + 1
		var txs []*chain.Tx
		if i > 0 {
			for range txsPerBlock {
				txs = append(txs, miner.NewTx(chain.NetworkID(p), to, 1, 0, nonce))
				nonce++
			}
		}
		b := &chain.Block{
			Header: chain.Header{Index: index, Timestamp: ts.UnixMilli(), PrevHash: parent.Hash(), Bits: p.InitialBits},
			Txs:    append([]*chain.Tx{{Recipient: miner.Address(), Amount: p.BlockReward, Nonce: index}}, txs...),
		}
		b.MerkleRoot = chain.MerkleRoot(b.Txs)
		target, _ := pow.TargetFromBits(b.Bits)
		for n := uint64(0); ; n++ {
			b.Nonce = n
			h := [32]byte(b.Hash())
			if pow.HashMeetsTarget(&h, target) {
				break
			}
		}
		batch = append(batch, b)
		parent = b
		if len(batch) == 200 {
			flush()
		}
	}
	flush()
}

// TestLineOfFive: A–B–C–D–E, each bootstrapped only to its neighbour. A
// transaction from A reaches E's mempool, a block mined at E reaches A, and
// all heads agree.
func TestLineOfFive(t *testing.T) {
	nodes := make([]*Node, 5)
	nodes[0] = testNode(t, "")
	for i := 1; i < 5; i++ {
		nodes[i] = testNode(t, "", bootstrapTo(nodes[i-1]))
	}
	a, e := nodes[0], nodes[4]
	meshed(t, map[*Node]int{nodes[0]: 1, nodes[1]: 2, nodes[2]: 2, nodes[3]: 2, nodes[4]: 1})

	mineN(t, a, 1) // A needs coins to send
	waitFor(t, 20*time.Second, "A's block to reach all", func() bool { return sameHead(nodes...) && e.Chain().Tip().Index == 2 })

	tx, err := a.Send(context.Background(), e.Address(), 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "A's tx to reach E's mempool", func() bool { return e.Chain().Mempool().Has(tx.ID()) })

	b, err := e.MineBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Txs) != 2 {
		t.Fatalf("E's block has %d txs, want coinbase + A's tx", len(b.Txs))
	}
	waitFor(t, 20*time.Second, "E's block to reach A", func() bool { return a.Chain().IsMain(b.Hash()) })
	waitFor(t, 20*time.Second, "all heads equal", func() bool { return sameHead(nodes...) })
	if got := a.Chain().Account(e.Address()).Balance; got != 7+50+1 {
		t.Fatalf("A sees E's balance %d, want 58", got)
	}
	for i, n := range nodes {
		if n.Chain().Mempool().Len() != 0 {
			t.Errorf("node %d still has %d pending txs", i, n.Chain().Mempool().Len())
		}
	}
}

// TestForkHeaviestWins: two groups mine apart, the second more; once joined,
// every node is on the heaviest chain and the losing branch's user
// transaction is pending again (or mined again), not lost.
func TestForkHeaviestWins(t *testing.T) {
	a, b, c, d := testNode(t, ""), testNode(t, ""), testNode(t, ""), testNode(t, "")
	connectNodes(t, a, b)
	connectNodes(t, b, c)
	connectNodes(t, c, d)
	meshed(t, map[*Node]int{a: 1, b: 2, c: 2, d: 1})
	mineN(t, a, 1)
	waitFor(t, 20*time.Second, "the common block to reach all", func() bool { return sameHead(a, b, c, d) && d.Chain().Tip().Index == 2 })

	// Partition B | C. No bootstrap or mDNS, so nothing reconnects them.
	b.Host().Network().ClosePeer(c.ID())
	c.Host().Network().ClosePeer(b.ID())
	waitFor(t, 10*time.Second, "B and C apart", func() bool {
		return b.Host().Network().Connectedness(c.ID()) != network.Connected
	})

	tx, err := a.Send(context.Background(), b.Address(), 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "tx at B", func() bool { return b.Chain().Mempool().Has(tx.ID()) })
	mineN(t, a, 1) // group 1: index 3, holds tx
	mineN(t, d, 3) // group 2: index 5, heavier
	if c.Chain().Mempool().Has(tx.ID()) {
		t.Fatal("partition leaked the tx")
	}
	waitFor(t, 20*time.Second, "group heads", func() bool {
		return sameHead(a, b) && sameHead(c, d) && b.Chain().Tip().Index == 3 && c.Chain().Tip().Index == 5
	})
	heavy := d.Chain().Tip()

	connectNodes(t, b, c)
	waitFor(t, 30*time.Second, "all on the heaviest chain", func() bool {
		return sameHead(a, b, c, d) && a.Chain().Tip().Hash == heavy.Hash
	})
	for i, n := range []*Node{a, b, c, d} {
		waitFor(t, 45*time.Second, fmt.Sprintf("tx pending or mined again at node %d", i), func() bool {
			return n.Chain().Mempool().Has(tx.ID()) || txOnMain(n, tx.ID())
		})
	}
	// And it gets mined: the next block anywhere carries it.
	blk, err := c.MineBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !txOnMain(c, tx.ID()) {
		t.Fatalf("block %d did not carry the returned tx", blk.Index)
	}
	waitFor(t, 20*time.Second, "B's balance on the winning chain", func() bool {
		return a.Chain().Account(b.Address()).Balance == 5 && sameHead(a, b, c, d)
	})
}

func txOnMain(n *Node, id chain.Hash) bool {
	tip := n.Chain().Tip()
	blocks, _ := n.Chain().MainBlocks(1, int(tip.Index))
	for _, b := range blocks {
		for _, tx := range b.Txs {
			if tx.ID() == id {
				return true
			}
		}
	}
	return false
}

// TestLateNodeSyncsLongChainAndRestartCatchesUp: a node started late syncs
// 2,000 blocks from one peer; restarted after missing 100 blocks it catches
// up by itself.
func TestLateNodeSyncsLongChainAndRestartCatchesUp(t *testing.T) {
	dirA := t.TempDir()
	buildChain(t, dirA, chain.TestParams(), 1999, 1) // index 2000
	a := testNode(t, dirA)
	if got := a.Chain().Tip().Index; got != 2000 {
		t.Fatalf("built chain index %d", got)
	}
	dirB := t.TempDir()
	b := testNode(t, dirB, bootstrapTo(a))
	waitFor(t, 60*time.Second, "B to sync 2000 blocks", func() bool { return sameHead(a, b) })

	b.Close()
	mineN(t, a, 100)
	b2 := testNode(t, dirB, bootstrapTo(a))
	waitFor(t, 30*time.Second, "restarted B to catch up 100 blocks", func() bool { return sameHead(a, b2) })
	if b2.Chain().Tip().Index != 2100 {
		t.Fatalf("B at %d, want 2100", b2.Chain().Tip().Index)
	}
}

// TestResolveWholeChain is the tutorial's /nodes/resolve: the peer with the
// longer valid chain wins.
func TestResolveWholeChain(t *testing.T) {
	a, b := testNode(t, ""), testNode(t, "")
	mineN(t, a, 5)
	mineN(t, b, 2)
	// Connect with syncing on connect racing Resolve: either way B ends on A.
	connectNodes(t, b, a)
	if _, err := b.Resolve(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "B on A's chain", func() bool { return sameHead(a, b) })
	changed, err := b.Resolve(context.Background())
	if err != nil || changed {
		t.Fatalf("second resolve: changed=%v err=%v, want authoritative", changed, err)
	}
}

// TestSyncForkLongerThanOneReply: the peer's branch leaves ours further back
// than one reply holds (SyncRequestMax); the sync continues from the last
// block received until the heavier branch wins.
func TestSyncForkLongerThanOneReply(t *testing.T) {
	small := func(c *Config) { c.SyncRequestMax, c.SyncBatchBlocks = 25, 10 }
	dirA, dirB := t.TempDir(), t.TempDir()
	buildChain(t, dirA, chain.TestParams(), 10, 0)
	buildChain(t, dirB, chain.TestParams(), 10, 0) // the same 10 blocks
	a, b := testNode(t, dirA, small), testNode(t, dirB, small)
	if !sameHead(a, b) {
		t.Fatal("built chains differ")
	}
	mineN(t, a, 60) // more than two replies of B's branch have less work than this
	mineN(t, b, 70)
	connectNodes(t, a, b)
	waitFor(t, 60*time.Second, "A to switch to B's longer branch", func() bool { return sameHead(a, b) })
	if got := a.Chain().Tip().Index; got != 81 {
		t.Fatalf("A at %d, want 81", got)
	}
}

// TestPeerOfAnotherNetworkIsDropped: a node whose genesis differs (another
// difficulty is another network) is disconnected after the status exchange.
func TestPeerOfAnotherNetworkIsDropped(t *testing.T) {
	a := testNode(t, "")
	other := testNode(t, "", func(c *Config) { c.Params = chain.TestParams().WithDifficulty(5) })
	if a.Chain().GenesisHash() == other.Chain().GenesisHash() {
		t.Fatal("different params gave the same genesis")
	}
	connectNodes(t, other, a)
	waitFor(t, 10*time.Second, "the other network's peer to be dropped", func() bool {
		return a.Host().Network().Connectedness(other.ID()) != network.Connected &&
			other.Host().Network().Connectedness(a.ID()) != network.Connected
	})
}

// TestRestartKeepsPendingTransactions: a transaction the node acknowledged
// but has not mined survives a clean restart.
func TestRestartKeepsPendingTransactions(t *testing.T) {
	dir := t.TempDir()
	a := testNode(t, dir)
	mineN(t, a, 1)
	tx, err := a.Send(context.Background(), chain.NewWallet().Address(), 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a2 := testNode(t, dir)
	if !a2.Chain().Mempool().Has(tx.ID()) {
		t.Fatal("pending transaction lost across a restart")
	}
	b, err := a2.MineBlock(context.Background())
	if err != nil || len(b.Txs) != 2 {
		t.Fatalf("mined %v txs, err %v", b, err)
	}
}
