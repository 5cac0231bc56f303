package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// fleet is the network bench's nodes on one mocknet, started in parallel
// (a thousand node.New calls one after another took minutes: each opens a
// store, writes a genesis and keys, and starts gossipsub).
type fleet struct {
	nodes   []*node.Node
	tracers []*sendTracer
	stops   []func()
	evWG    sync.WaitGroup
	dir     string // the stores, removed by close
}

// startFleet starts no.Nodes nodes on mn, each recording block and tx
// arrivals into blocks and txs. Stores go on tmpfs when there is one: a
// thousand bbolt files synced on every block would measure the disk, not
// the network. On error the nodes started so far are in the fleet, for
// close.
func startFleet(ctx context.Context, o *Options, no NetworkOptions, mn mocknet.Mocknet, p chain.Params, genesis chain.Hash, blockTopic string, blocks, txs *spread) (*fleet, error) {
	base := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	tmp, err := os.MkdirTemp(base, "gossipchain-bench-net-*")
	if err != nil {
		return nil, err
	}
	k := timeScale(no.TimeScale)
	params := k.gossip(gossipParams(no.GossipD))
	f := &fleet{nodes: make([]*node.Node, no.Nodes), tracers: make([]*sendTracer, no.Nodes), dir: tmp}
	// Hosts are added one by one (cheap; mocknet takes a lock), nodes
	// started on all cores.
	hosts := make([]*node.Config, no.Nodes)
	for i := range no.Nodes {
		sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return f, err
		}
		ip := net.IPv4(100, byte(64+i>>16), byte(i>>8), byte(i))
		addr, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/%s/tcp/4001", ip))
		h, err := mn.AddPeer(sk, addr)
		if err != nil {
			return f, err
		}
		tr := &sendTracer{blockTopics: [2]string{blockTopic, node.CompactTopicName(genesis[:])}, onBlock: func(h chain.Hash) { blocks.record(i, h, time.Now()) }}
		f.tracers[i] = tr
		hosts[i] = &node.Config{
			DataDir: fmt.Sprintf("%s/n%d", tmp, i), Params: p, Host: h, MinerWorkers: 1,
			Logger:         slog.New(slog.DiscardHandler),
			StatusInterval: k.of(5 * time.Second),
			NoStatsBeacon:  !no.Beacons,
			StatsInterval:  k.of(node.DefaultStatsInterval),
			PubSubOptions: []pubsub.Option{
				pubsub.WithRawTracer(tr), pubsub.WithGossipSubParams(params),
				pubsub.WithSeenMessagesTTL(k.of(pubsub.TimeCacheDuration)),
			},
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 2*runtime.NumCPU())
	for i, cfg := range hosts {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := os.Mkdir(cfg.DataDir, 0o700); err != nil {
				mu.Lock()
				first = cmp(first, err)
				mu.Unlock()
				return
			}
			n, err := node.New(ctx, *cfg)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				first = cmp(first, fmt.Errorf("node %d: %w", i, err))
				return
			}
			f.nodes[i] = n
			events, stop := n.Subscribe()
			f.stops = append(f.stops, stop)
			f.evWG.Go(func() {
				for e := range events {
					now := time.Now()
					switch {
					case e.Kind == node.EventBlockAdded && e.Block != nil:
						blocks.record(i, e.Block.Hash(), now)
					case e.Kind == node.EventTxReceived && e.Tx != nil:
						txs.record(i, e.Tx.ID(), now)
					}
				}
			})
		})
		if (i+1)%200 == 0 {
			o.logf("network: %d nodes starting", i+1)
		}
	}
	wg.Wait()
	return f, first
}

// cmp keeps the first error.
func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// close stops the event readers and closes every node, several at a time.
func (f *fleet) close() {
	for _, s := range f.stops {
		s()
	}
	f.evWG.Wait()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2*runtime.NumCPU())
	for _, n := range f.nodes {
		if n != nil {
			sem <- struct{}{}
			wg.Go(func() { n.Close(); <-sem })
		}
	}
	wg.Wait()
	os.RemoveAll(f.dir)
}

// linkAll links and connects the ends of every edge, a few at a time
// (each connection runs identify, a status exchange and gossipsub's
// hello on both ends).
func linkAll(ctx context.Context, edges [][2]int, link func(int, [2]int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 2*runtime.NumCPU())
	for i, e := range edges {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := link(i, e); err != nil {
				mu.Lock()
				first = cmp(first, fmt.Errorf("link %v: %w", e, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
