package chain

// The pool's reset after blocks that only extend the head (no reorg), the
// common case. resetLocked rebuilds the whole pool (every pending id, each
// sender's sort, the heap, four maps sized by the pool: half a megabyte
// and a third of a millisecond at every node for a 2,000-tx block, which
// the bench's 20 nodes pay at once). Here only what the blocks touched is
// done: their transactions leave the pool, and the queues of their senders
// (the only accounts whose nonce moved or balance fell) are checked again.
// Recipients and miners only gain, so no other queue can break; the pool
// only shrinks, so the caps change nothing. The outcome is resetLocked's
// (TestMempoolConnectMatchesReset).

// connectLocked is resetLocked for connected blocks only. ids, when not
// nil, gives a block's transaction ids when they are known already (nil:
// hashed here). m.mu is held.
func (m *Mempool) connectLocked(get accountGetter, connected []*Block, ids func(*Block) []Hash) (dropped []*Tx) {
	if len(m.byID) == 0 {
		return nil // nothing to remove or re-check: a sync into an empty pool walks no block
	}
	n := 0
	for _, b := range connected {
		n += len(b.Txs) - 1
	}
	// The pool's entries the blocks hold, by the pool's pointer (a block
	// decoded from the network holds copies); and the blocks' senders.
	mined := make(map[*Tx]struct{}, min(n, len(m.byID)))
	senders := make(map[Address]struct{})
	for _, b := range connected {
		var known []Hash
		if ids != nil {
			known = ids(b)
		}
		for j := 1; j < len(b.Txs); j++ {
			tx := b.Txs[j]
			senders[tx.Sender] = struct{}{}
			var id Hash
			if known != nil {
				id = known[j]
			} else {
				id = tx.ID()
			}
			if p, ok := m.byID[id]; ok {
				delete(m.byID, id)
				m.bytes -= TxSize
				mined[p] = struct{}{}
			}
		}
	}
	for s := range senders {
		q := m.bySender[s]
		if len(q) == 0 {
			continue
		}
		acct := get(s)
		// The head passed these nonces: mined (gone already) or beaten
		// by another transaction with the nonce (stale: not reported).
		i := 0
		for ; i < len(q) && q[i].Nonce < acct.Nonce; i++ {
			if _, ok := mined[q[i]]; !ok {
				delete(m.byID, q[i].ID())
				m.bytes -= TxSize
			}
		}
		// The rest, from the account's nonce without a gap, as far as the
		// balance goes; what follows may be valid later: reported.
		var spent uint64
		j := i
		for ; j < len(q); j++ {
			tx := q[j]
			if tx.Nonce != acct.Nonce+uint64(j-i) || acct.Balance < spent || acct.Balance-spent < tx.Amount+tx.Fee {
				break
			}
			spent += tx.Amount + tx.Fee
		}
		for _, tx := range q[j:] {
			delete(m.byID, tx.ID())
			m.bytes -= TxSize
			dropped = append(dropped, tx)
		}
		if j == i {
			delete(m.bySender, s)
			continue
		}
		// Kept in place at the front, the tail cleared so that the queue's
		// array holds no mined or dropped transaction.
		k := copy(q, q[i:j])
		clear(q[k:])
		m.bySender[s] = q[:k]
	}
	return dropped
}
