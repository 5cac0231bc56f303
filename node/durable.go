package node

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

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
		Live:      n.chain.Mempool().Pending,
		CompactAt: n.cfg.TxLogCompactAt,
	})
	if err != nil {
		return err
	}
	n.txlog = log
	// Each sender's by nonce: appends of one sender may have been written
	// out of order by concurrent submitters.
	slices.SortStableFunc(txs, func(a, b *chain.Tx) int {
		if c := slices.Compare(a.Sender[:], b.Sender[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Nonce, b.Nonce)
	})
	admitted := 0
	for _, tx := range txs {
		if n.chain.SubmitTx(tx) == nil {
			admitted++
		}
	}
	if len(txs) > 0 {
		n.log.Info("replayed the pending-transaction log", "txs", len(txs), "readmitted", admitted)
	}
	if err := log.Compact(); err != nil {
		// Not fatal: the node starts and refuses new transactions until
		// the disk has room (the log retries by itself).
		n.log.Error("compacting the pending-transaction log", "err", err)
	}
	return nil
}

// logTx makes an admitted transaction durable. When it cannot, the
// transaction is taken back out of the pool if nothing depends on it, and
// the caller gets the log's error (the API answers 503).
func (n *Node) logTx(tx *chain.Tx) error {
	if n.txlog == nil {
		return nil
	}
	err := n.txlog.Append(tx)
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
