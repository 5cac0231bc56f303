package node

import (
	"encoding/binary"
	"fmt"
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
