package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// PropagationResult is how long a block, and a transaction, takes to reach
// every node of an in-process network on loopback.
type PropagationResult struct {
	Mode    string `json:"mode"` // "propagation"
	Nodes   int    `json:"nodes"`
	Degree  int    `json:"bootstrap_degree"` // random earlier nodes each node bootstraps to
	Links   int    `json:"links"`            // connections in the graph
	Samples int    `json:"samples"`
	// MeshSeconds is how long the gossip meshes took to form after the
	// last node started.
	MeshSeconds float64 `json:"mesh_wait_s"`
	// Block: from MineBlock being called at a random node (the search
	// takes microseconds at the test difficulty) to the block's
	// EventBlockAdded on the last node.
	BlockP50 float64 `json:"block_p50_ms"`
	BlockP95 float64 `json:"block_p95_ms"`
	BlockP99 float64 `json:"block_p99_ms"`
	BlockMax float64 `json:"block_max_ms"`
	// Tx: from Send being called at a random funded node to the
	// transaction's EventTxReceived on the last node.
	TxP50 float64 `json:"tx_p50_ms"`
	TxP95 float64 `json:"tx_p95_ms"`
	TxP99 float64 `json:"tx_p99_ms"`
	TxMax float64 `json:"tx_max_ms"`
	// Lost counts samples that had not reached every node after 10 s
	// (left out of the percentiles).
	BlocksLost int     `json:"blocks_lost"`
	TxsLost    int     `json:"txs_lost"`
	LoadAvg1   float64 `json:"load_avg_1m"`
}

// arrivals records when each node first reported a block or transaction.
type arrivals struct {
	mu   sync.Mutex
	n    int
	seen map[chain.Hash]*arrival
}

type arrival struct {
	at   map[int]time.Time
	done chan struct{}
}

func (a *arrivals) get(h chain.Hash) *arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	x := a.seen[h]
	if x == nil {
		x = &arrival{at: make(map[int]time.Time), done: make(chan struct{})}
		a.seen[h] = x
	}
	return x
}

func (a *arrivals) record(node int, h chain.Hash, t time.Time) {
	x := a.get(h)
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := x.at[node]; ok {
		return
	}
	x.at[node] = t
	if len(x.at) == a.n {
		close(x.done)
	}
}

// wait returns the last arrival once every node has reported h.
func (a *arrivals) wait(ctx context.Context, h chain.Hash, timeout time.Duration) (time.Time, error) {
	x := a.get(h)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-x.done:
	case <-t.C:
		a.mu.Lock()
		got := len(x.at)
		a.mu.Unlock()
		return time.Time{}, fmt.Errorf("%s reached %d of %d nodes in %v", h, got, a.n, timeout)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var last time.Time
	for _, at := range x.at {
		if at.After(last) {
			last = at
		}
	}
	return last, nil
}

// errLost marks a sample that did not reach every node in time.
var errLost = errors.New("sample lost")

// network is a running in-process network.
type network struct {
	nodes      []*node.Node
	links      int
	neighbours []map[int]bool // the bootstrap links, both ways
	blocks     *arrivals
	txs        *arrivals
	stops      []func()
	wg         sync.WaitGroup
}

func (nw *network) close() {
	for _, s := range nw.stops {
		s()
	}
	nw.wg.Wait()
	var wg sync.WaitGroup
	for _, n := range nw.nodes {
		wg.Go(func() { n.Close() })
	}
	wg.Wait()
}

// startNetwork starts size nodes, each bootstrapped to degree random earlier
// ones, and waits for the gossip meshes.
func startNetwork(ctx context.Context, o *Options, dir string, size int, rng *rand.Rand) (*network, time.Duration, error) {
	p := o.params()
	nw := &network{
		blocks: &arrivals{n: size, seen: make(map[chain.Hash]*arrival)},
		txs:    &arrivals{n: size, seen: make(map[chain.Hash]*arrival)},
	}
	ok := false
	defer func() {
		if !ok {
			nw.close()
		}
	}()
	neighbours := make([]map[int]bool, size)
	for i := range size {
		neighbours[i] = make(map[int]bool)
		var boot []string
		for _, j := range rng.Perm(max(i, 1))[:min(o.Degree, i)] {
			boot = append(boot, nw.nodes[j].Addrs()[0])
			neighbours[i][j], neighbours[j][i] = true, true
			nw.links++
		}
		d, err := os.MkdirTemp(dir, "node-*")
		if err != nil {
			return nil, 0, err
		}
		if o.nodeSetup != nil {
			if err := o.nodeSetup(d); err != nil {
				return nil, 0, err
			}
		}
		n, err := startNode(d, p, func(c *node.Config) {
			c.Bootstrap = boot
			if o.nodeMutate != nil {
				o.nodeMutate(c)
			}
		})
		if err != nil {
			return nil, 0, fmt.Errorf("node %d: %w", i, err)
		}
		nw.nodes = append(nw.nodes, n)
		events, stop := n.Subscribe()
		nw.stops = append(nw.stops, stop)
		nw.wg.Go(func() {
			for e := range events {
				now := time.Now()
				switch {
				case e.Kind == node.EventBlockAdded && e.Block != nil:
					nw.blocks.record(i, e.Block.Hash(), now)
				case e.Kind == node.EventTxReceived && e.Tx != nil:
					nw.txs.record(i, e.Tx.ID(), now)
				}
			}
		})
	}
	// Every link up and every topic mesh holding each neighbour (up to
	// gossipsub's low-water mark of 5): before that a relay may skip a
	// neighbour.
	start := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ready := true
		for i, n := range nw.nodes {
			want := len(neighbours[i])
			if len(n.Host().Network().Peers()) < want {
				ready = false
				break
			}
			b, t := n.MeshPeers()
			if m := min(want, 5); b < m || t < m {
				ready = false
				break
			}
		}
		if ready {
			break
		}
		if time.Now().After(deadline) {
			return nil, 0, fmt.Errorf("gossip meshes of %d nodes not formed after 60 s", size)
		}
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	ok = true
	nw.neighbours = neighbours
	return nw, time.Since(start), nil
}

