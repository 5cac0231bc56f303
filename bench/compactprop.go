package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
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
	// Latency until the last node has the block in its chain (its
	// EventBlockAdded: connected, after its AddBlock and store commit; a
	// node that has only relayed the block does not count), ms, from the
	// moment the miner found the proof of work (the miner's arrival
	// record). The *Call* figures start at the MineBlock call instead, so
	// they add the template (about 10 ms for 2,000 txs) and the search.
	EmptyP50   float64 `json:"empty_p50_ms"`
	EmptyP95   float64 `json:"empty_p95_ms"`
	CompactP50 float64 `json:"compact_p50_ms"`
	CompactP95 float64 `json:"compact_p95_ms"`
	MissingP50 float64 `json:"missing_p50_ms"`
	MissingP95 float64 `json:"missing_p95_ms"`
	FullP50    float64 `json:"full_p50_ms"`
	FullP95    float64 `json:"full_p95_ms"`
	// Until the block's message reached the last node's validator (each
	// node's arrival record; the relay wave, before the commits), ms.
	EmptyReachP95   float64 `json:"empty_reach_p95_ms"`
	CompactReachP95 float64 `json:"compact_reach_p95_ms"`
	EmptyCallP95    float64 `json:"empty_call_p95_ms"`
	CompactCallP95  float64 `json:"compact_call_p95_ms"`
	// Hops: the mean over samples of the miner's eccentricity in the
	// link graph (the fewest hops to its farthest node).
	Hops float64 `json:"hops"`
	// Where a receiving node's time goes, ms a node a block (means over
	// the relayed blocks of a way): from the message at its validator to
	// the relay (decode, header, rebuild, shape), from the relay to its
	// commit starting, and the AddBlock of the commit.
	EmptyRelayMs, EmptyQueueMs, EmptyAddMs       float64
	CompactRelayMs, CompactQueueMs, CompactAddMs float64
	// The process's CPU time (user + system, every node and the bench)
	// from the MineBlock call until the last node had the block in its
	// chain, ms a block (mean): the work the 20 nodes' 2 cores had to do
	// in the window, which shared cores inflate less than they do wall
	// time. It includes the miner's template and the search.
	EmptyCPUMs   float64 `json:"empty_cpu_ms"`
	CompactCPUMs float64 `json:"compact_cpu_ms"`
	// CompactCPUBoundMs is CompactCPUMs over the cores: a window holding
	// that CPU cannot be shorter, so the compact blocks' mean latency from
	// the MineBlock call cannot be below it whatever the schedule.
	// CompactCPUBoundRatio is it over the empty block's p95: at 2 or more
	// the goal cannot be met on this machine with this much work a block.
	Cores                int     `json:"cores"`
	CompactCPUBoundMs    float64 `json:"compact_cpu_bound_ms"`
	CompactCPUBoundRatio float64 `json:"compact_cpu_bound_ratio"`
	// Garbage collections that ended inside those windows, a block
	// (mean): one process's collector serves all 20 nodes and the bench's
	// own signing, so a cycle in a window slows every node at once.
	// With --gc-first the bench collects before each window (see run).
	EmptyGCs   float64 `json:"empty_gcs_per_block"`
	CompactGCs float64 `json:"compact_gcs_per_block"`
	// Heap allocated in those windows, MB a block (mean): every node's,
	// and the libp2p stack's.
	EmptyAllocMB   float64 `json:"empty_alloc_mb_per_block"`
	CompactAllocMB float64 `json:"compact_alloc_mb_per_block"`
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
	GCFirst         bool    `json:"gc_first,omitempty"`
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
	r := &CompactResult{Mode: "propagation-compact", Nodes: o.Nodes, Samples: o.Samples, BlockTxs: perSender * compactSenders, Missing: o.Missing, LoadAvg1: LoadAvg(), GCFirst: o.GCFirst}
	tmp, err := os.MkdirTemp("", "gossipchain-bench-cprop-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	p := o.params()
	// Each sender spends perSender coins a block, in up to three ways of
	// Samples blocks (the reward of 1,000 ran out at the default 50).
	p.BlockReward = max(compactSendReward, uint64((3*o.Samples+1)*perSender))
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
	relayNow := func() node.CompactStats {
		var t node.CompactStats
		for _, n := range nw.nodes {
			s := n.CompactStats()
			t.Relayed += s.Relayed
			t.Committed += s.Committed
			t.RelayTime += s.RelayTime
			t.QueueTime += s.QueueTime
			t.AddTime += s.AddTime
		}
		return t
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
			// --gc-first, a diagnosis: collect before the timed window,
			// so that no cycle ends in it. Not the default: a cycle ends
			// in a window about as often as the window's own allocation
			// (30 MB for a 2,000-tx block over 20 nodes) is a share of
			// the heap's growth allowance, whatever the bench allocated
			// before it, so the cycles in the windows are the cost of
			// the nodes' own garbage, which a collection before each
			// window would hide.
			if o.GCFirst {
				runtime.GC()
			}
			b0, q0, _ := bytesNow()
			st0 := relayNow()
			cpu0, gc0, al0 := processCPU(), gcCycles(), heapAllocs()
			start := time.Now()
			b, err := nw.nodes[miner].MineBlock(ctx)
			if err != nil {
				return nil, fmt.Errorf("mine: %w", err)
			}
			if txs && len(b.Txs)-1 != r.BlockTxs {
				return nil, fmt.Errorf("block of %d txs, want %d", len(b.Txs)-1, r.BlockTxs)
			}
			last, err := nw.blocks.wait(ctx, b.Hash(), 30*time.Second)
			cpu, gcs, alloc := processCPU()-cpu0, gcCycles()-gc0, heapAllocs()-al0
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
			found := start
			if a, ok := nw.nodes[miner].BlockArrival(b.Hash()); ok && a.Source == "local" {
				found = a.Time
			}
			ph.times = append(ph.times, last.Sub(found))
			ph.cpu += cpu
			ph.gcs += gcs
			ph.alloc += alloc
			ph.callTimes = append(ph.callTimes, last.Sub(start))
			reached := found
			for _, n := range nw.nodes {
				if a, ok := n.BlockArrival(b.Hash()); ok && a.Time.After(reached) {
					reached = a.Time
				}
			}
			ph.reachTimes = append(ph.reachTimes, reached.Sub(found))
			ph.hops += eccentricity(nw.neighbours, miner)
			st1 := relayNow()
			ph.relayed += st1.Relayed - st0.Relayed
			ph.committed += st1.Committed - st0.Committed
			ph.relay += st1.RelayTime - st0.RelayTime
			ph.queue += st1.QueueTime - st0.QueueTime
			ph.add += st1.AddTime - st0.AddTime
			b1, q1, _ := bytesNow()
			ph.bytes += b1 - b0
			ph.reqs += q1 - q0
			ph.blocks++
			if txs {
				r.BlockBytes = b.Size()
			}
		}
		l, lc := summarise(ph.times), summarise(ph.callTimes)
		relay, queue, add := ph.split()
		lr := summarise(ph.reachTimes)
		o.logf("propagation --compact: %s: p50 %.1f ms, p95 %.1f ms (from the MineBlock call: %.1f / %.1f ms; message at every node: %.1f / %.1f ms), %.0f bytes a node a block; a node: %.2f ms to relay, %.2f ms queued, %.2f ms AddBlock; process CPU %.1f ms a block, %.2f GCs a block, %.1f MB allocated a block",
			name, l.P50, l.P95, lc.P50, lc.P95, lr.P50, lr.P95, ph.perNode(len(nw.nodes)), relay, queue, add, ph.cpuMs(), ph.gcsPerBlock(), ph.allocMB())
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
	miss, whole := &cphase{}, &cphase{}
	if !o.GoalOnly {
		if miss, err = run(fmt.Sprintf("compact, %.0f%% missing", 100*o.Missing), true, o.Missing, false); err != nil {
			return nil, err
		}
		if whole, err = run("whole blocks", true, 0, true); err != nil {
			return nil, err
		}
	}
	_, _, r.Fallbacks = bytesNow()
	le, lc, lm, lf := summarise(empty.times), summarise(inSync.times), summarise(miss.times), summarise(whole.times)
	r.EmptyP50, r.EmptyP95 = le.P50, le.P95
	r.CompactP50, r.CompactP95 = lc.P50, lc.P95
	r.MissingP50, r.MissingP95 = lm.P50, lm.P95
	r.FullP50, r.FullP95 = lf.P50, lf.P95
	r.EmptyCallP95, r.CompactCallP95 = summarise(empty.callTimes).P95, summarise(inSync.callTimes).P95
	r.EmptyReachP95, r.CompactReachP95 = summarise(empty.reachTimes).P95, summarise(inSync.reachTimes).P95
	if n := empty.blocks + inSync.blocks + miss.blocks + whole.blocks; n > 0 {
		r.Hops = round((empty.hops+inSync.hops+miss.hops+whole.hops)/float64(n), 1)
	}
	r.EmptyRelayMs, r.EmptyQueueMs, r.EmptyAddMs = empty.split()
	r.CompactRelayMs, r.CompactQueueMs, r.CompactAddMs = inSync.split()
	r.EmptyCPUMs, r.CompactCPUMs = empty.cpuMs(), inSync.cpuMs()
	r.Cores = runtime.NumCPU()
	r.CompactCPUBoundMs = round(r.CompactCPUMs/float64(r.Cores), 1)
	if r.EmptyP95 > 0 {
		r.CompactCPUBoundRatio = round(r.CompactCPUBoundMs/r.EmptyP95, 2)
	}
	r.EmptyGCs, r.CompactGCs = empty.gcsPerBlock(), inSync.gcsPerBlock()
	r.EmptyAllocMB, r.CompactAllocMB = empty.allocMB(), inSync.allocMB()
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
	times      []time.Duration // block found → last node has it in its chain
	callTimes  []time.Duration // MineBlock called → the same
	reachTimes []time.Duration // block found → its message at the last node's validator
	bytes      uint64
	reqs       uint64
	blocks     int
	hops       float64

	relayed, committed uint64 // compact blocks relayed before commit, and committed
	relay, queue, add  time.Duration
	cpu                time.Duration // process CPU, summed over the timed blocks
	gcs                uint64        // GC cycles ended in the timed windows
	alloc              uint64        // heap bytes allocated in the timed windows
}

