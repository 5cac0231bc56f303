package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"google.golang.org/protobuf/proto"
)

// The network bench: N real Nodes (node.New, the same code as the binary)
// in one process, over libp2p's mocknet instead of TCP: each link has a
// latency drawn from [LatencyMin, LatencyMax] and a bandwidth limit, and
// the graph is random with every node's degree at most Degree. Time is
// real, optionally slowed by TimeScale (timescale.go): every node shares
// this machine's cores, so CPU contention adds to the links' latency and
// the figures are an upper bound of what the protocol costs on nodes with
// TimeScale·cores/N of a core each.

// NetworkResult is one run of the network bench.
type NetworkResult struct {
	Mode        string  `json:"mode"` // "network"
	Nodes       int     `json:"nodes"`
	Degree      int     `json:"max_degree"`
	Links       int     `json:"links"`
	GossipD     int     `json:"gossipsub_d"`
	LatencyMs   [2]int  `json:"link_latency_ms"` // min, max
	BandwidthMB float64 `json:"link_bandwidth_mb_s"`
	Miners      int     `json:"miners"`
	IntervalS   float64 `json:"block_interval_s"` // target (mean of exponential gaps)
	TxRate      float64 `json:"tx_rate"`          // offered tx/s
	// TimeScale is the slowed clock's factor k: every figure below is in
	// model time (wall time / k) but StartupS, RunS and WallS.
	TimeScale float64 `json:"time_scale"`
	// CoresPerNode is what each node had in model time: the CPU the
	// process got over the run, times k, over N.
	CoresPerNode float64 `json:"model_cores_per_node"`
	StartupS     float64 `json:"startup_s"` // nodes started, linked and meshes formed
	RunS         float64 `json:"run_s"`
	WallS        float64 `json:"wall_s"` // the whole bench, start to figures

	BlocksMined int `json:"blocks_mined"`
	// Block propagation, from the miner's MineBlock returning to the block
	// being accepted by 90 % / 100 % of nodes (its gossip message passing
	// the node's validator, or its joining the main chain by a sync,
	// whichever is first), for blocks of the final main chain, in ms.
	Block90  latencies `json:"block_to_90pct_ms"`
	Block100 latencies `json:"block_to_100pct_ms"`
	// Tx propagation, from Send returning to 90 % / 100 % of mempools.
	TxsSent int       `json:"txs_sent"`
	Tx90    latencies `json:"tx_to_90pct_ms"`
	Tx100   latencies `json:"tx_to_100pct_ms"`
	TxsLost int       `json:"txs_not_everywhere"` // never reached every node (mined first, or lost)
	// StaleRate is the share of mined blocks not on the final main chain.
	StaleRate float64 `json:"stale_rate"`
	// BytesPerNodePerBlock is gossip sent (pubsub RPCs: blocks, txs,
	// control) per node per mined block during the run; sync traffic is
	// not counted.
	BytesPerNodePerBlock float64 `json:"gossip_bytes_per_node_per_block"`
	// DupRatio is duplicate block deliveries per first delivery.
	DupRatio float64 `json:"block_duplicate_ratio"`
	// WriteStalled is the share of gossip RPC writes during the mining
	// run that blocked over 1 ms (mocknet's pacing, or the writer waiting
	// for a core), and WriteStallMs their mean wait in model time.
	WriteStalled float64 `json:"gossip_writes_stalled"`
	WriteStallMs float64 `json:"gossip_write_stall_ms"`
	// Partition: the nodes split in two halves for PartitionS, both mining;
	// ConvergeS is how long after the links came back every node had the
	// same head.
	PartitionS float64 `json:"partition_s,omitempty"`
	ConvergeS  float64 `json:"converge_after_heal_s,omitempty"`
	Converged  bool    `json:"converged"`
	HeapMB     float64 `json:"peak_heap_mb"`
	// CPUShare is the CPU time this process got during the mining run
	// over its wall time, in cores (2 would be this machine's all): every
	// node runs in this process, so a share well under the cores means
	// other work on the machine delayed every node.
	CPUShare float64 `json:"cpu_share_cores"`
	LoadAvg1 float64 `json:"load_avg_1m"`
}

