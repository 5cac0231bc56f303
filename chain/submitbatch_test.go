package chain

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// sameSubmitVerdict compares SubmitTx-style errors by sentinel.
func sameSubmitVerdict(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	for _, s := range []error{ErrBadAddress, ErrBadSignature, ErrBadCoinbase, ErrKnownTx, ErrBadNonce,
		ErrInsufficientBalance, ErrMempoolFull, ErrBadAmount} {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return true
}

// TestSubmitTxsMatchesSubmitTx: bursts of transactions (consecutive nonces
// of funded senders, gaps, repeats, unfunded senders, the edge cases of the
// signature rule, zero amounts, coinbase senders) get from SubmitTxs on one
// chain the answers SubmitTx gives one by one on an identical chain, and
// the two pools end equal. Refusals by state cost no signature check.
func TestSubmitTxsMatchesSubmitTx(t *testing.T) {
	e := newEdgeCases(t)
	c1, clock1 := newTestChain(t)
	c2, clock2 := newTestChain(t)
	senders := []*Wallet{wallet(1), wallet(3), wallet(4)}
	for range 3 {
		fundChain(t, c1, clock1, senders...)
		fundChain(t, c2, clock2, senders...)
	}
	if c1.Tip().Hash != c2.Tip().Hash {
		t.Fatal("the two chains differ")
	}
	poor := wallet(9)
	to := wallet(2).Address()
	rng := rand.New(rand.NewPCG(7, 7))
	next := make(map[Address]uint64)
	kinds := make(map[string]int)
	defer func() { t.Logf("verdicts: %v", kinds) }()
	for round := range 20 {
		var burst []*Tx
		for range 1 + rng.IntN(60) {
			w := senders[rng.IntN(len(senders))]
			nonce := next[w.Address()]
			switch r := rng.IntN(10); {
			case r == 0 && nonce > 0:
				nonce-- // stale or a repeat
			case r == 1:
				nonce += 2 // a gap
			case r == 2:
				w = poor
				nonce = 0
			default:
				next[w.Address()]++
			}
			amount := uint64(1 + rng.IntN(3))
			if rng.IntN(30) == 0 {
				amount = c1.Params().BlockReward * 4 // more than it has
			}
			tx := w.NewTx(testNet, to, amount, uint64(rng.IntN(3)), nonce)
			if rng.IntN(8) == 0 {
				var junk [32]byte
				junk[0] = byte(round)
				e.mutate(tx, byte(5+rng.IntN(11)), byte(rng.Uint32()), junk)
			}
			if rng.IntN(40) == 0 {
				tx.Amount = 0
			}
			if rng.IntN(50) == 0 {
				tx.Sender = CoinbaseSender
			}
			burst = append(burst, tx)
			if rng.IntN(20) == 0 {
				burst = append(burst, tx) // the same tx twice in one burst
			}
		}
		before := sigChecks.Load()
		got := c1.SubmitTxs(burst)
		batchChecks := sigChecks.Load() - before
		before = sigChecks.Load()
		for i, tx := range burst {
			want := c2.SubmitTx(tx)
			kind := "accepted"
			if want != nil {
				kind = errors.Unwrap(want).Error()
			}
			kinds[kind]++
			if !sameSubmitVerdict(got[i], want) {
				t.Errorf("round %d tx %d (nonce %d): SubmitTxs %v, SubmitTx %v", round, i, tx.Nonce, got[i], want)
			}
		}
		singleChecks := sigChecks.Load() - before
		if batchChecks > singleChecks+int64(len(burst))/4 {
			t.Errorf("round %d: %d signature checks in the batch, %d one by one", round, batchChecks, singleChecks)
		}
		p1, p2 := ids(c1.Mempool().Pending()), ids(c2.Mempool().Pending())
		if !slices.Equal(p1, p2) {
			t.Fatalf("round %d: pools differ: %d and %d pending", round, len(p1), len(p2))
		}
		// Resync the expected nonces with the pool.
		for _, w := range senders {
			next[w.Address()] = c1.Mempool().PendingNonce(w.Address(), c1.Account(w.Address()))
		}
		if round%5 == 4 { // a block takes the pool
			mine(t, c1, clock1, wallet(5).Address())
			mine(t, c2, clock2, wallet(5).Address())
			if c1.Tip().Hash != c2.Tip().Hash {
				t.Fatal("the chains diverged")
			}
		}
	}
}

// BenchmarkSubmitBurst: a 1,000-tx announcement (25 consecutive nonces of
// 40 senders) admitted one by one and as a burst, into a fresh pool each
// time.
func BenchmarkSubmitBurst(b *testing.B) {
	c, clock := newTestChain(b)
	var senders []*Wallet
	for i := range 40 {
		senders = append(senders, wallet(byte(100+i)))
	}
	fundChain(b, c, clock, senders...)
	var burst []*Tx
	for n := range 25 {
		for _, w := range senders {
			burst = append(burst, w.NewTx(testNet, wallet(2).Address(), 1, 0, uint64(n)))
		}
	}
	for _, way := range []string{"one-by-one", "burst"} {
		b.Run(way, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				c.pool = NewMempool(10000, 1<<30)
				b.StartTimer()
				if way == "burst" {
					for _, err := range c.SubmitTxs(burst) {
						if err != nil {
							b.Fatal(err)
						}
					}
				} else {
					for _, tx := range burst {
						if err := c.SubmitTx(tx); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(float64(len(burst)*b.N)/b.Elapsed().Seconds(), "txs/s")
		})
	}
}
