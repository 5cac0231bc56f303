package chain

import (
	"path/filepath"
	"testing"
	"time"
)

// Benchmarks of the ledger's throughput. Blocks are built in memory before
// the timer starts (blockGen, no Chain involved), so the timed part is only
// validation, connection and the store commit. Each reports its rate as a
// metric next to ns/op:
//
//	go test -run='^$' -bench=. -benchtime=200ms ./chain/

// blockGen builds a valid chain in memory: each block is mined by the
// funder, who sends transfers (amount 1, fee 1) to rotating recipients.
type blockGen struct {
	p       Params
	funder  *Wallet
	recips  []Address
	tip     *Block
	balance uint64 // the funder's
	nonce   uint64
	sent    int
}

func newBlockGen(p Params) *blockGen {
	g := &blockGen{p: p, funder: wallet(200), tip: Genesis(p)}
	for i := range 64 {
		g.recips = append(g.recips, wallet(byte(100+i)).Address())
	}
	return g
}

// block builds the next block: coinbase to miner, then txs.
func (g *blockGen) block(tb testing.TB, miner Address, txs []*Tx) *Block {
	var fees uint64
	for _, tx := range txs {
		fees += tx.Fee
	}
	index := g.tip.Index + 1
	b := &Block{
		Header: Header{Index: index, Timestamp: g.tip.Timestamp + 1000, PrevHash: g.tip.Hash(), Bits: g.p.InitialBits},
		Txs:    append([]*Tx{{Recipient: miner, Amount: g.p.BlockReward + fees, Nonce: index}}, txs...),
	}
	reseal(tb, b)
	g.tip = b
	return b
}

// next builds a block of the funder's with up to n signed transfers (fewer
// only while the funder's balance is short: the first block has none).
func (g *blockGen) next(tb testing.TB, n int) *Block {
	var txs []*Tx
	for range n {
		if g.balance < 2 {
			break
		}
		txs = append(txs, g.funder.NewTx(testNet, g.recips[g.sent%len(g.recips)], 1, 1, g.nonce))
		g.nonce++
		g.sent++
		g.balance -= 2
	}
	b := g.block(tb, g.funder.Address(), txs)
	g.balance += b.Txs[0].Amount
	return b
}

