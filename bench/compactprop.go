package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	"github.com/gossipchain/gossipchain/pow"
)

// CompactResult is `bench propagation --compact`: in one network and one
// run, the propagation of empty blocks, of BlockTxs-transaction blocks
// relayed compact with every mempool holding the transactions, the same
// with each node lacking a Missing share of them, and the same blocks
// relayed whole; with the block bytes each node received.
type CompactResult struct {
	Mode     string  `json:"mode"` // "propagation-compact"
	Nodes    int     `json:"nodes"`
	Links    int     `json:"links"`
	Samples  int     `json:"samples"`
	BlockTxs int     `json:"block_txs"`
	Missing  float64 `json:"missing"`
	// Latency from MineBlock to the last node's EventBlockAdded, ms.
	EmptyP50   float64 `json:"empty_p50_ms"`
	EmptyP95   float64 `json:"empty_p95_ms"`
	CompactP50 float64 `json:"compact_p50_ms"`
	CompactP95 float64 `json:"compact_p95_ms"`
	MissingP50 float64 `json:"missing_p50_ms"`
	MissingP95 float64 `json:"missing_p95_ms"`
	FullP50    float64 `json:"full_p50_ms"`
	FullP95    float64 `json:"full_p95_ms"`
	// Bytes of a block's encoding, and the block bytes one receiving node
	// took in per block (gossip message data plus blocktxn traffic; the
	// duplicates gossipsub drops before validation are not counted, the
	// same share in every way).
	BlockBytes   int     `json:"block_bytes"`
	CompactBytes float64 `json:"compact_bytes_per_node"`
	MissingBytes float64 `json:"missing_bytes_per_node"`
	FullBytes    float64 `json:"full_bytes_per_node"`
	// Requests: blocktxn requests and whole-block fetches per block,
	// summed over the network.
	MissingRequests float64 `json:"missing_txn_requests_per_block"`
	Fallbacks       uint64  `json:"full_fetches"`
	Lost            int     `json:"blocks_lost"`
	LoadAvg1        float64 `json:"load_avg_1m"`
}

// compactSenders fund the transactions: each sends txsPerSender a block.
const (
	compactSenders    = 200
	compactSendReward = 1000
)

