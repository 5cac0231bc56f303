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
	// The count must be minimal: the message id hashes these bytes, and
	// one announcement should have one encoding.
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) || n == 0 || n > maxTxsPerAnnouncement || uint64(len(b)-8-k) != n*chain.TxSize {
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

// announcementCount reads an announcement's transaction count without
// decoding it, for the rate limit.
func announcementCount(b []byte) (int, error) {
	if len(b) < 9 {
		return 0, fmt.Errorf("tx announcement of %d bytes: %w", len(b), chain.ErrMalformed)
	}
	n, k := binary.Uvarint(b[8:])
	if k <= 0 || n == 0 || n > maxTxsPerAnnouncement {
		return 0, fmt.Errorf("tx announcement count: %w", chain.ErrMalformed)
	}
	return int(n), nil
}

// announceTxs queues transactions for gossip (our own, a reorg's, the
// mempool's rebroadcast): announceLoop sends them within our budget.
func (n *Node) announceTxs(txs []*chain.Tx) {
	n.txq.push(txs...)
}

// txQueue is the state of tx gossip: our transactions waiting to be
// announced, the budget our announcements keep to, and the limit on what
// each peer may send us (txlimit.go).
//
// Everything we announce goes through the queue, and announceLoop publishes
// whatever queued since its last publish as one announcement. Under load
// that spreads pubsub's per-message costs (signing the message, then
// checking our own signature again) over many transactions, which made
// node.SubmitTx three times as slow as chain.SubmitTx; when idle, a
// transaction goes out alone at once. The budget (txOutRate, txOutBurst,
// one announcement per annOutEvery) is half what peers accept from us, so
// that a rebroadcast, a peer joining every second and our own submissions
// together stay under their limit; what does not fit waits its turn.
type txQueue struct {
	mu    sync.Mutex
	txs   []*chain.Tx // first queued first
	ids   map[chain.Hash]struct{}
	out   tokenBucket
	wake  chan struct{} // capacity 1: a publish is due
	limit *txLimiter    // incoming, per peer
}

func newTxQueue() *txQueue {
	return &txQueue{
		ids:   make(map[chain.Hash]struct{}),
		out:   fullBucket(txOutBurst, time.Now()),
		wake:  make(chan struct{}, 1),
		limit: newTxLimiter(nil),
	}
}

// push queues transactions not queued already.
func (q *txQueue) push(txs ...*chain.Tx) {
	q.mu.Lock()
	for _, tx := range txs {
		id := tx.ID()
		if _, ok := q.ids[id]; !ok {
			q.ids[id] = struct{}{}
			q.txs = append(q.txs, tx)
		}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes the oldest queued transactions that keep is true of, as
// many as the budget and one announcement allow; the others it drops.
func (q *txQueue) take(now time.Time, keep func(*chain.Tx) bool) []*chain.Tx {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.out.refill(now, txOutRate, txOutBurst)
	var out []*chain.Tx
	i := 0
	for ; i < len(q.txs) && len(out) < maxTxsPerAnnouncement && q.out.tokens >= 1; i++ {
		tx := q.txs[i]
		delete(q.ids, tx.ID())
		if keep(tx) {
			out = append(out, tx)
			q.out.tokens--
		}
	}
	q.txs = q.txs[i:]
	if len(q.txs) == 0 {
		q.txs = nil // let the backing array go
	}
	return out
}

func (q *txQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.txs) == 0
}

// announceLoop publishes queued transactions until the node closes, one
// announcement per annOutEvery at most, within the budget. Each sender's
// transactions go in nonce order, as peers admit them; those no longer
// pending are not announced.
func (n *Node) announceLoop() {
	var last time.Time
	for {
		if n.txq.empty() {
			select {
			case <-n.ctx.Done():
				return
			case <-n.txq.wake:
			}
		}
		if d := annOutEvery - time.Since(last); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		last = time.Now()
		pool := n.chain.Mempool()
		txs := n.txq.take(last, func(tx *chain.Tx) bool { return pool.Has(tx.ID()) })
		if len(txs) == 0 {
			continue
		}
		slices.SortStableFunc(txs, func(a, b *chain.Tx) int {
			if c := bytes.Compare(a.Sender[:], b.Sender[:]); c != 0 {
				return c
			}
			return cmp.Compare(a.Nonce, b.Nonce)
		})
		if err := n.txTopic.Publish(n.ctx, encodeTxAnnouncement(time.Now(), txs)); err != nil && n.ctx.Err() == nil {
			n.log.Warn("publish txs", "count", len(txs), "err", err)
		}
	}
}
