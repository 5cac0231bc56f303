package chain

import "fmt"

// SubmitTxs is SubmitTx for a burst of transactions (a gossiped
// announcement of up to 1,000): each gets the answer SubmitTx would give it
// were they submitted one after the other in this order, but the
// signatures are checked as one batch (VerifyTxs) instead of one by one.
//
// Which signatures go into the batch is decided before any is added, by
// the cheap checks (coinbase, known, fields) and a simulation of the state
// checks in which the burst's earlier transactions that would pass count
// as pending (so a sender's consecutive nonces all go in). A transaction
// the simulation refuses costs no signature check, as with SubmitTx. Then,
// in order, each transaction runs SubmitTx's sequence for real: known,
// fields, state against the pool (under the read lock), the signature (the
// batch's verdict, or verifyTx for one the simulation refused but that now
// passes), and the add. The simulation only chooses what to verify early;
// the answers come from the same checks as SubmitTx's.
func (c *Chain) SubmitTxs(txs []*Tx) []error {
	errs := make([]error, len(txs))
	ids := make([]Hash, len(txs))
	verdict := make([]error, len(txs))
	inBatch := make([]bool, len(txs))
	var batch []*Tx
	var at []int
	type pendingOf struct {
		n     uint64
		spent uint64
	}
	burst := make(map[Address]pendingOf)
	c.mu.RLock()
	for i, tx := range txs {
		ids[i] = tx.ID()
		if tx.IsCoinbase() || checkTxFields(tx) != nil || c.pool.known(ids[i]) != nil {
			continue // refused at its turn below, with no signature check
		}
		if !c.pool.simulate(tx, c.account, burst[tx.Sender].n, burst[tx.Sender].spent) {
			continue
		}
		b := burst[tx.Sender]
		burst[tx.Sender] = pendingOf{b.n + 1, b.spent + tx.Amount + tx.Fee}
		inBatch[i] = true
		batch = append(batch, tx)
		at = append(at, i)
	}
	c.mu.RUnlock()
	for k, err := range VerifyTxs(batch, c.network) {
		verdict[at[k]] = err
	}
	for i, tx := range txs {
		errs[i] = c.submitVerified(tx, ids[i], inBatch[i], verdict[i])
	}
	return errs
}

// submitVerified is SubmitTx (its check order) with the signature verdict given when
// verified is set.
func (c *Chain) submitVerified(tx *Tx, id Hash, verified bool, verdict error) error {
	if err := c.precheck(tx, id); err != nil {
		return err
	}
	if !verified {
		verdict = verifyTx(tx, c.network)
	}
	if verdict != nil {
		c.pool.reject(id, verdict)
		return verdict
	}
	c.sigs.put(id)
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pool.add(tx, c.account)
}

// simulate reports whether tx would pass check with extra more pending
// transactions of its sender spending extraSpent: the burst's earlier
// ones. It only chooses which signatures SubmitTxs verifies early.
func (m *Mempool) simulate(tx *Tx, get accountGetter, extra, extraSpent uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	acct := get(tx.Sender)
	queue := m.bySender[tx.Sender]
	if tx.Nonce != acct.Nonce+uint64(len(queue))+extra {
		return false
	}
	spent := extraSpent
	for _, q := range queue {
		spent += q.Amount + q.Fee
	}
	cost := tx.Amount + tx.Fee
	return acct.Balance >= spent && acct.Balance-spent >= cost
}

// PrecheckTx runs SubmitTx's checks that come before the signature
// (coinbase sender, known, fields, nonce, balance and room against the
// head and the pool) and returns the error SubmitTx would give for them,
// or nil: then SubmitTx's answer depends on the signature, or on what
// changes meanwhile. It changes nothing. The node uses it to start a
// transaction's durable write before the signature check (node/admit.go).
func (c *Chain) PrecheckTx(tx *Tx) error {
	return c.precheck(tx, tx.ID())
}

func (c *Chain) precheck(tx *Tx, id Hash) error {
	if tx.IsCoinbase() {
		return fmt.Errorf("tx %s: transfer with the coinbase sender: %w", id, ErrBadCoinbase)
	}
	if err := c.pool.known(id); err != nil {
		return err
	}
	if err := checkTxFields(tx); err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pool.check(tx, id, c.account)
}
