package node

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// The pending-transaction log (chain.TxLog, DATA_DIR/txlog.dat) is what
// makes an acknowledgement durable: SubmitTx returns (and the API answers
// 201) only once the transaction is fsync'd there. Concurrent submitters
// share one fsync. New replays the log, re-admitting what is still valid;
// the log is then compacted to the pool. Transactions from gossip are not
// logged one by one (their sender holds them), but every compaction writes
// the whole pool.

// ErrDiskUnavailable wraps chain.ErrTxLogUnavailable for callers of node:
// the node cannot make new transactions durable and refuses them.
var ErrDiskUnavailable = chain.ErrTxLogUnavailable

func (n *Node) openTxLog() error {
	n.loadMempool() // a mempool.dat left by an older version
	path := filepath.Join(n.cfg.DataDir, chain.TxLogFile)
	log, txs, err := chain.OpenTxLog(path, chain.TxLogOptions{
		Live:      n.liveTxs,
		CompactAt: n.cfg.TxLogCompactAt,
		Prealloc:  n.cfg.TxLogPrealloc,
	})
	if err != nil {
		return err
	}
	n.txlog = log
	// Of the records spending one (sender, nonce), the pool's choice
	// (nonceclaim.go).
	txs = lastSpends(txs, n.chain.GenesisHash())
	// Each sender's by nonce: appends of one sender may have been written
	// out of order by concurrent submitters.
	slices.SortStableFunc(txs, func(a, b *chain.Tx) int {
		if c := slices.Compare(a.Sender[:], b.Sender[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Nonce, b.Nonce)
	})
	// Promised before the restart (acked.go), all but those a submitter
	// was refused: SubmitTx writes a record before the signature check,
	// so the log may hold badly signed transactions. The pool refuses
	// them again; those it parks are not signature-checked by it (the
	// nonce or balance came first), so they are checked here.
	n.acked.add(txs...)
	admitted, parked, refused := 0, 0, 0
	var park []*chain.Tx
	for _, tx := range txs {
		switch err := n.chain.SubmitTx(tx); {
		case err == nil:
			admitted++
		case n.parkable(tx, err):
			park = append(park, tx)
		case errors.Is(err, chain.ErrBadSignature) || errors.Is(err, chain.ErrBadAddress):
			n.acked.remove(tx.ID())
			refused++
		}
	}
	for i, err := range chain.VerifyTxs(park, n.chain.GenesisHash()) {
		if err != nil {
			n.acked.remove(park[i].ID())
			refused++
			continue
		}
		n.parked.add(park[i])
		parked++
	}
	if len(txs) > 0 {
		n.log.Info("replayed the pending-transaction log", "txs", len(txs), "readmitted", admitted, "parked", parked, "badly signed", refused)
	}
	if err := log.Compact(); err != nil {
		// Not fatal: the node starts and refuses new transactions until
		// the disk has room (the log retries by itself).
		n.log.Error("compacting the pending-transaction log", "err", err)
	}
	return nil
}

// expectLog announces a local submission's append before its validation
// (chain.TxLogPromise), so concurrent submitters share fsyncs; nil without
// a log.
func (n *Node) expectLog() *chain.TxLogPromise {
	if n.txlog == nil {
		return nil
	}
	return n.txlog.Expect()
}

// logTx waits for an admitted transaction's write (started with
// TxLogPromise.Start) to be durable. When it cannot be, the transaction is
// taken back out of the pool if nothing depends on it, and the caller
// gets the log's error (the API answers 503).
func (n *Node) logTx(tx *chain.Tx, write chain.TxLogPending) error {
	err := write.Wait()
	if err == nil {
		return nil
	}
	n.chain.Mempool().DropIfLast(tx.ID())
	n.metrics.TxsNotDurable.Add(1)
	n.log.Warn("transaction refused: not durable", "id", tx.ID(), "err", err)
	return fmt.Errorf("tx %s not accepted: %w", tx.ID(), err)
}

// TxLogErr is the pending-transaction log's failure (a full disk) while it
// cannot write, else nil.
func (n *Node) TxLogErr() error {
	if n.txlog == nil {
		return nil
	}
	return n.txlog.Err()
}

// TxLogStats counts the pending-transaction log's writes since start (zero
// without a log).
func (n *Node) TxLogStats() chain.TxLogStats {
	if n.txlog == nil {
		return chain.TxLogStats{}
	}
	return n.txlog.Stats()
}

// closeTxLog compacts the log to the pool and closes it.
func (n *Node) closeTxLog() error {
	if n.txlog == nil {
		return nil
	}
	err := n.txlog.Close()
	if errors.Is(err, chain.ErrTxLogUnavailable) {
		n.log.Warn("pending-transaction log not compacted at close; it is replayed as is", "err", err)
		return nil
	}
	return err
}

// Parked transactions. A logged transaction may not be admissible at
// replay and yet be valid later: its sender's previous nonce was in our
// pool only by gossip (not logged here, lost with the process), or its
// funds are in a transaction not mined yet. The chaos test lost
// acknowledgements that way: a node killed just after a 201 replayed the
// transaction, found a nonce gap, dropped it, and its compaction erased it.
// Such transactions are parked: kept in the log (every compaction writes
// them with the pool) and offered to the pool again every few seconds,
// until admitted or stale (the sender's account nonce has passed them: mined,
// or a conflicting spend won).

// parkInterval is how often parked transactions are offered again.
const parkInterval = 2 * time.Second

type parkedTxs struct {
	mu  sync.Mutex
	txs map[chain.Hash]*chain.Tx
}

func (p *parkedTxs) add(tx *chain.Tx) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.txs == nil {
		p.txs = make(map[chain.Hash]*chain.Tx)
	}
	p.txs[tx.ID()] = tx
}