// benchChain opens a chain whose clock is far enough after the genesis for
// any number of generated blocks.
func benchChain(tb testing.TB, p Params, opts Options) *Chain {
	tb.Helper()
	opts.Params = p
	now := p.GenesisTime.Add(10 * 365 * 24 * time.Hour)
	opts.Now = func() time.Time { return now }
	c, err := Open(filepath.Join(tb.TempDir(), "chain.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// fundedGen returns a generator whose funder can pay from the first block
// it builds, and a chain that holds its funding block.
func fundedGen(tb testing.TB, p Params) (*blockGen, *Chain) {
	g := newBlockGen(p)
	c := benchChain(tb, p, Options{})
	if _, err := c.AddBlock(g.next(tb, 0)); err != nil {
		tb.Fatal(err)
	}
	return g, c
}

func perSecond(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

// BenchmarkAddBlock: validation and connection of one block of 10 signed
// transfers, one store commit each.
func BenchmarkAddBlock(b *testing.B) {
	g, c := fundedGen(b, TestParams())
	blocks := make([]*Block, b.N)
	for i := range blocks {
		blocks[i] = g.next(b, 10)
	}
	b.ResetTimer()
	for _, blk := range blocks {
		if _, err := c.AddBlock(blk); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perSecond(b, b.N, "blocks/s")
	perSecond(b, 10*b.N, "txs/s")
}

// BenchmarkAddBlocks: the sync path, a batch of 100 blocks of 10 transfers
// per op, signatures checked on all cores, one commit.
func BenchmarkAddBlocks(b *testing.B) {
	const batch, txs = 100, 10
	addBlockBatches(b, batch, txs)
	perSecond(b, batch*b.N, "blocks/s")
	perSecond(b, batch*txs*b.N, "txs/s")
}

// addBlockBatches times b.N AddBlocks calls of batch new blocks of txs
// transfers each into a fresh funded chain; the timer is stopped after.
func addBlockBatches(b *testing.B, batch, txs int) {
	g, c := fundedGen(b, TestParams())
	batches := make([][]*Block, b.N)
	for i := range batches {
		for range batch {
			batches[i] = append(batches[i], g.next(b, txs))
		}
	}
	b.ResetTimer()
	for _, bs := range batches {
		if n, _, err := c.AddBlocks(bs); err != nil || n != batch {
			b.Fatalf("AddBlocks: %d, %v", n, err)
		}
	}
	b.StopTimer()
}

// BenchmarkVerifySignature: one ed25519 verification per op.
func BenchmarkVerifySignature(b *testing.B) {
	tx := wallet(1).NewTx(testNet, wallet(2).Address(), 5, 1, 0)
	for b.Loop() {
		if err := tx.VerifySignature(testNet); err != nil {
			b.Fatal(err)
		}
	}
	perSecond(b, b.N, "sigs/s")
}

// BenchmarkCheckBlocksSanity: the batch check of 100 blocks × 10 txs, with
// signatures spread over all cores.
func BenchmarkCheckBlocksSanity(b *testing.B) {
	p := TestParams()
	g := newBlockGen(p)
	g.next(b, 0)
	var blocks []*Block
	for range 100 {
		blocks = append(blocks, g.next(b, 10))
	}
	for b.Loop() {
		if i, err := CheckBlocksSanity(blocks, p); i >= 0 {
			b.Fatal(err)
		}
	}
	perSecond(b, 1000*b.N, "sigs/s")
}

// BenchmarkStoreWrite: blocks with only a coinbase, so the store commit
// dominates: one commit per block (AddBlock) against one per 100 (AddBlocks).
func BenchmarkStoreWrite(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		g := newBlockGen(TestParams())
		c := benchChain(b, g.p, Options{})
		blocks := make([]*Block, b.N)
		for i := range blocks {
			blocks[i] = g.block(b, g.funder.Address(), nil)
		}
		b.ResetTimer()
		for _, blk := range blocks {
			if _, err := c.AddBlock(blk); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		perSecond(b, b.N, "commits/s")
		perSecond(b, b.N, "blocks/s")
	})
	b.Run("batched100", func(b *testing.B) {
		const batch = 100
		g := newBlockGen(TestParams())
		c := benchChain(b, g.p, Options{})
		batches := make([][]*Block, b.N)
		for i := range batches {
			for range batch {
				batches[i] = append(batches[i], g.block(b, g.funder.Address(), nil))
			}
		}
		b.ResetTimer()
		for _, bs := range batches {
			if n, _, err := c.AddBlocks(bs); err != nil || n != batch {
				b.Fatalf("AddBlocks: %d, %v", n, err)
			}
		}
		b.StopTimer()
		perSecond(b, b.N, "commits/s")
		perSecond(b, batch*b.N, "blocks/s")
	})
}

// BenchmarkSubmitTx: mempool admission (signature check included) of
// transfers from many funded senders, up to 20 pending each.
func BenchmarkSubmitTx(b *testing.B) {
	const perSender = 20
	p := TestParams()
	g := newBlockGen(p)
	c := benchChain(b, p, Options{MempoolMaxTxs: b.N + 1})
	senders := make([]*Wallet, b.N/perSender+1)
	var funding []*Block
	for i := range senders {
		var seed [32]byte
		seed[0], seed[1], seed[2] = 0xbe, byte(i), byte(i>>8)
		seed[3] = byte(i >> 16)
		senders[i] = WalletFromSeed(seed)
		funding = append(funding, g.block(b, senders[i].Address(), nil))
	}
	for len(funding) > 0 {
		k := min(len(funding), 500)
		if _, _, err := c.AddBlocks(funding[:k]); err != nil {
			b.Fatal(err)
		}
		funding = funding[k:]
	}
	to := wallet(9).Address()
	txs := make([]*Tx, b.N)
	for i := range txs {
		txs[i] = senders[i%len(senders)].NewTx(testNet, to, 1, 1, uint64(i/len(senders)))
	}
	b.ResetTimer()
	for _, tx := range txs {
		if err := c.SubmitTx(tx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perSecond(b, b.N, "txs/s")
	if c.Mempool().Len() != b.N {
		b.Fatalf("%d pending, want %d", c.Mempool().Len(), b.N)
	}
}

// BenchmarkNewBlockTemplate: choosing a full block (3999 txs) from a pool
// of 10,000 pending transactions.
func BenchmarkNewBlockTemplate(b *testing.B) {
	const pending, perSender = 10000, 20
	p := TestParams()
	g := newBlockGen(p)
	c := benchChain(b, p, Options{})
	senders := make([]*Wallet, pending/perSender)
	var funding []*Block
	for i := range senders {
		var seed [32]byte
		seed[0], seed[1], seed[2] = 0xbf, byte(i), byte(i>>8)
		senders[i] = WalletFromSeed(seed)
		funding = append(funding, g.block(b, senders[i].Address(), nil))
	}
	if _, _, err := c.AddBlocks(funding); err != nil {
		b.Fatal(err)
	}
	to := wallet(9).Address()
	for i := range pending {
		tx := senders[i%len(senders)].NewTx(testNet, to, 1, uint64(i%2), uint64(i/len(senders)))
		if err := c.SubmitTx(tx); err != nil {
			b.Fatal(err)
		}
	}
	miner := wallet(8).Address()
	for b.Loop() {
		if blk := c.NewBlockTemplate(miner); len(blk.Txs) != p.MaxBlockTxs {
			b.Fatalf("template of %d txs", len(blk.Txs))
		}
	}
}

// BenchmarkAddBlocksCoinbase: the sync path's per-block cost without
// signatures (issue 12's coinbase-only goal): batches of 1,024
// coinbase-only blocks, as the download commits them, into a fresh store.
func BenchmarkAddBlocksCoinbase(b *testing.B) {
	const batch = 1024
	addBlockBatches(b, batch, 0)
	perSecond(b, batch*b.N, "blocks/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(batch*b.N), "ns/block")
}

// BenchmarkSyncCommitCoinbase: a coinbase-only sync's commit, alone: 3,000
// prechecked blocks added to a fresh store in one AddPrechecked (the
// store's puts, its write and its fdatasyncs included; the precheck and
// opening the store are not timed). Run it in a fresh process to see what
// a fresh node pays in page faults.
func BenchmarkSyncCommitCoinbase(b *testing.B) {
	const k = 3000
	p := TestParams()
	g := newBlockGen(p)
	blocks := make([]*Block, k)
	for i := range blocks {
		blocks[i] = g.next(b, 0)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		c := benchChain(b, p, Options{})
		pc := c.PrecheckBlocks(blocks)
		b.StartTimer()
		if n, _, err := c.AddPrechecked(pc); err != nil || n != k {
			b.Fatalf("AddPrechecked: %d, %v", n, err)
		}
		b.StopTimer()
		c.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/commit")
}
