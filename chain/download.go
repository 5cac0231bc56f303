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

// RawBlocksUpTo is BlocksByHashUpTo for a server that sends blocks on: each
// block's encoding, read from the store and checked against its key
// (header hash, Merkle root) but not decoded, goes to each in order, valid
// only during the call. It stops before the block that would take the
// encodings over maxBytes (at least one; -1 for no limit) and returns how
// many it gave. A damaged record is a StoreDamageError, with the count of
// those given before it; nothing of it is given.
func (c *Chain) RawBlocksUpTo(hs []Hash, maxBytes int, each func(enc []byte)) (int, error) {
	if len(hs) == 0 {
		return 0, nil
	}
	ks, err := c.recordKeys(hs)
	if err != nil {
		return 0, err
	}
	return c.store.rawBlocksUpTo(ks, maxBytes, each)
}
