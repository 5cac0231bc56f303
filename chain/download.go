package chain

// What the parallel block download (node/download.go) needs of the chain.

// Hashes lists the branch's checked headers not yet stored, in chain
// order, and the index of the first: the blocks a sync must fetch.
func (hb *HeaderBranch) Hashes() (first uint64, hs []Hash) {
	hb.c.mu.RLock()
	defer hb.c.mu.RUnlock()
	if len(hb.nodes) == 0 {
		return 0, nil
	}
	hs = make([]Hash, len(hb.nodes))
	for i, n := range hb.nodes {
		hs[i] = n.hash
	}
	return hb.nodes[0].header.Index, hs
}

// Received is how many headers the session has taken (its limit counts
// these).
func (hb *HeaderBranch) Received() int { return hb.received }

// StoredPrefix is how many of hs, from the first, are blocks we store and
// do not know to be invalid: what a server can send of a request for
// blocks by hash (it stops at the first it cannot).
func (c *Chain) StoredPrefix(hs []Hash) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, h := range hs {
		if n, ok := c.nodes[h]; !ok || n.status == statusInvalid {
			return i
		}
	}
	return len(hs)
}
