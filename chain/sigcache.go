package chain

import "sync"

// The verified-signature cache (btcd's sigcache idea, issue 12): ids of
// transfers that passed verifyTx (addresses and signature) on this
// chain's network, so that a block holding them does not check them again.
// A transaction's id is the hash of its whole encoding, signature
// included, so an entry answers for exactly the bytes that were verified:
// the rule's answer cannot differ. One per Chain (its network is the
// chain's).
//
// It is the one record of signatures checked ahead of a block. Producers:
// admission to the mempool (SubmitTx, SubmitTxs), so a block of
// transactions we hold (gossiped, rebuilt from a compact block, mined
// here) costs no signature checks; transfers of a disconnected block,
// which were verified when it was connected and may come back to the
// pool; and, when node.Config.SyncPreverify is on, the sync's download
// (PreverifyBlocks). Block validation (verifyBlocksTxs) takes entries out
// as it uses them: a transaction is in one block of a chain, so the cache
// stays small. Bounded: at sigCacheMax entries it is emptied (an entry
// lost costs a signature check, never a wrong answer).
type sigCache struct {
	mu sync.Mutex
	m  map[Hash]struct{}
}

// sigCacheMax bounds the cache: 65,536 entries, about 4 MB.
const sigCacheMax = 1 << 16

func newSigCache() *sigCache { return &sigCache{m: make(map[Hash]struct{})} }

func (s *sigCache) put(id Hash) {
	s.mu.Lock()
	if len(s.m) >= sigCacheMax {
		clear(s.m)
	}
	s.m[id] = struct{}{}
	s.mu.Unlock()
}

// take reports whether id passed verifyTx, and forgets it.
func (s *sigCache) take(id Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	if ok {
		delete(s.m, id)
	}
	return ok
}

func (s *sigCache) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// PreverifyBlocks checks the addresses and signatures of blocks' transfers
// ahead of AddBlocks (batch-verified, on all cores) and remembers those
// that pass, so that AddBlocks does not check them again. Nothing else is
// checked and nothing is decided here: a transfer that fails is simply not
// remembered, and AddBlocks finds it.
func (c *Chain) PreverifyBlocks(blocks []*Block) {
	var txs []*Tx
	for _, b := range blocks {
		if len(b.Txs) > 1 {
			txs = append(txs, b.Txs[1:]...)
		}
	}
	for i, err := range VerifyTxs(txs, c.network) {
		if err == nil {
			c.sigs.put(txs[i].ID())
		}
	}
}