// Propagation starts Nodes in-process nodes, mines Samples blocks one at a
// time at random nodes, then sends Samples transactions one at a time from
// random funded nodes, and times each to the last node.
func Propagation(ctx context.Context, o Options) (*PropagationResult, error) {
	o.setDefaults()
	r := &PropagationResult{Mode: "propagation", Nodes: o.Nodes, Degree: o.Degree, Samples: o.Samples, LoadAvg1: LoadAvg()}
	tmp, err := os.MkdirTemp("", "gossipchain-bench-prop-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	rng := rand.New(rand.NewPCG(uint64(o.Nodes), 6))
	o.logf("propagation: starting %d nodes (bootstrap degree %d)", o.Nodes, o.Degree)
	nw, mesh, err := startNetwork(ctx, &o, tmp, o.Nodes, rng)
	if err != nil {
		return nil, err
	}
	defer nw.close()
	r.Links, r.MeshSeconds = nw.links, round(mesh.Seconds(), 2)
	o.logf("propagation: %d links, meshes formed in %v", nw.links, mesh.Round(time.Millisecond))

	const timeout = 10 * time.Second
	var blockTimes []time.Duration
	for range o.Samples {
		m := nw.nodes[rng.IntN(len(nw.nodes))]
		start := time.Now()
		b, err := m.MineBlock(ctx)
		if err != nil {
			return nil, fmt.Errorf("mine: %w", err)
		}
		last, err := nw.blocks.wait(ctx, b.Hash(), timeout)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			o.logf("propagation: block %d: %v", b.Index, err)
			r.BlocksLost++
			continue
		}
		blockTimes = append(blockTimes, last.Sub(start))
	}
	// Wait for every node to agree on the head, so every funded node's
	// balance is the same everywhere.
	if err := waitSameHead(ctx, nw.nodes, 30*time.Second); err != nil {
		return nil, err
	}
	var funded []*node.Node
	for _, n := range nw.nodes {
		if n.Chain().Account(n.Address()).Balance >= 2 {
			funded = append(funded, n)
		}
	}
	var txTimes []time.Duration
	for range o.Samples {
		if len(funded) == 0 {
			return nil, errors.New("propagation: no funded node left to send from")
		}
		k := rng.IntN(len(funded))
		from := funded[k]
		to := nw.nodes[rng.IntN(len(nw.nodes))].Address()
		start := time.Now()
		tx, err := from.Send(ctx, to, 1, 1)
		if errors.Is(err, chain.ErrInsufficientBalance) {
			funded = append(funded[:k], funded[k+1:]...)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		last, err := nw.txs.wait(ctx, tx.ID(), timeout)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			o.logf("propagation: tx: %v", err)
			r.TxsLost++
			continue
		}
		txTimes = append(txTimes, last.Sub(start))
	}
	bl, tl := summarise(blockTimes), summarise(txTimes)
	r.BlockP50, r.BlockP95, r.BlockP99, r.BlockMax = bl.P50, bl.P95, bl.P99, bl.Max
	r.TxP50, r.TxP95, r.TxP99, r.TxMax = tl.P50, tl.P95, tl.P99, tl.Max
	return r, nil
}

func waitSameHead(ctx context.Context, nodes []*node.Node, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		h := nodes[0].Chain().Tip().Hash
		same := true
		for _, n := range nodes[1:] {
			if n.Chain().Tip().Hash != h {
				same = false
				break
			}
		}
		if same {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes disagree on the head after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Table implements Result.
func (r *PropagationResult) Table(w io.Writer) {
	t := newTable(fmt.Sprintf("propagation: %d nodes, %d links, %d samples each", r.Nodes, r.Links, r.Samples), r.LoadAvg1)
	goalB, goalT := "", ""
	stB, stT := "", ""
	if r.Nodes == 20 {
		goalB, stB = "p95 ≤ 100 ms", met(r.BlockP95 <= 100 && r.BlocksLost == 0)
		goalT, stT = "p95 ≤ 150 ms", met(r.TxP95 <= 150 && r.TxsLost == 0)
	}
	t.row("block to every node p50/p95/p99/max", fmt.Sprintf("%.1f / %.1f / %.1f / %.1f ms", r.BlockP50, r.BlockP95, r.BlockP99, r.BlockMax), goalB, stB)
	t.row("tx to every mempool p50/p95/p99/max", fmt.Sprintf("%.1f / %.1f / %.1f / %.1f ms", r.TxP50, r.TxP95, r.TxP99, r.TxMax), goalT, stT)
	t.row("gossip meshes formed in", fmt.Sprintf("%.2f s", r.MeshSeconds), "", "")
	if r.BlocksLost+r.TxsLost > 0 {
		t.note("%d blocks and %d txs did not reach every node within 10 s", r.BlocksLost, r.TxsLost)
	}
	t.write(w)
}
