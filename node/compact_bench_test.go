package node

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// BenchmarkAcceptCompactBlock is a receiving node's whole CPU cost of a
// compact block whose transactions are all in its mempool, as the bench's
// 20 nodes each pay it: decode the message, CheckHeader, rebuild from the
// mempool, checkShape (the relay), then AddShapedBlock (signatures from
// the cache, state, the store commit with its fsync, the pool's reset).
// cpu-ms/op is the process's user+system time over the timed part.
func BenchmarkAcceptCompactBlock(b *testing.B) {
	for _, perSender := range []int{0, 10} {
		b.Run(fmt.Sprintf("txs=%d", perSender*200), func(b *testing.B) {
			p := chain.TestParams()
			p.BlockReward = 1000
			ws := testWallets(200)
			dir := b.TempDir()
			buildFundedChain(b, dir, p, ws)
			c, err := chain.Open(filepath.Join(dir, ChainFile), chain.Options{Params: p})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			n := &Node{chain: c, cfg: Config{Params: p}, compact: &compactRelay{early: newEarlyRelay()}}
			miner := chain.WalletFromSeed([32]byte{0xbe}).Address()
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for _, g := range signTxs(p, ws, perSender, uint64(i*perSender)) {
					for _, tx := range g {
						if err := c.SubmitTx(tx); err != nil {
							b.Fatal(err)
						}
					}
				}
				blk := c.NewBlockTemplate(miner)
				solve(blk)
				msg := newCompactBlock(blk, uint64(i)).Bytes()
				runtime.GC() // the setup's garbage is not the block's
				before := cpuTime()
				b.StartTimer()
				cb, err := decodeCompactBlock(msg, p.MaxBlockTxs)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.CheckHeader(cb.Header); err != nil {
					b.Fatal(err)
				}
				rb, err := n.rebuild(context.Background(), "", cb)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.AddShapedBlock(rb); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime() - before
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
