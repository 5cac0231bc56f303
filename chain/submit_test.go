package chain

import (
	"errors"
	"sync"
	"testing"
)

// Admission checks run cheapest first: a transaction refused because it is
// known, unfunded, has the wrong nonce or was refused before costs no
// signature check, so re-announcing a thousand of them costs a peer
// nothing but map lookups here.
func TestSubmitTxRefusalsCostNoSignatureCheck(t *testing.T) {
	const k = 1000
	c, clock := newTestChain(t)
	alice, to := wallet(1), wallet(2).Address()
	for range k/int(c.Params().BlockReward) + 1 {
		fundChain(t, c, clock, alice)
	}
	var known []*Tx
	for i := range k {
		known = append(known, alice.NewTx(testNet, to, 1, 0, uint64(i)))
	}
	submitAll(t, c, known...)

	var unfunded, wrongNonce, badSig []*Tx
	for i := range k {
		var seed [32]byte
		seed[0], seed[1], seed[2] = 0x5e, byte(i), byte(i>>8)
		w := WalletFromSeed(seed)
		unfunded = append(unfunded, w.NewTx(testNet, to, 1, 0, 0))
		wrongNonce = append(wrongNonce, alice.NewTx(testNet, to, 1, 0, uint64(k+1+i)))
		bad := alice.NewTx(testNet, w.Address(), 1, 0, k)
		bad.Signature[3] ^= 1
		badSig = append(badSig, bad)
	}
	// Each bad signature is checked once, then remembered.
	before := sigChecks.Load()
	refuseAll(t, c, badSig, ErrBadSignature)
	if got := sigChecks.Load() - before; got != k {
		t.Fatalf("first submission of %d badly signed txs: %d signature checks, want %d", k, got, k)
	}

	for _, tc := range []struct {
		name string
		txs  []*Tx
		want error
	}{
		{"known", known, ErrKnownTx},
		{"unfunded", unfunded, ErrInsufficientBalance},
		{"wrong nonce", wrongNonce, ErrBadNonce},
		{"refused before", badSig, ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := sigChecks.Load()
			for range 2 {
				refuseAll(t, c, tc.txs, tc.want)
			}
			if got := sigChecks.Load() - before; got != 0 {
				t.Fatalf("re-submitting %d %s txs twice cost %d signature checks, want 0", k, tc.name, got)
			}
		})
	}
	if c.Mempool().Len() != k {
		t.Fatalf("%d pending, want %d", c.Mempool().Len(), k)
	}
	checkPool(t, c, 10000)
}

func refuseAll(t *testing.T, c *Chain, txs []*Tx, want error) {
	t.Helper()
	for _, tx := range txs {
		if err := c.SubmitTx(tx); !errors.Is(err, want) {
			t.Fatalf("submit nonce %d: %v, want %v", tx.Nonce, err, want)
		}
	}
}

// Concurrent submits of one sender's transactions with the same nonce: the
// state is checked before the signature without holding the locks, so each
// may pass that check; the add checks again, and exactly one gets in.
func TestSubmitTxConcurrentSameNonce(t *testing.T) {
	c, clock := newTestChain(t)
	alice := wallet(1)
	fundChain(t, c, clock, alice)
	for round := range 20 {
		const n = 8
		txs := make([]*Tx, n)
		for i := range txs {
			txs[i] = alice.NewTx(testNet, wallet(byte(10+i)).Address(), 1, 0, uint64(round))
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range txs {
			wg.Go(func() { errs[i] = c.SubmitTx(txs[i]) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrBadNonce):
				t.Fatalf("round %d: %v, want nil or ErrBadNonce", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of %d same-nonce txs admitted, want 1", round, ok, n)
		}
	}
	checkPool(t, c, 10000)
	if c.Mempool().Len() != 20 {
		t.Fatalf("%d pending, want 20", c.Mempool().Len())
	}
}

// BenchmarkSubmitTxRefuse: what a refused transaction costs, by reason,
// against admitting a valid one (BenchmarkSubmitTx, and "valid" here).
func BenchmarkSubmitTxRefuse(b *testing.B) {
	p := TestParams()
	g := newBlockGen(p)
	c := benchChain(b, p, Options{MempoolMaxTxs: 1 << 22})
	if _, err := c.AddBlock(g.next(b, 0)); err != nil {
		b.Fatal(err)
	}
	funder, to := g.funder, wallet(9).Address()
	pending := funder.NewTx(testNet, to, 1, 0, 0)
	if err := c.SubmitTx(pending); err != nil {
		b.Fatal(err)
	}
	// Refusals change nothing, so a set of distinct txs (at most distinct;
	// one per op for fresh bad signatures, which are remembered) is reused.
	run := func(name string, want error, distinct int, mk func(i int) *Tx) {
		b.Run(name, func(b *testing.B) {
			txs := make([]*Tx, min(b.N, distinct))
			for i := range txs {
				txs[i] = mk(i)
			}
			b.ResetTimer()
			for i := range b.N {
				if err := c.SubmitTx(txs[i%len(txs)]); !errors.Is(err, want) {
					b.Fatalf("%v, want %v", err, want)
				}
			}
		})
	}
	run("known", ErrKnownTx, 1, func(int) *Tx { return pending })
	unfunded := wallet(77)
	run("unfunded", ErrInsufficientBalance, 1000, func(i int) *Tx { return unfunded.NewTx(testNet, to, 1+uint64(i), 0, 0) })
	run("wrong-nonce", ErrBadNonce, 1000, func(i int) *Tx { return funder.NewTx(testNet, to, 1+uint64(i), 0, 5) })
	badSig := func(i int) *Tx {
		// A different S each op (its low bytes; still canonical), so
		// each is a new id and a full verification.
		tx := funder.NewTx(testNet, to, 1, 0, 1)
		for j := range 4 {
			tx.Signature[32+j] ^= byte((i + 1) >> (8 * j))
		}
		return tx
	}
	run("bad-signature", ErrBadSignature, 1<<30, badSig)
	repeated := badSig(0)
	run("bad-signature-again", ErrBadSignature, 1, func(int) *Tx { return repeated })
	runs := 0
	b.Run("valid", func(b *testing.B) {
		runs++
		// Fresh senders each funded by a block, so each op admits one tx.
		senders := make([]*Wallet, b.N)
		var funding []*Block
		for i := range senders {
			var seed [32]byte
			seed[0], seed[1], seed[2], seed[3], seed[4] = 0xbf, byte(i), byte(i>>8), byte(i>>16), byte(runs)
			senders[i] = WalletFromSeed(seed)
			funding = append(funding, g.block(b, senders[i].Address(), nil))
		}
		for len(funding) > 0 {
			k := min(len(funding), 500)
			if _, _, err := c.AddBlocks(funding[:k]); err != nil {
				b.Fatal(err)
			}
			funding = funding[k:]
		}
		txs := make([]*Tx, b.N)
		for i := range txs {
			txs[i] = senders[i].NewTx(testNet, to, 1, 1, 0)
		}
		b.ResetTimer()
		for _, tx := range txs {
			if err := c.SubmitTx(tx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
