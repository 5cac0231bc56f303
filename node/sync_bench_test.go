package node

import (
	"context"
	"testing"

	"github.com/gossipchain/gossipchain/chain"
)

// BenchmarkSyncCoinbase: a fresh node (real store in a temp dir, real
// libp2p hosts on loopback) syncs a 3,000-block coinbase-only chain by
// SyncFrom, issue 12's second goal's shape. Node start and connect are
// outside the timer; the profile of the loop is the syncing side's cost
// plus the server's.
func BenchmarkSyncCoinbase(b *testing.B) {
	const k = 3000
	p := chain.TestParams()
	blocks := downloadChain(p, k)
	srv := testNode(b, "", func(c *Config) { c.NoAutoSync = true })
	for i := 0; i < len(blocks); i += 500 {
		if n, _, err := srv.Chain().AddBlocks(blocks[i:min(len(blocks), i+500)]); err != nil {
			b.Fatalf("add blocks: %d, %v", n, err)
		}
	}
	benchSyncFrom(b, srv, k)
}

// BenchmarkSyncSigned: the same with 2,000 blocks of 10 signed transfers,
// issue 12's first goal's shape at a fifth of its length.
func BenchmarkSyncSigned(b *testing.B) {
	const k = 2000
	p := chain.TestParams()
	dir := b.TempDir()
	buildChain(b, dir, p, k, 10)
	srv := testNode(b, dir, func(c *Config) { c.NoAutoSync = true })
	benchSyncFrom(b, srv, k)
}

// benchSyncFrom times fresh nodes syncing srv's k blocks; node start and
// connect are outside the timer.
func benchSyncFrom(b *testing.B, srv *Node, k int) {
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		d := testNode(b, "", func(c *Config) { c.NoAutoSync = true })
		id, err := d.Connect(ctx, srv.Addrs()[0])
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := d.SyncFrom(ctx, id); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := d.Chain().Tip().Index; got != uint64(k)+1 {
			b.Fatalf("synced to %d, want %d", got, k+1)
		}
		d.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(k*b.N), "µs/block")
}
