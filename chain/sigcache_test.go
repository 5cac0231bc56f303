package chain

import (
	"errors"
	"testing"
)

// The verified-signature cache: what passed is not checked again by the
// block that holds it, on the same network only, and a bad signature is
// never remembered.
func TestSigCache(t *testing.T) {
	clearSigCache()
	alice, bob := wallet(1), wallet(2)
	good := alice.NewTx(testNet, bob.Address(), 5, 1, 0)
	bad := alice.NewTx(testNet, bob.Address(), 6, 1, 1)
	bad.Signature[10] ^= 1
	blk := &Block{Txs: []*Tx{{}, good, bad}}

	PreverifyBlocks([]*Block{blk}, testNet)
	if !sigCacheTake(good.ID(), testNet) {
		t.Fatal("a verified transfer was not remembered")
	}
	if sigCacheTake(good.ID(), testNet) {
		t.Fatal("an entry was not taken out when used")
	}
	if sigCacheTake(bad.ID(), testNet) {
		t.Fatal("a bad signature was remembered")
	}

	other := NetworkID(DefaultParams())
	PreverifyBlocks([]*Block{blk}, testNet)
	if sigCacheTake(good.ID(), other) {
		t.Fatal("an entry of one network answered for another")
	}

	// Preverified, the block's good transfer costs no check; the bad one
	// is still found.
	PreverifyBlocks([]*Block{blk}, testNet)
	before := sigChecks.Load()
	i, err := verifyBlocksTxs([]*Block{blk}, testNet)
	if i != 0 || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("verifyBlocksTxs: %d, %v", i, err)
	}
	if got := sigChecks.Load() - before; got != 1 {
		t.Fatalf("%d signature checks, want 1 (the bad one)", got)
	}
}

// A transfer admitted to the mempool is not checked again when a block
// holding it is added.
func TestSigCacheMempoolToBlock(t *testing.T) {
	clearSigCache()
	c, clock := newTestChain(t)
	alice := wallet(1)
	fundChain(t, c, clock, alice)
	for i := range 5 {
		submitAll(t, c, alice.NewTx(testNet, wallet(2).Address(), 1, 1, uint64(i)))
	}
	before := sigChecks.Load()
	b := mine(t, c, clock, alice.Address())
	if len(b.Txs) != 6 {
		t.Fatalf("block holds %d txs", len(b.Txs))
	}
	if got := sigChecks.Load() - before; got != 0 {
		t.Fatalf("adding a block of pooled transfers cost %d signature checks, want 0", got)
	}
}

// BenchmarkBlockOfPooledTxs: checking the signatures of a 1,000-transfer
// block whose transfers were admitted to the mempool (in the cache) against
// one whose were not.
func BenchmarkBlockOfPooledTxs(b *testing.B) {
	txs := validTxs(1000)
	blk := &Block{Txs: append([]*Tx{{}}, txs...)}
	for _, pooled := range []bool{false, true} {
		b.Run(map[bool]string{false: "not-pooled", true: "pooled"}[pooled], func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				clearSigCache()
				if pooled {
					for _, tx := range txs {
						sigCachePut(tx.ID(), testNet)
					}
				}
				b.StartTimer()
				if i, err := verifyBlocksTxs([]*Block{blk}, testNet); i >= 0 {
					b.Fatal(err)
				}
			}
		})
	}
}