// allocMB is the heap allocated in a timed window, MB a block.
func (ph *cphase) allocMB() float64 {
	if len(ph.times) == 0 {
		return 0
	}
	return round(float64(ph.alloc)/float64(len(ph.times))/1e6, 1)
}

// heapAllocs is the bytes this process has allocated on the heap so far.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// gcsPerBlock is the GC cycles that ended in a timed window, a block.
func (ph *cphase) gcsPerBlock() float64 {
	if len(ph.times) == 0 {
		return 0
	}
	return round(float64(ph.gcs)/float64(len(ph.times)), 2)
}

// gcCycles is the number of GC cycles this process has completed (no
// stop-the-world, unlike runtime.ReadMemStats).
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// cpuMs is the process's CPU time a timed block, ms.
func (ph *cphase) cpuMs() float64 {
	if len(ph.times) == 0 {
		return 0
	}
	return round(float64(ph.cpu)/float64(len(ph.times))/float64(time.Millisecond), 1)
}

// split is a receiving node's mean time a block to relay it, queued for
// its commit, and in AddBlock, ms.
func (ph *cphase) split() (relay, queue, add float64) {
	ms := func(d time.Duration, n uint64) float64 {
		if n == 0 {
			return 0
		}
		return round(float64(d)/float64(n)/float64(time.Millisecond), 2)
	}
	return ms(ph.relay, ph.relayed), ms(ph.queue, ph.committed), ms(ph.add, ph.committed)
}

