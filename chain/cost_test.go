package chain

import (
	"errors"
	"testing"
	"time"
)

// Cheapest check first: a block that breaks a rule checked before the
// signatures costs no signature check, however many transactions it holds.

// signedTxs returns n transfers signed by w (nonces 0..n-1). They need not
// be payable: the blocks that carry them fail before state is consulted.
func signedTxs(w *Wallet, to Address, n int) []*Tx {
	txs := make([]*Tx, n)
	for i := range txs {
		txs[i] = w.NewTx(testNet, to, 1, 0, uint64(i))
	}
	return txs
}

// sigCost runs f and returns how many signatures it verified.
func sigCost(f func()) int64 {
	before := sigChecks.Load()
	f()
	return sigChecks.Load() - before
}

func TestRejectsBeforeSignatures(t *testing.T) {
	f := newFixture(t)
	p := f.c.Params()
	many := signedTxs(f.alice, f.bob.Address(), p.MaxBlockTxs-1)
	// big builds a block on the head with 3,999 signed txs, changed by
	// mutate before it is sealed.
	big := func(mutate func(*Block)) *Block {
		b := f.next(t)
		b.Txs = append(b.Txs[:1], many...)
		if mutate != nil {
			mutate(b)
		}
		reseal(t, b)
		return b
	}
	cases := []struct {
		name  string
		block func() *Block
		want  error
	}{
		{"wrong bits", func() *Block {
			return big(func(b *Block) { b.Bits = p.LimitBits })
		}, ErrBadDifficulty},
		{"timestamp not after the median", func() *Block {
			return big(func(b *Block) { b.Timestamp = f.genesis.Timestamp })
		}, ErrTimeTooOld},
		{"timestamp too new", func() *Block {
			return big(func(b *Block) { b.Timestamp = f.clock.now().Add(time.Hour).UnixMilli() })
		}, ErrTimeTooNew},
		{"wrong index", func() *Block {
			return big(func(b *Block) { b.Index++; b.Txs[0].Nonce++ })
		}, ErrBadIndex},
		{"bad Merkle root", func() *Block {
			b := big(nil)
			b.MerkleRoot[0] ^= 1
			solve(t, b)
			return b
		}, ErrBadMerkleRoot},
		{"low-work side branch", func() *Block {
			for range LowWorkMargin + 2 {
				mine(t, f.c, f.clock, f.carol.Address())
			}
			b := childOf(t, f.c, f.genesis, f.carol.Address(), f.genesis.Timestamp+1000)
			b.Txs = append(b.Txs, many...)
			reseal(t, b)
			return b
		}, ErrLowWorkBranch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.block()
			if cost := sigCost(func() { f.refuse(t, b, tc.want) }); cost != 0 {
				t.Fatalf("AddBlock verified %d signatures before refusing", cost)
			}
			if f.c.HasBlock(b.Hash()) {
				t.Fatal("refused block stored")
			}
			// The sync path checks the whole batch's context first too.
			if cost := sigCost(func() {
				if n, _, err := f.c.AddBlocks([]*Block{b}); n != 0 || !errors.Is(err, tc.want) {
					t.Fatalf("AddBlocks: %d, %v; want 0, %v", n, err, tc.want)
				}
			}); cost != 0 {
				t.Fatalf("AddBlocks verified %d signatures before refusing", cost)
			}
		})
	}

	t.Run("orphan", func(t *testing.T) {
		parent := f.next(t)
		orphan := childOf(t, f.c, parent, f.carol.Address(), parent.Timestamp+1000)
		orphan.Txs = append(orphan.Txs, many...)
		orphan.Txs[len(orphan.Txs)-1] = f.alice.NewTx(testNet, f.bob.Address(), 2, 0, 0) // not the signed one
		orphan.Txs[len(orphan.Txs)-1].Amount = 3
		reseal(t, orphan)
		if cost := sigCost(func() {
			if res, err := f.c.AddBlock(orphan); err != nil || res.Status != StatusOrphan {
				t.Fatalf("orphan: %+v, %v", res, err)
			}
		}); cost != 0 {
			t.Fatalf("an orphan cost %d signature checks", cost)
		}
		// When its parent arrives it gets every check: the bad last
		// signature keeps it out.
		res, err := f.c.AddBlock(parent)
		if err != nil || len(res.Connected) != 1 || f.c.Tip().Hash != parent.Hash() || f.c.HasBlock(orphan.Hash()) {
			t.Fatalf("parent: %+v, %v; want only the parent connected, the orphan dropped", res, err)
		}
	})

	t.Run("batch context before any signature", func(t *testing.T) {
		b1 := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 1, 0, 0))
		b2 := childOf(t, f.c, b1, f.carol.Address(), b1.Timestamp+1000, many[1:]...)
		b2.Bits = p.LimitBits
		reseal(t, b2)
		var n int
		var err error
		cost := sigCost(func() { n, _, err = f.c.AddBlocks([]*Block{b1, b2}) })
		if n != 1 || !errors.Is(err, ErrBadDifficulty) || f.c.Tip().Hash != b1.Hash() {
			t.Fatalf("AddBlocks(good, wrong bits): %d, %v; want 1, ErrBadDifficulty", n, err)
		}
		if cost != 1 {
			t.Fatalf("batch verified %d signatures, want only the good block's 1", cost)
		}
	})
}
