package node

import (
	"context"
	"testing"

	"github.com/gossipchain/gossipchain/chain"
)

// BenchmarkAcceptCompactBlock is a receiving node's whole CPU cost of a
// compact block whose transactions are all in its mempool, as the bench's
// 20 nodes each pay it: decode the message, CheckHeader, rebuild from the
// mempool, checkShape (the relay), then AddShapedBlock (signatures from
// the cache, state, the store commit with its fsync, the pool's reset).
// cpu-ms/op is the process's user+system time over the timed part.
func BenchmarkAcceptCompactBlock(b *testing.B) {
	benchPooledBlocks(b, func(b *testing.B, n *Node, blk *chain.Block, round int) func() {
		msg := newCompactBlock(blk, uint64(round)).Bytes()
		return func() {
			cb, err := decodeCompactBlock(msg, n.cfg.Params.MaxBlockTxs)
			if err != nil {
				b.Fatal(err)
			}
			if err := n.chain.CheckHeader(cb.Header); err != nil {
				b.Fatal(err)
			}
			rb, err := n.rebuild(context.Background(), "", cb)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := n.chain.AddShapedBlock(rb); err != nil {
				b.Fatal(err)
			}
		}
	})
}
