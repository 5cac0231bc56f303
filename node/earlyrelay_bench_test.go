package node

import (
	"fmt"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// BenchmarkAddRelayedBlock is the commit a relayed block costs a node:
// AddShapedBlock, as commitOne calls it (the shape was checked before
// relay, untimed here), of a block whose transfers are all in the mempool
// (so no signature is checked), on a real store, against an empty block. cpu-ms/op
// is the process's user+system CPU time over the timed AddBlocks: the
// figure that adds up when 20 nodes share 2 cores.
func BenchmarkAddRelayedBlock(b *testing.B) {
	benchPooledBlocks(b, func(b *testing.B, n *Node, blk *chain.Block, _ int) func() {
		sb, err := chain.CheckBlockShape(blk, n.cfg.Params)
		if err != nil {
			b.Fatal(err)
		}
		return func() {
			if _, err := n.chain.AddShapedBlock(sb); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchPooledBlocks runs a receiving node's benchmark for an empty block
// and a 2,000-tx one, on a real store: each round puts the block's
// transfers into the node's mempool and mines it (untimed), prepare
// readies what the node receives (untimed) and returns the timed step.
// cpu-ms/op is the process's user+system CPU time over the timed steps.
func benchPooledBlocks(b *testing.B, prepare func(b *testing.B, n *Node, blk *chain.Block, round int) func()) {
	for _, perSender := range []int{0, 10} {
		b.Run(fmt.Sprintf("txs=%d", perSender*200), func(b *testing.B) {
			p := chain.TestParams()
			p.BlockReward = 1000 // 10 coins a block for up to 100 blocks
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
				step := prepare(b, n, blk, i)
				runtime.GC() // the setup's garbage is not the block's
				before := cpuTime()
				b.StartTimer()
				step()
				b.StopTimer()
				cpu += cpuTime() - before
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
