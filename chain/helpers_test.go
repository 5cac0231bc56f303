package chain

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/pow"
)

// testClock is a settable clock so timestamps are deterministic.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func openTestChain(t testing.TB, dir string, clock *testClock) *Chain {
	t.Helper()
	c, err := Open(filepath.Join(dir, "chain.db"), Options{Params: TestParams(), Now: clock.now})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newTestChain(t testing.TB) (*Chain, *testClock) {
	clock := &testClock{t: TestParams().GenesisTime.Add(time.Hour)}
	return openTestChain(t, t.TempDir(), clock), clock
}

// solve searches a nonce for b's current header (tests use 4-bit difficulty).
func solve(t testing.TB, b *Block) {
	t.Helper()
	target, err := pow.TargetFromBits(b.Bits)
	if err != nil {
		t.Fatalf("bits: %v", err)
	}
	for n := uint64(0); ; n++ {
		b.Nonce = n
		h := [32]byte(b.Hash())
		if pow.HashMeetsTarget(&h, target) {
			return
		}
	}
}

// reseal recomputes the Merkle root and the proof of work after a test
// changed a block, so that only the rule under test is broken.
func reseal(t testing.TB, b *Block) {
	t.Helper()
	b.MerkleRoot = MerkleRoot(b.Txs)
	solve(t, b)
}

// mine builds a block on the head paying miner, advancing the clock a second.
func mine(t testing.TB, c *Chain, clock *testClock, miner Address) *Block {
	t.Helper()
	clock.t = clock.t.Add(time.Second)
	b := c.NewBlockTemplate(miner)
	solve(t, b)
	if _, err := c.AddBlock(b); err != nil {
		t.Fatalf("add mined block %d: %v", b.Index, err)
	}
	return b
}

// childOf builds a block on an arbitrary parent (for side branches).
func childOf(t testing.TB, c *Chain, parent *Block, miner Address, ts int64, txs ...*Tx) *Block {
	t.Helper()
	var fees uint64
	for _, tx := range txs {
		fees += tx.Fee
	}
	index := parent.Index + 1
	b := &Block{
		Header: Header{Index: index, Timestamp: ts, PrevHash: parent.Hash(), Bits: c.Params().InitialBits},
		Txs:    append([]*Tx{{Recipient: miner, Amount: c.Params().BlockReward + fees, Nonce: index}}, txs...),
	}
	reseal(t, b)
	return b
}

func wallet(seed byte) *Wallet { return WalletFromSeed([32]byte{seed}) }

// testNet is the network tests sign for: TestParams's genesis.
var testNet = NetworkID(TestParams())
