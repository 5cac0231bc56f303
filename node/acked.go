package node

import (
	"fmt"
	"math"
	"sync"

	"github.com/gossipchain/gossipchain/chain"
)

// Acknowledged transactions. A nil from SubmitTx or Send (a 201 from the
// API) is a promise: the transaction stays with this node until it is mined
// or a conflicting spend of its nonce wins. The log (durable.go) keeps it
// across crashes; this set keeps it across the pool's own bound. The pool
// may evict it for better-paying transactions, or leave it out when it
// refills after a reorg; the OnDrop hook then parks it instead of letting
// it go. The set is bounded: once it holds MaxAcknowledged transactions not
// yet mined, new submissions are refused (503) rather than older promises
// broken. A transaction leaves the set once the head's account nonce of its
// sender has passed it.
//
// The node's own wallet draws its nonces past every transaction of its
// own in the set: reusing the nonce of one that is parked (not in the pool)
// would make the node itself the author of the conflicting spend that
// voids its own acknowledgement. The chaos test lost five that way.

// DefaultMaxAcknowledged bounds the acknowledged-but-not-mined set.
const DefaultMaxAcknowledged = 10000

type ackedTxs struct {
	mu  sync.Mutex
	max int
	txs map[chain.Hash]*chain.Tx
}

func newAckedTxs(max int) *ackedTxs {
	if max <= 0 {
		max = DefaultMaxAcknowledged
	}
	return &ackedTxs{max: max, txs: make(map[chain.Hash]*chain.Tx)}
}

// room refuses a new acknowledgement when the set is full.
func (a *ackedTxs) room() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.txs) >= a.max {
		return fmt.Errorf("this node holds %d acknowledged transactions not yet mined, its limit; try again after the next blocks: %w", len(a.txs), chain.ErrMempoolFull)
	}
	return nil
}

// addNew records tx as acknowledged-to-be and reports whether it was not
// already: only then may a failure take it back out (a retry of an
// acknowledged transaction, refused as known, must not).
func (a *ackedTxs) addNew(tx *chain.Tx) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := tx.ID()
	if _, ok := a.txs[id]; ok {
		return false
	}
	a.txs[id] = tx
	return true
}

// add records txs as acknowledged; replayed ones may go over the bound
// (they were promised before), which only delays new acknowledgements.
func (a *ackedTxs) add(txs ...*chain.Tx) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, tx := range txs {
		a.txs[tx.ID()] = tx
	}
}

func (a *ackedTxs) remove(id chain.Hash) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.txs, id)
}

func (a *ackedTxs) has(id chain.Hash) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.txs[id]
	return ok
}

func (a *ackedTxs) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.txs)
}

func (a *ackedTxs) list() []*chain.Tx {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*chain.Tx, 0, len(a.txs))
	for _, tx := range a.txs {
		out = append(out, tx)
	}
	return out
}

// owed sums what sender's acknowledged transactions from nonce on spend
// (amount and fee), saturating: what the head's balance must still cover.
func (a *ackedTxs) owed(sender chain.Address, nonce uint64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var sum uint64
	for _, tx := range a.txs {
		if tx.Sender != sender || tx.Nonce < nonce {
			continue
		}
		for _, v := range []uint64{tx.Amount, tx.Fee} {
			if sum > math.MaxUint64-v {
				return math.MaxUint64
			}
			sum += v
		}
	}
	return sum
}

// nextNonce is one past the highest nonce of sender's acknowledged
// transactions, or 0 when it has none.
func (a *ackedTxs) nextNonce(sender chain.Address) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var next uint64
	for _, tx := range a.txs {
		if tx.Sender == sender && tx.Nonce >= next {
			next = tx.Nonce + 1
		}
	}
	return next
}

// sweep forgets the transactions whose sender's nonce the head has passed:
// mined, or outbid by another spend of the nonce. A reorg that takes the
// block away brings them back to the pool or parks them (durable.go).
func (a *ackedTxs) sweep(account func(chain.Address) chain.Account) {
	a.mu.Lock()
	defer a.mu.Unlock()
	nonces := make(map[chain.Address]uint64)
	for id, tx := range a.txs {
		n, ok := nonces[tx.Sender]
		if !ok {
			n = account(tx.Sender).Nonce
			nonces[tx.Sender] = n
		}
		if tx.Nonce < n {
			delete(a.txs, id)
		}
	}
}

// onPoolDrop parks the acknowledged transactions the pool let go.
func (n *Node) onPoolDrop(txs []*chain.Tx) {
	parked := 0
	for _, tx := range txs {
		if n.acked.has(tx.ID()) {
			n.parked.add(tx)
			parked++
		}
	}
	if parked > 0 {
		n.metrics.TxsParked.Add(uint64(parked))
		n.log.Info("acknowledged transactions left the pool; parked", "txs", parked)
	}
}
