package chain

// DropIfLast removes a pending transaction if no other pending transaction
// depends on it (it is the last of its sender's queue), and reports whether
// it did. A node whose acknowledgement could not be made durable takes the
// transaction back this way, so that a retry is not refused as known.
func (m *Mempool) DropIfLast(id Hash) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := m.byID[id]
	if tx == nil {
		return false
	}
	q := m.bySender[tx.Sender]
	if len(q) == 0 || q[len(q)-1] != tx {
		return false
	}
	m.removeLast(tx.Sender)
	return true
}

// OnDrop sets f to be told of the transactions the pool lets go while they
// may still be valid: evicted for better-paying ones when full, or left out
// when a new head re-checks the pool (over the caps after a reorg, or not
// affordable now). Mined transactions and those whose nonce the head has
// passed are not reported. A node parks the ones it acknowledged so the
// pool's bound never loses a promise. f is called without the pool's lock
// held; set it before the pool is used.
func (m *Mempool) OnDrop(f func([]*Tx)) { m.onDrop = f }

func (m *Mempool) dropped(txs []*Tx) {
	if len(txs) > 0 && m.onDrop != nil {
		m.onDrop(txs)
	}
}
