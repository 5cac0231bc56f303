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
				sb, err := chain.CheckBlockShape(blk, p)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC() // the setup's garbage is not the block's
				before := cpuTime()
				b.StartTimer()
				if _, err := c.AddShapedBlock(sb); err != nil {
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

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