// maxParkedOthers bounds the parked transactions this node did not
// acknowledge itself (from a reorg's disconnected blocks).
const maxParkedOthers = 10000

// addBounded parks tx unless max are parked already.
func (p *parkedTxs) addBounded(tx *chain.Tx, max int) bool {
	p.mu.Lock()
	full := len(p.txs) >= max
	p.mu.Unlock()
	if full {
		return false
	}
	p.add(tx)
	return true
}

func (p *parkedTxs) list() []*chain.Tx {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*chain.Tx, 0, len(p.txs))
	for _, tx := range p.txs {
		out = append(out, tx)
	}
	slices.SortFunc(out, func(a, b *chain.Tx) int {
		if c := slices.Compare(a.Sender[:], b.Sender[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Nonce, b.Nonce)
	})
	return out
}

// count reports how many are parked, and how many of them acked says
// this node acknowledged (no copy, no sort: /status asks).
func (p *parkedTxs) count(acked func(chain.Hash) bool) (all, ofAcked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id := range p.txs {
		if acked(id) {
			ofAcked++
		}
	}
	return len(p.txs), ofAcked
}

func (p *parkedTxs) has(id chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.txs[id]
	return ok
}

func (p *parkedTxs) remove(id chain.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.txs, id)
}

// parkable: refused now, but may be valid later (not stale, not broken).
func (n *Node) parkable(tx *chain.Tx, err error) bool {
	if !errors.Is(err, chain.ErrBadNonce) && !errors.Is(err, chain.ErrInsufficientBalance) && !errors.Is(err, chain.ErrMempoolFull) {
		return false
	}
	return tx.Nonce >= n.chain.Account(tx.Sender).Nonce
}

// liveTxs is what a compaction keeps: the parked, the acknowledged not
// yet mined and the pool, once each, the pool's last. Of two spends of
// one nonce (an acknowledged one parked after an eviction, another pooled
// since), the replay keeps the last (nonceclaim.go): the pooled one, which
// is the one the node would mine.
func (n *Node) liveTxs() []*chain.Tx {
	all := append(append(n.parked.list(), n.acked.list()...), n.chain.Mempool().Pending()...)
	seen := make(map[chain.Hash]bool, len(all))
	live := make([]*chain.Tx, 0, len(all))
	for _, tx := range slices.Backward(all) { // each at its last place
		if id := tx.ID(); !seen[id] {
			seen[id] = true
			live = append(live, tx)
		}
	}
	slices.Reverse(live)
	return live
}

// ParkedTxs lists logged transactions waiting to become admissible.
func (n *Node) ParkedTxs() []*chain.Tx { return n.parked.list() }

// Parked reports whether a transaction is parked: acknowledged and on
// disk, but waiting to become admissible to the pool.
func (n *Node) Parked(id chain.Hash) bool { return n.parked.has(id) }

// retryParked offers parked transactions to the pool until ctx ends.
func (n *Node) retryParked() {
	t := time.NewTicker(parkInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.headChanged():
		}
		n.acked.sweep(n.chain.Account)
		n.offerParked()
	}
}

func (n *Node) offerParked() {
	var back []*chain.Tx
	for _, tx := range n.parked.list() {
		err := n.chain.SubmitTx(tx)
		switch {
		case err == nil:
			n.parked.remove(tx.ID())
			back = append(back, tx)
		case errors.Is(err, chain.ErrKnownTx):
			n.parked.remove(tx.ID()) // in the pool already (gossip)
		case !n.parkable(tx, err):
			n.parked.remove(tx.ID()) // stale: mined, or another spend of its nonce won
			n.log.Info("parked transaction dropped", "id", tx.ID(), "err", err)
		}
	}
	if len(back) > 0 {
		n.log.Info("parked transactions admitted", "txs", len(back))
		for _, tx := range back {
			n.txq.push(tx)
		}
	}
}

// parkDisconnected parks the transactions of blocks a reorg disconnected
// that did not come back to the pool but may be valid later (the pool's
// reset drops those it cannot take now, e.g. funds the reorg sent back to
// the pool), and logs them, so they are not lost to a crash either.
func (n *Node) parkDisconnected(blocks []*chain.Block) {
	pool := n.chain.Mempool()
	var park []*chain.Tx
	for _, b := range blocks {
		for _, tx := range b.Txs[1:] {
			if !pool.Has(tx.ID()) && tx.Nonce >= n.chain.Account(tx.Sender).Nonce {
				park = append(park, tx)
			}
		}
	}
	if len(park) == 0 {
		return
	}
	// Ours are promises; others' are kept while there is room (their
	// acknowledging node parks them too), so a peer's big reorg cannot
	// grow the set without bound.
	kept := park[:0]
	for _, tx := range park {
		if n.acked.has(tx.ID()) {
			n.parked.add(tx)
		} else if !n.parked.addBounded(tx, maxParkedOthers) {
			continue
		}
		kept = append(kept, tx)
	}
	park = kept
	if len(park) == 0 {
		return
	}
	n.log.Info("parked transactions of disconnected blocks", "txs", len(park))
	if n.txlog != nil {
		n.spawn(func() {
			if err := n.txlog.Append(park...); err != nil {
				n.log.Warn("parked transactions not logged", "err", err)
			}
		})
	}
}
