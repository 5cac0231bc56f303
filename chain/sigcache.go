package chain

import "sync"

// The verified-signature cache (btcd's sigcache idea, issue 12): ids of
// transfers that passed verifyTx (addresses and signature) on a network,
// so that a block holding them does not check them again. A transaction's
// id is the hash of its whole encoding, signature included, and the
// network is stored with it, so an entry answers for exactly the bytes
// that were verified: the rule's answer cannot differ.
//
// Two producers: admission to the mempool (SubmitTx, SubmitTxs), so a
// block of transactions we already hold costs no signature checks; and,
// when node.Config.SyncPreverify is on, the sync's download, which checks
// each block's signatures as it arrives (PreverifyBlocks) while the
// previous blocks are being stored. Block
// validation (verifyBlocksTxs) takes entries out as it uses them: a
// transaction is in one block of a chain, so the cache stays small.
// Bounded: at sigCacheMax entries it is emptied.
var sigCache = struct {
	sync.Mutex
	m map[Hash]Hash // tx id → network
}{m: make(map[Hash]Hash)}

// sigCacheMax bounds the cache: 65,536 entries, about 6 MB.
const sigCacheMax = 1 << 16

func sigCachePut(id, network Hash) {
	sigCache.Lock()
	if len(sigCache.m) >= sigCacheMax {
		clear(sigCache.m)
	}
	sigCache.m[id] = network
	sigCache.Unlock()
}

// sigCacheLen is how many entries the cache holds.
func sigCacheLen() int {
	sigCache.Lock()
	defer sigCache.Unlock()
	return len(sigCache.m)
}

// sigCacheTake reports whether id passed verifyTx on network, and forgets
// it.
func sigCacheTake(id, network Hash) bool {
	sigCache.Lock()
	defer sigCache.Unlock()
	n, ok := sigCache.m[id]
	if ok {
		delete(sigCache.m, id)
	}
	return ok && n == network
}

// PreverifyBlocks checks the addresses and signatures of blocks' transfers
// ahead of AddBlocks (batch-verified, on all cores) and remembers those
// that pass, so that AddBlocks does not check them again. Nothing else is
// checked and nothing is decided here: a transfer that fails is simply not
// remembered, and AddBlocks finds it.
func PreverifyBlocks(blocks []*Block, network Hash) {
	var txs []*Tx
	for _, b := range blocks {
		if len(b.Txs) > 1 {
			txs = append(txs, b.Txs[1:]...)
		}
	}
	for i, err := range VerifyTxs(txs, network) {
		if err == nil {
			sigCachePut(txs[i].ID(), network)
		}
	}
}
