package chain

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// connectLocked, the reset after blocks that only extend the head, leaves
// the pool exactly as resetLocked's rebuild does, and reports the same
// dropped transactions: over random pools and blocks that mine a prefix of
// a sender's queue, take a nonce with another transaction, spend more than
// the queue left room for, or come from senders the pool does not hold;
// the blocks' transactions the pool's own pointers or copies (a block
// decoded from the network), with ids given or not.
func TestMempoolConnectMatchesReset(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		pre := map[Address]Account{}
		senders := make([]Address, 2+rng.IntN(6))
		for i := range senders {
			senders[i] = Address{byte(i + 1)}
			pre[senders[i]] = Account{Balance: 20 + rng.Uint64N(80), Nonce: rng.Uint64N(3)}
		}
		mkTx := func(s Address, nonce uint64) *Tx {
			return &Tx{Sender: s, Recipient: Address{0xee}, Amount: 1 + rng.Uint64N(15), Fee: rng.Uint64N(4), Nonce: nonce, Signature: [64]byte{byte(rng.Uint32())}}
		}
		// The pool's transactions, in submission order.
		var pooled []*Tx
		for _, s := range senders {
			for k := range rng.IntN(6) {
				pooled = append(pooled, mkTx(s, pre[s].Nonce+uint64(k)))
			}
		}
		// The block, and the state after it.
		post := maps(pre)
		blk := &Block{Txs: []*Tx{{Recipient: Address{0xee}, Amount: 50, Nonce: 9}}}
		for _, s := range senders {
			var queue []*Tx
			for _, tx := range pooled {
				if tx.Sender == s {
					queue = append(queue, tx)
				}
			}
			acct := post[s]
			for k := range rng.IntN(4) {
				var tx *Tx
				switch {
				case k < len(queue) && rng.IntN(4) > 0:
					tx = queue[k]
					if rng.IntN(2) == 0 {
						cp := *tx // a copy: not the pool's pointer
						tx = &cp
					}
				default: // another transaction with the nonce, or past the queue
					tx = mkTx(s, acct.Nonce)
				}
				if acct.Balance < tx.Amount+tx.Fee {
					break
				}
				acct.Balance -= tx.Amount + tx.Fee
				acct.Nonce++
				blk.Txs = append(blk.Txs, tx)
			}
			// More spent in the block than its transfers (as a later
			// block of the same batch would): only a sender's balance
			// falls.
			if acct.Nonce > pre[s].Nonce && rng.IntN(3) == 0 {
				acct.Balance -= min(acct.Balance, rng.Uint64N(40))
			}
			post[s] = acct
		}
		getPre := func(a Address) Account { return pre[a] }
		getPost := func(a Address) Account { return post[a] }
		fill := func() *Mempool {
			m := NewMempool(1000, 1<<20)
			for _, tx := range pooled {
				m.add(tx, getPre) // some do not fit the balance: left out alike
			}
			return m
		}
		slow, fast := fill(), fill()
		slowDropped := slow.resetLocked(getPost, []*Block{blk}, nil)
		var ids func(*Block) []Hash
		if seed%2 == 0 {
			all := make([]Hash, len(blk.Txs))
			for i, tx := range blk.Txs {
				all[i] = tx.ID()
			}
			ids = func(*Block) []Hash { return all }
		}
		fast.mu.Lock()
		fastDropped := fast.connectLocked(getPost, []*Block{blk}, ids)
		fast.mu.Unlock()

		if fast.bytes != slow.bytes || len(fast.byID) != len(slow.byID) {
			t.Fatalf("seed %d: fast path %d txs %d bytes, rebuild %d txs %d bytes", seed, len(fast.byID), fast.bytes, len(slow.byID), slow.bytes)
		}
		for id, tx := range slow.byID {
			if fast.byID[id] != tx {
				t.Fatalf("seed %d: tx %s kept by the rebuild, not by the fast path", seed, id)
			}
		}
		if len(fast.bySender) != len(slow.bySender) {
			t.Fatalf("seed %d: %d senders' queues, want %d", seed, len(fast.bySender), len(slow.bySender))
		}
		for s, q := range slow.bySender {
			if !slices.Equal(fast.bySender[s], q) {
				t.Fatalf("seed %d: sender %s's queue %v, want %v", seed, s, fast.bySender[s], q)
			}
		}
		byID := func(txs []*Tx) []Hash {
			var out []Hash
			for _, tx := range txs {
				out = append(out, tx.ID())
			}
			slices.SortFunc(out, func(a, b Hash) int { return slices.Compare(a[:], b[:]) })
			return out
		}
		if !slices.Equal(byID(fastDropped), byID(slowDropped)) {
			t.Fatalf("seed %d: dropped %d, want %d", seed, len(fastDropped), len(slowDropped))
		}
	}
}

func maps(m map[Address]Account) map[Address]Account {
	out := make(map[Address]Account, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