// NetworkOptions shape the network bench; zero values take defaults.
type NetworkOptions struct {
	Nodes      int           // default 100
	Degree     int           // maximum links per node; default 8
	GossipD    int           // gossipsub D; 0 = the library default (6)
	LatencyMin time.Duration // default 20 ms
	LatencyMax time.Duration // default 100 ms
	Bandwidth  float64       // bytes/s per link direction; default 12.5 MB/s (100 Mbit/s)
	Miners     int           // default 5
	Interval   time.Duration // mean block interval; default 4 s
	Blocks     int           // blocks mined; default 30
	TxRate     float64       // tx/s offered; default 4
	Partition  time.Duration // default 8 s; negative skips it
	Seed       uint64
	// TimeScale slows every clock of the modelled network by this factor
	// and divides the times measured by it (timescale.go); default 1.
	TimeScale float64
	// Beacons keeps the nodes' stats beacons on. Off by default: every
	// node's beacon reaches every node, N² deliveries each 5 s, which at
	// 1,000 nodes costs more than the blocks (BENCHMARKS.md).
	Beacons bool
}

func (o *NetworkOptions) setDefaults() {
	if o.Nodes <= 0 {
		o.Nodes = 100
	}
	if o.Degree <= 0 {
		o.Degree = 8
	}
	if o.LatencyMin <= 0 {
		o.LatencyMin = 20 * time.Millisecond
	}
	if o.LatencyMax < o.LatencyMin {
		o.LatencyMax = max(o.LatencyMin, 100*time.Millisecond)
	}
	if o.Bandwidth <= 0 {
		o.Bandwidth = 12.5e6
	}
	if o.Miners <= 0 {
		o.Miners = 5
	}
	o.Miners = min(o.Miners, o.Nodes)
	if o.Interval <= 0 {
		o.Interval = 4 * time.Second
	}
	if o.Blocks <= 0 {
		o.Blocks = 30
	}
	if o.TxRate < 0 {
		o.TxRate = 0
	} else if o.TxRate == 0 {
		o.TxRate = 4
	}
	if o.Partition == 0 {
		o.Partition = 8 * time.Second
	}
	if o.Seed == 0 {
		o.Seed = 14
	}
	if o.TimeScale <= 0 {
		o.TimeScale = 1
	}
}

// gossipParams are gossipsub's mesh degrees around D.
func gossipParams(d int) pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	if d <= 0 {
		return p
	}
	p.D = d
	p.Dlo = max(d-2, 1)
	p.Dhi = 2 * d
	p.Dscore = max(d*2/3, 1)
	p.Dout = max(min(d/2, p.Dlo-1), 0)
	return p
}

// sendTracer counts gossip bytes sent and block deliveries.
type sendTracer struct {
	blockTopics      [2]string // whole and compact: both messages start with the header
	bytes            atomic.Int64
	delivered, dupes atomic.Int64
	// writes counts gossip RPC writes; stalled those whose Write blocked
	// over a millisecond, for stall in all: mocknet lets a stream hold
	// two writes in flight, and a third waits for the first to arrive
	// (BENCHMARKS.md, "Network scale").
	writes, stalled, stall atomic.Int64
	// onBlock is called with the header hash of each block message
	// delivered (accepted by this node's validator), in or out of its
	// main chain.
	onBlock func(chain.Hash)
}

func (t *sendTracer) SendRPC(rpc *pubsub.RPC, _ peer.ID) { t.bytes.Add(int64(proto.Size(&rpc.RPC))) }
func (t *sendTracer) SendRPCCompleted(_ *pubsub.RPC, _ peer.ID, d time.Duration) {
	t.writes.Add(1)
	if d > time.Millisecond {
		t.stalled.Add(1)
		t.stall.Add(int64(d))
	}
}

func (t *sendTracer) isBlock(m *pubsub.Message) bool {
	return m.GetTopic() == t.blockTopics[0] || m.GetTopic() == t.blockTopics[1]
}

