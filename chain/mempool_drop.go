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
