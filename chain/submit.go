package chain

// SubmitTx validates a transfer against the head state plus the pool's
// pending transactions and adds it to the mempool.
//
// The checks run cheapest first, so that a transaction refused for any
// other reason costs no signature check: whether it is known (pending, or
// recently refused by verifyTx: map lookups), its fields,
// then nonce, balance and room against head state and the pending
// transactions (under the locks), and only then verifyTx (addresses and
// signature, chain/sig.go), outside the locks. The add checks the state
// again, since a concurrent submit of the same sender or a new head may have
// changed it while we verified: of two transactions with the same nonce, one
// gets in and the other gets ErrBadNonce (or ErrKnownTx).
//
// The errors wrap the same sentinels as CheckTxSanity and the block rules,
// but when a transaction breaks several rules which one is reported follows
// this order: a badly signed transaction with a stale nonce is ErrBadNonce.
func (c *Chain) SubmitTx(tx *Tx) error {
	return c.submitVerified(tx, tx.ID(), false, nil)
}