func (t *sendTracer) DeliverMessage(m *pubsub.Message) {
	if t.isBlock(m) {
		t.delivered.Add(1)
		if d := m.GetData(); t.onBlock != nil && len(d) >= chain.HeaderSize {
			t.onBlock(sha256.Sum256(d[:chain.HeaderSize]))
		}
	}
}
func (t *sendTracer) DuplicateMessage(m *pubsub.Message) {
	if t.isBlock(m) {
		t.dupes.Add(1)
	}
}
func (t *sendTracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (t *sendTracer) OnClosedOutboundStream(peer.ID)           {}
func (t *sendTracer) AddPeer(peer.ID, protocol.ID)             {}
func (t *sendTracer) RemovePeer(peer.ID)                       {}
func (t *sendTracer) Join(string)                              {}
func (t *sendTracer) Leave(string)                             {}
func (t *sendTracer) Graft(peer.ID, string)                    {}
func (t *sendTracer) Prune(peer.ID, string)                    {}
func (t *sendTracer) ValidateMessage(*pubsub.Message)          {}
func (t *sendTracer) RejectMessage(*pubsub.Message, string)    {}
func (t *sendTracer) ThrottlePeer(peer.ID)                     {}
func (t *sendTracer) RecvRPC(*pubsub.RPC)                      {}
func (t *sendTracer) DropRPC(*pubsub.RPC, peer.ID)             {}
func (t *sendTracer) UndeliverableMessage(*pubsub.Message)     {}

// spread records when each node first saw an item.
type spread struct {
	mu   sync.Mutex
	n    int
	born map[chain.Hash]time.Time
	at   map[chain.Hash]map[int]time.Time
}

func newSpread(n int) *spread {
	return &spread{n: n, born: make(map[chain.Hash]time.Time), at: make(map[chain.Hash]map[int]time.Time)}
}

// record notes that node i has h at t (the first time counts).
func (s *spread) record(i int, h chain.Hash, t time.Time) {
	s.mu.Lock()
	m := s.at[h]
	if m == nil {
		m = make(map[int]time.Time)
		s.at[h] = m
	}
	if old, ok := m[i]; !ok || t.Before(old) {
		m[i] = t
	}
	s.mu.Unlock()
}

func (s *spread) start(h chain.Hash, t time.Time) {
	s.mu.Lock()
	if _, ok := s.born[h]; !ok {
		s.born[h] = t
	}
	s.mu.Unlock()
}

// times returns, for the items keep accepts, the delay to 90 % and to
// every node, and how many never reached every node.
func (s *spread) times(keep func(chain.Hash) bool) (t90, t100 []time.Duration, short int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k90 := (s.n*9 + 9) / 10
	for h, born := range s.born {
		if keep != nil && !keep(h) {
			continue
		}
		var at []time.Time
		for _, x := range s.at[h] {
			at = append(at, x)
		}
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		if len(at) >= k90 {
			t90 = append(t90, max(at[k90-1].Sub(born), 0))
		}
		if len(at) >= s.n {
			t100 = append(t100, max(at[s.n-1].Sub(born), 0))
		} else {
			short++
		}
	}
	return t90, t100, short
}

// Network runs the network bench.
func Network(ctx context.Context, o Options, no NetworkOptions) (*NetworkResult, error) {
	o.setDefaults()
	no.setDefaults()
	k := timeScale(no.TimeScale)
	r := &NetworkResult{
		Mode: "network", Nodes: no.Nodes, Degree: no.Degree, GossipD: gossipParams(no.GossipD).D,
		LatencyMs:   [2]int{int(no.LatencyMin.Milliseconds()), int(no.LatencyMax.Milliseconds())},
		BandwidthMB: round(no.Bandwidth/1e6, 2), Miners: no.Miners, IntervalS: no.Interval.Seconds(), TxRate: no.TxRate,
		TimeScale: no.TimeScale,
	}
	wallStart := time.Now()
	heap := startHeapSampler(500 * time.Millisecond)
	defer func() { r.HeapMB = heap.Stop() }()
	rng := mrand.New(mrand.NewPCG(no.Seed, uint64(no.Nodes)))
	// The graph and every link's latency are drawn before anything
	// starts, so a seed gives one network however the starts interleave.
	edges := randomGraph(rng, no.Nodes, no.Degree)
	r.Links = len(edges)
	lats := make([]time.Duration, len(edges))
	for i := range lats {
		lats[i] = k.of(no.LatencyMin + time.Duration(rng.Int64N(int64(no.LatencyMax-no.LatencyMin)+1)))
	}
	p := o.params()
	genesis := chain.Genesis(p).Hash()
	_, blockTopic := node.TopicNames(genesis[:])

	mn := mocknet.New()
	defer mn.Close()
	o.logf("network: starting %d nodes (max degree %d, gossipsub D %d, time scale %g)", no.Nodes, no.Degree, r.GossipD, no.TimeScale)
	blocks, txs := newSpread(no.Nodes), newSpread(no.Nodes)
	f, err := startFleet(ctx, &o, no, mn, p, genesis, blockTopic, blocks, txs)
	if f != nil {
		defer f.close()
	}
	if err != nil {
		return nil, err
	}
	nodes, tracers := f.nodes, f.tracers
	link := func(i int, e [2]int) error {
		a, b := nodes[e[0]].ID(), nodes[e[1]].ID()
		l, err := mn.LinkPeers(a, b)
		if err != nil {
			return err
		}
		l.SetOptions(mocknet.LinkOptions{Latency: lats[i], Bandwidth: no.Bandwidth / float64(k)})
		_, err = mn.ConnectPeers(a, b)
		return err
	}
	if err := linkAll(ctx, edges, link); err != nil {
		return nil, err
	}
	params := gossipParams(no.GossipD)
	if err := waitMeshes(ctx, nodes, edges, min(params.Dlo, 4), max(120*time.Second, k.of(30*time.Second))); err != nil {
		return nil, err
	}
	r.StartupS = round(time.Since(wallStart).Seconds(), 1)
	o.logf("network: %d links; meshes formed %.1f s after start", len(edges), r.StartupS)

	// Mining and tx load.
	miners := rng.Perm(no.Nodes)[:no.Miners]
	var bytes0 int64
	for _, t := range tracers {
		bytes0 += t.bytes.Load()
		t.delivered.Store(0)
		t.dupes.Store(0)
		t.writes.Store(0)
		t.stalled.Store(0)
		t.stall.Store(0)
	}
	runStart := time.Now()
	cpu0 := cpuSeconds()
	var mined []chain.Hash
	var minedMu sync.Mutex
	var mineWG sync.WaitGroup
	mine := func(i int) {
		mineWG.Go(func() {
			b, err := nodes[i].MineBlock(ctx)
			if err != nil {
				return
			}
			blocks.start(b.Hash(), time.Now())
			minedMu.Lock()
			mined = append(mined, b.Hash())
			minedMu.Unlock()
		})
	}
	txCtx, stopTxs := context.WithCancel(ctx)
	var txWG sync.WaitGroup
	var sent atomic.Int64
	if no.TxRate > 0 {
		txWG.Go(func() {
			txLoad(txCtx, nodes, miners, no.TxRate/float64(k), txs, &sent, mrand.New(mrand.NewPCG(no.Seed, 7)))
		})
	}
	for n := range no.Blocks {
		gap := time.Duration(rng.ExpFloat64() * float64(k.of(no.Interval)))
		select {
		case <-ctx.Done():
			stopTxs()
			return nil, ctx.Err()
		case <-time.After(gap):
		}
		mine(miners[rng.IntN(len(miners))])
		if (n+1)%10 == 0 {
			o.logf("network: %d blocks mined", n+1)
		}
	}
	mineWG.Wait()
	stopTxs()
	txWG.Wait()
	// Let the last block and txs spread, and the forks resolve. Two tips
	// of equal work stay split (each node keeps the one it saw first)
	// until a next block: mine one, as the network would.
	for try := 0; ; try++ {
		err := waitSameHead(ctx, nodes, max(10*time.Second, k.of(5*time.Second)))
		if err == nil || ctx.Err() != nil {
			break
		}
		if try == 3 {
			o.logf("network: %v", err)
			break
		}
		o.logf("network: heads differ: one more block to break the tie")
		mine(miners[rng.IntN(len(miners))])
		mineWG.Wait()
	}
	time.Sleep(k.of(time.Second))
	r.RunS = round(time.Since(runStart).Seconds(), 1)
	cores := (cpuSeconds() - cpu0) / time.Since(runStart).Seconds()
	r.CPUShare = round(cores, 2)
	r.CoresPerNode = round(cores*float64(k)/float64(no.Nodes), 4)
	var bytes1 int64
	var deliv, dupes, writes, stalled, stall int64
	for _, t := range tracers {
		bytes1 += t.bytes.Load()
		deliv += t.delivered.Load()
		dupes += t.dupes.Load()
		writes += t.writes.Load()
		stalled += t.stalled.Load()
		stall += t.stall.Load()
	}
	if writes > 0 {
		r.WriteStalled = round(float64(stalled)/float64(writes), 4)
	}
	if stalled > 0 {
		r.WriteStallMs = round(float64(k.model(time.Duration(stall/stalled)))/1e6, 1)
	}
	r.BlocksMined = len(mined)
	main := make(map[chain.Hash]bool)
	c := nodes[0].Chain()
	for _, h := range c.MainHashes(0, int(c.Tip().Index)+1) {
		main[h] = true
	}
	stale := 0
	for _, h := range mined {
		if !main[h] {
			stale++
		}
	}
	if len(mined) > 0 {
		r.StaleRate = round(float64(stale)/float64(len(mined)), 3)
		r.BytesPerNodePerBlock = round(float64(bytes1-bytes0)/float64(no.Nodes)/float64(len(mined)), 0)
	}
	if deliv > 0 {
		r.DupRatio = round(float64(dupes)/float64(deliv), 2)
	}
	b90, b100, _ := blocks.times(func(h chain.Hash) bool { return main[h] })
	r.Block90, r.Block100 = summarise(k.models(b90)), summarise(k.models(b100))
	t90, t100, short := txs.times(nil)
	r.Tx90, r.Tx100, r.TxsLost, r.TxsSent = summarise(k.models(t90)), summarise(k.models(t100)), short, int(sent.Load())
	o.logf("network: block p95 to 90%% %.0f ms, to all %.0f ms (model time); stale %.1f%%", r.Block90.P95, r.Block100.P95, 100*r.StaleRate)

	if no.Partition > 0 {
		if err := partition(ctx, &o, mn, nodes, edges, link, no, r, rng); err != nil {
			return r, err
		}
	}
	r.WallS = round(time.Since(wallStart).Seconds(), 1)
	r.LoadAvg1 = LoadAvg()
	return r, nil
}

// txLoad sends rate transactions a second from the funded miners.
func txLoad(ctx context.Context, nodes []*node.Node, miners []int, rate float64, txs *spread, sent *atomic.Int64, rng *mrand.Rand) {
	for ctx.Err() == nil {
		gap := time.Duration(rng.ExpFloat64() * float64(time.Second) / rate)
		select {
		case <-ctx.Done():
			return
		case <-time.After(gap):
		}
		var funded []*node.Node
		for _, i := range miners {
			if n := nodes[i]; n.Chain().Account(n.Address()).Balance >= 2 {
				funded = append(funded, n)
			}
		}
		if len(funded) == 0 {
			continue
		}
		from := funded[rng.IntN(len(funded))]
		to := nodes[rng.IntN(len(nodes))].Address()
		tx, err := from.Send(ctx, to, 1, 1)
		if err != nil {
			continue
		}
		txs.start(tx.ID(), time.Now())
		sent.Add(1)
	}
}

// partition cuts every link between the two halves, mines on both sides,
// restores the links and times convergence to one head.
func partition(ctx context.Context, o *Options, mn mocknet.Mocknet, nodes []*node.Node, edges [][2]int, link func(int, [2]int) error, no NetworkOptions, r *NetworkResult, rng *mrand.Rand) error {
	k := timeScale(no.TimeScale)
	half := len(nodes) / 2
	var cut []int
	for i, e := range edges {
		if (e[0] < half) != (e[1] < half) {
			cut = append(cut, i)
		}
	}
	o.logf("network: partition: cutting %d links for %v (model time)", len(cut), no.Partition)
	for _, i := range cut {
		a, b := nodes[edges[i][0]].ID(), nodes[edges[i][1]].ID()
		_ = mn.UnlinkPeers(a, b)
		_ = mn.DisconnectPeers(a, b)
	}
	end := time.Now().Add(k.of(no.Partition))
	for time.Now().Before(end) {
		// One miner on each side.
		for _, i := range []int{rng.IntN(half), half + rng.IntN(len(nodes)-half)} {
			if _, err := nodes[i].MineBlock(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(k.of(no.Partition / 4)):
		}
	}
	// One more block on the first side, so that its branch has more
	// work: with equal work each side keeps the tip it saw first and only
	// the next block would decide.
	if _, err := nodes[rng.IntN(half)].MineBlock(ctx); err != nil {
		return err
	}
	healed := time.Now()
	for _, i := range cut {
		if err := link(i, edges[i]); err != nil {
			return fmt.Errorf("heal %v: %w", edges[i], err)
		}
	}
	err := waitSameHead(ctx, nodes, max(120*time.Second, k.of(60*time.Second)))
	r.PartitionS = round(no.Partition.Seconds(), 1)
	r.ConvergeS = round(k.model(time.Since(healed)).Seconds(), 2)
	r.Converged = err == nil
	o.logf("network: converged %v, %.2f s (model time) after the heal", r.Converged, r.ConvergeS)
	return nil
}

// randomGraph returns the edges of a connected random graph on n nodes
// whose degrees are at most d (d ≥ 2): a random tree, then random edges.
func randomGraph(rng *mrand.Rand, n, d int) [][2]int {
	d = max(d, 2)
	deg := make([]int, n)
	has := make(map[[2]int]bool)
	var edges [][2]int
	add := func(a, b int) bool {
		if a == b || deg[a] >= d || deg[b] >= d {
			return false
		}
		k := [2]int{min(a, b), max(a, b)}
		if has[k] {
			return false
		}
		has[k] = true
		deg[a]++
		deg[b]++
		edges = append(edges, k)
		return true
	}
	order := rng.Perm(n)
	for i := 1; i < n; i++ {
		for range 100 {
			if add(order[i], order[rng.IntN(i)]) {
				break
			}
		}
	}
	// Fill towards degree d: about n·d/2 edges in all.
	for tries := 0; tries < 20*n*d && len(edges) < n*d/2; tries++ {
		add(rng.IntN(n), rng.IntN(n))
	}
	return edges
}

// waitMeshes waits until every link is up and every node's topic meshes
// hold min(its degree, want) peers.
func waitMeshes(ctx context.Context, nodes []*node.Node, edges [][2]int, want int, timeout time.Duration) error {
	deg := make([]int, len(nodes))
	for _, e := range edges {
		deg[e[0]]++
		deg[e[1]]++
	}
	deadline := time.Now().Add(timeout)
	for {
		ready := 0
		for i, n := range nodes {
			b, t := n.MeshPeers()
			if m := min(deg[i], want); b >= m && t >= m && len(n.Peers()) >= deg[i] {
				ready++
			}
		}
		if ready == len(nodes) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("network: meshes of %d of %d nodes formed after %v", ready, len(nodes), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Table implements Result.
func (r *NetworkResult) Table(w io.Writer) {
	t := newTable(fmt.Sprintf("network: %d nodes over mocknet, %d links (degree ≤ %d), %d–%d ms links, gossipsub D=%d, %d miners every %.1f s, time scale %g",
		r.Nodes, r.Links, r.Degree, r.LatencyMs[0], r.LatencyMs[1], r.GossipD, r.Miners, r.IntervalS, r.TimeScale), r.LoadAvg1)
	lat := func(l latencies) string {
		return fmt.Sprintf("%.0f / %.0f / %.0f ms", l.P50, l.P95, l.P99)
	}
	goal, st := "", ""
	if r.Nodes >= 1000 {
		goal, st = "p95 ≤ 1 s", met(r.Block100.P95 <= 1000)
	}
	t.row("block to 90% p50/p95/p99", lat(r.Block90), "", "")
	t.row("block to 100% p50/p95/p99", lat(r.Block100), goal, st)
	t.row("tx to 90% p50/p95/p99", lat(r.Tx90), "", "")
	t.row("tx to 100% p50/p95/p99", lat(r.Tx100), "", "")
	t.row("stale blocks", fmt.Sprintf("%.1f %% of %d", 100*r.StaleRate, r.BlocksMined), "", "")
	t.row("txs sent", fmt.Sprintf("%d (%.1f/s offered)", r.TxsSent, r.TxRate), "", "")
	t.row("gossip bytes per node per block", fmt.Sprintf("%.0f", r.BytesPerNodePerBlock), "", "")
	t.row("duplicate block deliveries per block", fmt.Sprintf("%.2f", r.DupRatio), "", "")
	t.row("gossip writes that waited > 1 ms", fmt.Sprintf("%.2f %% (mean %.1f ms)", 100*r.WriteStalled, r.WriteStallMs), "", "")
	if r.PartitionS > 0 {
		t.row("converge after a partition heals", fmt.Sprintf("%.2f s (converged: %v)", r.ConvergeS, r.Converged), "", "")
	}
	t.row("start-up (nodes, links, meshes)", fmt.Sprintf("%.1f s; peak heap %.0f MB", r.StartupS, r.HeapMB), "", "")
	t.row("CPU this process got while mining", fmt.Sprintf("%.2f cores of %d", r.CPUShare, runtime.NumCPU()), "", "")
	if r.TimeScale != 1 {
		t.row("time scale k (times above are wall / k)", fmt.Sprintf("%g: each node had %.3f of a core", r.TimeScale, r.CoresPerNode), "", "")
	}
	t.row("wall time of the whole bench", fmt.Sprintf("%.0f s (mining run %.0f s)", r.WallS, r.RunS), "", "")
	if r.TxsLost > 0 {
		t.note("%d of %d txs never reached every mempool (mined before they spread)", r.TxsLost, r.TxsSent)
	}
	t.write(w)
}

// NetworkPlot draws network results (one per size, or one per gossipsub D)
// as docs/network.png-style charts: block and tx time to every node
// against network size.
func NetworkPlot(rs []*NetworkResult, path string) error {
	title := "Block and tx to every node over mocknet (20-100 ms links, degree <= 8), by network size"
	for _, r := range rs {
		if r.TimeScale > 1 {
			title = fmt.Sprintf("Block and tx to every node, mocknet 20-100 ms links, by size (model time, clock slowed %gx)", r.TimeScale)
			break
		}
	}
	c := &chart{
		title:  title,
		xLabel: "nodes",
		yLabel: "milliseconds",
	}
	b50 := series{name: "block p50 (100%)", colour: palette[0]}
	b95 := series{name: "block p95 (100%)", colour: palette[1]}
	t50 := series{name: "tx p50 (100%)", colour: palette[2]}
	b90 := series{name: "block p95 (90%)", colour: palette[3]}
	slices.SortFunc(rs, func(a, b *NetworkResult) int { return a.Nodes - b.Nodes })
	for _, r := range rs {
		x := float64(r.Nodes)
		if !slices.Contains(c.xTicks, x) {
			c.xTicks = append(c.xTicks, x)
		}
		b50.xs, b50.ys = append(b50.xs, x), append(b50.ys, r.Block100.P50)
		b95.xs, b95.ys = append(b95.xs, x), append(b95.ys, r.Block100.P95)
		t50.xs, t50.ys = append(t50.xs, x), append(t50.ys, r.Tx100.P50)
		b90.xs, b90.ys = append(b90.xs, x), append(b90.ys, r.Block90.P95)
	}
	c.series = []series{b50, b95, b90, t50}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.writePNG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuSeconds is this process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
