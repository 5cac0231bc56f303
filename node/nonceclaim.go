package node

import (
	"context"
	"slices"
	"sync"

	"github.com/gossipchain/gossipchain/chain"
)

// One spend of a nonce at a time. SubmitTx writes a transaction's log
// record before its signature check and pool add, so that the sync runs
// beside them (durable.go). Two submissions spending the same nonce at
// once would then both leave records, in an order that need not be the
// one in which the pool chose between them: after a crash the replay
// could admit the one its submitter was told was refused and drop the
// acknowledged one. So a submission claims its (sender, nonce) before its
// checks and keeps it until its admission's verdict (Send, which writes
// its record after the verdict, until the record is started); a second
// one waits
// for that verdict, then is checked against the pool it left. Records of
// one (sender, nonce) are therefore written in the order the pool
// decided, and the replay, which keeps the last well-signed record of
// each (sender, nonce) (lastSpends), decides as the pool did.
//
// The claims live only while submissions are in flight: one a waiting
// or admitting submitter, each a request its client keeps open.

type spendKey struct {
	sender chain.Address
	nonce  uint64
}

type nonceClaims struct {
	mu sync.Mutex
	// held: a claim, with the channel its waiters wait on (nil until a
	// second submission of the nonce arrives).
	held map[spendKey]chan struct{}
}

func newNonceClaims() *nonceClaims {
	return &nonceClaims{held: make(map[spendKey]chan struct{})}
}

// claim waits until no other submission holds tx's (sender, nonce), then
// holds it until release is called (once or more). It fails only when ctx
// ends first.
func (c *nonceClaims) claim(ctx context.Context, tx *chain.Tx) (release func(), err error) {
	k := spendKey{tx.Sender, tx.Nonce}
	for {
		c.mu.Lock()
		wait, busy := c.held[k]
		if !busy {
			c.held[k] = nil
			c.mu.Unlock()
			released := false
			return func() {
				if !released {
					released = true
					c.release(k)
				}
			}, nil
		}
		if wait == nil {
			wait = make(chan struct{})
			c.held[k] = wait
		}
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *nonceClaims) release(k spendKey) {
	c.mu.Lock()
	wait := c.held[k]
	delete(c.held, k)
	c.mu.Unlock()
	if wait != nil {
		close(wait)
	}
}

// lastSpends keeps, of the log's records that spend the same (sender,
// nonce), the last one that is well signed (nonceClaims: the pool's
// choice); records alone on their nonce are kept as they are (the
// replay's admission checks them). Log order is kept otherwise.
func lastSpends(txs []*chain.Tx, genesis chain.Hash) []*chain.Tx {
	count := make(map[spendKey]int, len(txs))
	for _, tx := range txs {
		count[spendKey{tx.Sender, tx.Nonce}]++
	}
	var contested []*chain.Tx
	for _, tx := range txs {
		if count[spendKey{tx.Sender, tx.Nonce}] > 1 {
			contested = append(contested, tx)
		}
	}
	if len(contested) == 0 {
		return txs
	}
	last := make(map[spendKey]*chain.Tx)
	for i, err := range chain.VerifyTxs(contested, genesis) {
		if err == nil {
			tx := contested[i]
			last[spendKey{tx.Sender, tx.Nonce}] = tx
		}
	}
	return slices.DeleteFunc(slices.Clone(txs), func(tx *chain.Tx) bool {
		k := spendKey{tx.Sender, tx.Nonce}
		return count[k] > 1 && last[k] != tx
	})
}