// eccentricity is the most hops from node from to any other over links.
func eccentricity(links []map[int]bool, from int) float64 {
	dist := map[int]int{from: 0}
	queue, far := []int{from}, 0
	for len(queue) > 0 {
		i := queue[0]
		queue = queue[1:]
		for j := range links[i] {
			if _, ok := dist[j]; !ok {
				dist[j] = dist[i] + 1
				far = max(far, dist[j])
				queue = append(queue, j)
			}
		}
	}
	return float64(far)
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
	t.note("latency: from the proof of work found at the miner until the last node has the block in its chain (after its AddBlock), not merely relayed it; %.1f hops on average from the miner to its farthest node", r.Hops)
	t.row("empty block p50/p95", fmt.Sprintf("%.1f / %.1f ms", r.EmptyP50, r.EmptyP95), "", "")
	t.row(fmt.Sprintf("%d-tx block, compact, mempools in sync p50/p95", r.BlockTxs), fmt.Sprintf("%.1f / %.1f ms (p95 %.2f× empty)", r.CompactP50, r.CompactP95, p95Ratio), "p95 ≤ 2× empty", met(p95Ratio <= 2 && r.Lost == 0))
	if r.FullBytes > 0 {
		t.row(fmt.Sprintf("… compact, %.0f%% missing p50/p95", 100*r.Missing), fmt.Sprintf("%.1f / %.1f ms (p95 %.2f× empty)", r.MissingP50, r.MissingP95, r.MissingP95/r.EmptyP95), "", "")
		t.row("… whole blocks p50/p95", fmt.Sprintf("%.1f / %.1f ms (p95 %.2f× empty)", r.FullP50, r.FullP95, r.FullP95/r.EmptyP95), "", "")
	}
	t.row("… p95 from the MineBlock call (template and search included)", fmt.Sprintf("empty %.1f ms, compact in sync %.1f ms (%.2f×)", r.EmptyCallP95, r.CompactCallP95, r.CompactCallP95/r.EmptyCallP95), "", "")
	t.row("… p95 until the message reached every node (relay wave)", fmt.Sprintf("empty %.1f ms, compact in sync %.1f ms (%.2f×)", r.EmptyReachP95, r.CompactReachP95, r.CompactReachP95/r.EmptyReachP95), "", "")
	t.row("a node, empty: to relay / queued / AddBlock", fmt.Sprintf("%.2f / %.2f / %.2f ms", r.EmptyRelayMs, r.EmptyQueueMs, r.EmptyAddMs), "", "")
	t.row("a node, compact in sync: to relay / queued / AddBlock", fmt.Sprintf("%.2f / %.2f / %.2f ms", r.CompactRelayMs, r.CompactQueueMs, r.CompactAddMs), "", "")
	t.row("process CPU a block, MineBlock call → last commit", fmt.Sprintf("empty %.1f ms, compact in sync %.1f ms", r.EmptyCPUMs, r.CompactCPUMs), "", "")
	if r.Cores > 0 {
		t.row("… compact CPU ÷ cores: no schedule's mean window is shorter", fmt.Sprintf("%.1f ms (%d cores) = %.2f× the empty p95", r.CompactCPUBoundMs, r.Cores, r.CompactCPUBoundRatio), "", "")
	}
	t.row("… GC cycles ended in that window, a block", fmt.Sprintf("empty %.2f, compact in sync %.2f", r.EmptyGCs, r.CompactGCs), "", "")
	t.row("… heap allocated in that window, a block", fmt.Sprintf("empty %.1f MB, compact in sync %.1f MB", r.EmptyAllocMB, r.CompactAllocMB), "", "")
	if r.FullBytes > 0 {
		t.row("block bytes a node takes in, compact in sync", fmt.Sprintf("%.0f B (%.1f%% of whole: %.0f B; block %d B)", r.CompactBytes, 100*bytesRatio, r.FullBytes, r.BlockBytes), "≤ 10% of whole", met(bytesRatio <= 0.10))
		t.row(fmt.Sprintf("… compact, %.0f%% missing", 100*r.Missing), fmt.Sprintf("%.0f B (%.1f%% of whole), %.1f blocktxn requests a block", r.MissingBytes, 100*r.MissingBytes/r.FullBytes, r.MissingRequests), "", "")
	} else {
		t.note("--goal-only: the 10%%-missing and whole-block ways were not run")
	}
	if r.GCFirst {
		t.note("--gc-first: a collection before each timed window, so the nodes' own garbage is not collected in it (a diagnosis: flatters the latency and CPU)")
	}
	if r.Fallbacks+uint64(r.Lost) > 0 {
		t.note("%d whole-block fallbacks, %d blocks lost", r.Fallbacks, r.Lost)
	}
	t.write(w)
}