// CompactPropagation runs the comparison. Status polls are off (an hour),
// so no mempool rebroadcast mixes the mempools the way each phase sets
// them: the transactions are put in each node's mempool directly, not
// gossiped, before each block.
func CompactPropagation(ctx context.Context, o Options) (*CompactResult, error) {
	o.setDefaults()
	if o.BlockTxs <= 0 {
		o.BlockTxs = 2000
	}
	if o.Missing <= 0 || o.Missing >= 1 {
		o.Missing = 0.1
	}
	perSender := max(1, o.BlockTxs/compactSenders)
	r := &CompactResult{Mode: "propagation-compact", Nodes: o.Nodes, Samples: o.Samples, BlockTxs: perSender * compactSenders, Missing: o.Missing, LoadAvg1: LoadAvg()}
	tmp, err := os.MkdirTemp("", "gossipchain-bench-cprop-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	p := o.params()
	p.BlockReward = compactSendReward
	p.RetargetInterval = 0 // the funding chain is built at the initial bits
	senders := make([]*chain.Wallet, compactSenders)
	for i := range senders {
		senders[i] = chain.WalletFromSeed([32]byte{0xcb, byte(i >> 8), byte(i)})
	}
	seed := filepath.Join(tmp, "seed.db")
	if err := fundedStore(seed, p, senders); err != nil {
		return nil, err
	}
	o.netParams = &p
	o.nodeSetup = func(dir string) error { return copyFile(seed, filepath.Join(dir, node.ChainFile)) }
	o.nodeMutate = func(c *node.Config) { c.StatusInterval = time.Hour }

	rng := rand.New(rand.NewPCG(uint64(o.Nodes), 12))
	o.logf("propagation --compact: starting %d nodes", o.Nodes)
	nw, _, err := startNetwork(ctx, &o, tmp, o.Nodes, rng)
	if err != nil {
		return nil, err
	}
	defer nw.close()
	r.Links = nw.links

	nonces := make([]uint64, len(senders))
	network := chain.NetworkID(p)
	to := chain.WalletFromSeed([32]byte{0xcc}).Address()
	// fill signs the next block's transactions and puts them in every
	// mempool; a node other than the miner lacks a missing share of the
	// senders (all their txs, so no nonce gap).
	fill := func(miner int, missing float64) error {
		txs := make([][]*chain.Tx, len(senders))
		for i, w := range senders {
			for range perSender {
				txs[i] = append(txs[i], w.NewTx(network, to, 1, 0, nonces[i]))
				nonces[i]++
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, len(nw.nodes))
		for k, n := range nw.nodes {
			skip := make(map[int]bool)
			if k != miner {
				for _, i := range rng.Perm(len(senders))[:int(missing*float64(len(senders))+0.5)] {
					skip[i] = true
				}
			}
			wg.Go(func() {
				for i, g := range txs {
					if skip[i] {
						continue
					}
					for _, tx := range g {
						if err := n.Chain().SubmitTx(tx); err != nil {
							errs[k] = fmt.Errorf("node %d: %w", k, err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}
	bytesNow := func() (uint64, uint64, uint64) {
		var b, req, full uint64
		for _, n := range nw.nodes {
			s := n.CompactStats()
			b += s.GossipBytes + s.TxnBytes
			req += s.TxnRequests
			full += s.FullFetches
		}
		return b, req, full
	}
	run := func(name string, txs bool, missing float64, full bool) (*cphase, error) {
		for _, n := range nw.nodes {
			n.SetFullBlockRelay(full)
		}
		ph := &cphase{}
		for s := range o.Samples {
			miner := rng.IntN(len(nw.nodes))
			if txs {
				if err := fill(miner, missing); err != nil {
					return nil, err
				}
			}
			b0, q0, _ := bytesNow()
			start := time.Now()
			b, err := nw.nodes[miner].MineBlock(ctx)
			if err != nil {
				return nil, fmt.Errorf("mine: %w", err)
			}
			if txs && len(b.Txs)-1 != r.BlockTxs {
				return nil, fmt.Errorf("block of %d txs, want %d", len(b.Txs)-1, r.BlockTxs)
			}
			last, err := nw.blocks.wait(ctx, b.Hash(), 30*time.Second)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if err != nil {
				o.logf("propagation --compact: %s block %d: %v", name, s, err)
				r.Lost++
				if err := waitSameHead(ctx, nw.nodes, 60*time.Second); err != nil {
					return nil, err
				}
				continue
			}
			ph.times = append(ph.times, last.Sub(start))
			b1, q1, _ := bytesNow()
			ph.bytes += b1 - b0
			ph.reqs += q1 - q0
			ph.blocks++
			if txs {
				r.BlockBytes = b.Size()
			}
		}
		l := summarise(ph.times)
		o.logf("propagation --compact: %s: p50 %.1f ms, p95 %.1f ms, %.0f bytes a node a block", name, l.P50, l.P95, ph.perNode(len(nw.nodes)))
		return ph, nil
	}
	empty, err := run("empty blocks", false, 0, false)
	if err != nil {
		return nil, err
	}
	inSync, err := run("compact, mempools in sync", true, 0, false)
	if err != nil {
		return nil, err
	}
	miss, err := run(fmt.Sprintf("compact, %.0f%% missing", 100*o.Missing), true, o.Missing, false)
	if err != nil {
		return nil, err
	}
	whole, err := run("whole blocks", true, 0, true)
	if err != nil {
		return nil, err
	}
	_, _, r.Fallbacks = bytesNow()
	le, lc, lm, lf := summarise(empty.times), summarise(inSync.times), summarise(miss.times), summarise(whole.times)
	r.EmptyP50, r.EmptyP95 = le.P50, le.P95
	r.CompactP50, r.CompactP95 = lc.P50, lc.P95
	r.MissingP50, r.MissingP95 = lm.P50, lm.P95
	r.FullP50, r.FullP95 = lf.P50, lf.P95
	r.CompactBytes = round(inSync.perNode(len(nw.nodes)), 0)
	r.MissingBytes = round(miss.perNode(len(nw.nodes)), 0)
	r.FullBytes = round(whole.perNode(len(nw.nodes)), 0)
	if miss.blocks > 0 {
		r.MissingRequests = round(float64(miss.reqs)/float64(miss.blocks), 1)
	}
	return r, nil
}

// cphase is one phase's samples.
type cphase struct {
	times  []time.Duration
	bytes  uint64
	reqs   uint64
	blocks int
}

// perNode is the block bytes one receiving node took in per block.
func (ph *cphase) perNode(nodes int) float64 {
	if ph.blocks == 0 || nodes < 2 {
		return 0
	}
	return float64(ph.bytes) / float64(ph.blocks) / float64(nodes-1)
}

// fundedStore writes a store whose chain pays each wallet one block's
// reward.
func fundedStore(path string, p chain.Params, wallets []*chain.Wallet) error {
	c, err := chain.Open(path, chain.Options{Params: p})
	if err != nil {
		return err
	}
	defer c.Close()
	parent := chain.Genesis(p)
	ts := p.GenesisTime
	target, err := pow.TargetFromBits(p.InitialBits)
	if err != nil {
		return err
	}
	var blocks []*chain.Block
	for _, w := range wallets {
		ts = ts.Add(time.Second)
		b := &chain.Block{
			Header: chain.Header{Index: parent.Index + 1, Timestamp: ts.UnixMilli(), PrevHash: parent.Hash(), Bits: p.InitialBits},
			Txs:    []*chain.Tx{{Recipient: w.Address(), Amount: p.BlockReward, Nonce: parent.Index + 1}},
		}
		b.MerkleRoot = chain.MerkleRoot(b.Txs)
		for n := uint64(0); ; n++ {
			b.Nonce = n
			h := [32]byte(b.Hash())
			if pow.HashMeetsTarget(&h, target) {
				break
			}
		}
		blocks = append(blocks, b)
		parent = b
	}
	_, _, err = c.AddBlocks(blocks)
	return err
}

// Table implements Result.
func (r *CompactResult) Table(w io.Writer) {
	t := newTable(fmt.Sprintf("propagation --compact: %d nodes, %d links, %d blocks of %d txs a way", r.Nodes, r.Links, r.Samples, r.BlockTxs), r.LoadAvg1)
	bytesRatio := r.CompactBytes / r.FullBytes
	p95Ratio := r.CompactP95 / r.EmptyP95
	t.row("empty block p50/p95", fmt.Sprintf("%.1f / %.1f ms", r.EmptyP50, r.EmptyP95), "", "")
	t.row(fmt.Sprintf("%d-tx block, compact, mempools in sync p50/p95", r.BlockTxs), fmt.Sprintf("%.1f / %.1f ms (p95 %.2f× empty)", r.CompactP50, r.CompactP95, p95Ratio), "p95 ≤ 2× empty", met(p95Ratio <= 2 && r.Lost == 0))
	t.row(fmt.Sprintf("… compact, %.0f%% missing p50/p95", 100*r.Missing), fmt.Sprintf("%.1f / %.1f ms (p95 %.2f× empty)", r.MissingP50, r.MissingP95, r.MissingP95/r.EmptyP95), "", "")
	t.row("… whole blocks p50/p95", fmt.Sprintf("%.1f / %.1f ms (p95 %.2f× empty)", r.FullP50, r.FullP95, r.FullP95/r.EmptyP95), "", "")
	t.row("block bytes a node takes in, compact in sync", fmt.Sprintf("%.0f B (%.1f%% of whole: %.0f B; block %d B)", r.CompactBytes, 100*bytesRatio, r.FullBytes, r.BlockBytes), "≤ 10% of whole", met(bytesRatio <= 0.10))
	t.row(fmt.Sprintf("… compact, %.0f%% missing", 100*r.Missing), fmt.Sprintf("%.0f B (%.1f%% of whole), %.1f blocktxn requests a block", r.MissingBytes, 100*r.MissingBytes/r.FullBytes, r.MissingRequests), "", "")
	if r.Fallbacks+uint64(r.Lost) > 0 {
		t.note("%d whole-block fallbacks, %d blocks lost", r.Fallbacks, r.Lost)
	}
	t.write(w)
}
