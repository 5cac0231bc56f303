package node

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// A transaction announcement on the tx topic: when it was made (unix
// nanoseconds), a uvarint count, and the transactions. The message id is the
// hash of these bytes, so relays of one announcement are one message, while
// a later announcement of the same transactions (after a reorg put them back
// in the mempool) is a new message that peers have not seen.
const maxTxsPerAnnouncement = 1000

func encodeTxAnnouncement(at time.Time, txs []*chain.Tx) []byte {
	b := make([]byte, 8, 8+binary.MaxVarintLen64+len(txs)*chain.TxSize)
	binary.BigEndian.PutUint64(b, uint64(at.UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(txs)))
	for _, tx := range txs {
		b = append(b, tx.Bytes()...)
	}
	return b
}

func decodeTxAnnouncement(b []byte) ([]*chain.Tx, error) {
	if len(b) < 9 {
		return nil, fmt.Errorf("tx announcement of %d bytes: %w", len(b), chain.ErrMalformed)
	}
	n, k := binary.Uvarint(b[8:])
	if k <= 0 || n == 0 || n > maxTxsPerAnnouncement || uint64(len(b)-8-k) != n*chain.TxSize {
		return nil, fmt.Errorf("tx announcement count: %w", chain.ErrMalformed)
	}
	b = b[8+k:]
	txs := make([]*chain.Tx, n)
	for i := range txs {
		tx, err := chain.DecodeTx(b[i*chain.TxSize : (i+1)*chain.TxSize])
		if err != nil {
			return nil, err
		}
		txs[i] = tx
	}
	return txs, nil
}

// announceTxs gossips transactions, in announcements of bounded size.
func (n *Node) announceTxs(txs []*chain.Tx) {
	for len(txs) > 0 {
		k := min(len(txs), maxTxsPerAnnouncement)
		if err := n.txTopic.Publish(n.ctx, encodeTxAnnouncement(time.Now(), txs[:k])); err != nil && n.ctx.Err() == nil {
			n.log.Warn("publish txs", "count", k, "err", err)
		}
		txs = txs[k:]
	}
}

// txQueue batches our own transactions for gossip: SubmitTx queues each,
// and announceLoop publishes whatever queued since its last publish as one
// announcement. Under load that spreads pubsub's per-message costs (signing
// the message, then checking our own signature again) over many
// transactions, which made node.SubmitTx three times as slow as
// chain.SubmitTx; when idle, a transaction goes out alone at once.
type txQueue struct {
	mu   sync.Mutex
	txs  []*chain.Tx
	wake chan struct{} // capacity 1: a publish is due
}

func newTxQueue() *txQueue { return &txQueue{wake: make(chan struct{}, 1)} }

func (q *txQueue) push(tx *chain.Tx) {
	q.mu.Lock()
	q.txs = append(q.txs, tx)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *txQueue) take() []*chain.Tx {
	q.mu.Lock()
	defer q.mu.Unlock()
	txs := q.txs
	q.txs = nil
	return txs
}

// announceLoop publishes queued transactions until the node closes. Each
// sender's transactions go in nonce order, as peers admit them.
func (n *Node) announceLoop() {
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.txq.wake:
		}
		txs := n.txq.take()
		slices.SortStableFunc(txs, func(a, b *chain.Tx) int {
			if c := bytes.Compare(a.Sender[:], b.Sender[:]); c != 0 {
				return c
			}
			return cmp.Compare(a.Nonce, b.Nonce)
		})
		n.announceTxs(txs)
	}
}
