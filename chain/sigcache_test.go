package chain

import (
	"errors"
	"testing"
)

// The verified-signature cache: what passed is not checked again by the
// block that holds it, on the same network only, and a bad signature is
// never remembered.
func TestSigCache(t *testing.T) {
	c, _ := newTestChain(t)
	alice, bob := wallet(1), wallet(2)
	good := alice.NewTx(testNet, bob.Address(), 5, 1, 0)
	bad := alice.NewTx(testNet, bob.Address(), 6, 1, 1)
	bad.Signature[10] ^= 1
	blk := &Block{Txs: []*Tx{{}, good, bad}}

	c.PreverifyBlocks([]*Block{blk})
	if !c.sigs.take(good.ID()) {
		t.Fatal("a verified transfer was not remembered")
	}
	if c.sigs.take(good.ID()) {
		t.Fatal("an entry was not taken out when used")
	}
	if c.sigs.take(bad.ID()) {
		t.Fatal("a bad signature was remembered")
	}

	// Each chain has its own cache, of its own network: a transfer signed
	// for another network is not remembered, nor seen by another chain.
	other := benchChain(t, DefaultParams(), Options{})
	other.PreverifyBlocks([]*Block{blk})
	c.PreverifyBlocks([]*Block{blk})
	if other.sigs.take(good.ID()) {
		t.Fatal("a transfer of one network was remembered by a chain of another")
	}

	// Preverified, the block's good transfer costs no check; the bad one
	// is still found.
	before := sigChecks.Load()
	i, err := verifyBlocksTxs([]*Block{blk}, testNet, c.sigs)
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
				cache := newSigCache()
				if pooled {
					for _, tx := range txs {
						cache.put(tx.ID())
					}
				}
				b.StartTimer()
				if i, err := verifyBlocksTxs([]*Block{blk}, testNet, cache); i >= 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

// A transfer of a block a reorg disconnected was verified when the block
// was connected: back in the pool, a block holding it again checks no
// signature (what the pool's own record of verified transfers did before
// the cache was the one record).
func TestSigCacheDisconnectedBlock(t *testing.T) {
	c, clock := newTestChain(t)
	alice, bob, carol := wallet(1), wallet(2), wallet(3)
	b2 := mine(t, c, clock, alice.Address())
	tx := alice.NewTx(testNet, bob.Address(), 10, 1, 0)
	submitAll(t, c, tx)
	a3 := mine(t, c, clock, alice.Address()) // holds tx
	b3 := childOf(t, c, b2, carol.Address(), a3.Timestamp+1)
	b4 := childOf(t, c, b3, carol.Address(), a3.Timestamp+2)
	for _, b := range []*Block{b3, b4} {
		if _, err := c.AddBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if !c.Mempool().Has(tx.ID()) {
		t.Fatal("the reorg did not return the transfer to the pool")
	}
	b5 := childOf(t, c, b4, carol.Address(), a3.Timestamp+3, tx)
	before := sigChecks.Load()
	if res, err := c.AddBlock(b5); err != nil || res.Status != StatusMain {
		t.Fatalf("b5: %+v, %v", res, err)
	}
	if got := sigChecks.Load() - before; got != 0 {
		t.Fatalf("the returned transfer cost %d signature checks, want 0", got)
	}
}
