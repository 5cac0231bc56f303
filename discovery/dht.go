// Package discovery finds gossipchain peers beyond the LAN: a Kademlia DHT
// (go-libp2p-kad-dht) used as go-libp2p's core/discovery interface through
// routing discovery, and a loop (Find) that advertises under a rendezvous
// key and connects to what any core/discovery.Discovery returns.
//
// The DHT is the public libp2p one's protocol (/ipfs/kad/1.0.0), so any
// reachable libp2p DHT node can be the entry point: a gossipchain node of
// another network, or a node that is not gossipchain at all. Nodes of one
// network meet under Namespace(genesis), which no other network shares.
//
// mDNS and the fixed bootstrap list stay in package node (mdns.go,
// bootstrap.go): go-libp2p's mDNS is not a core/discovery.Discovery (it
// calls a notifee), and the bootstrap list is a set of connections to keep,
// not a search.
package discovery

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// Namespace is the rendezvous key of the network whose genesis block hash
// is genesis: nodes advertise and look themselves up under it.
func Namespace(genesis []byte) string {
	return "gossipchain/" + hex.EncodeToString(genesis)
}

// DHT is a Kademlia DHT node on a host, and the routing discovery over it.
type DHT struct {
	*kaddht.IpfsDHT
	disc *drouting.RoutingDiscovery
}

// DHTConfig configures NewDHT.
type DHTConfig struct {
	// Bootstrap are the DHT's entry points when its routing table is
	// empty (the node's --bootstrap list: any libp2p DHT node will do).
	Bootstrap []peer.AddrInfo
	// Client makes the node a DHT client only (it queries, never answers).
	// By default it answers queries unless AutoNAT finds it unreachable
	// (kad-dht's ModeAutoServer).
	Client bool
}

// NewDHT starts a DHT node on h. It does not wait for it to connect.
func NewDHT(ctx context.Context, h host.Host, cfg DHTConfig) (*DHT, error) {
	mode := kaddht.ModeAutoServer
	if cfg.Client {
		mode = kaddht.ModeClient
	}
	opts := []kaddht.Option{kaddht.Mode(mode)}
	if len(cfg.Bootstrap) > 0 {
		opts = append(opts, kaddht.BootstrapPeers(cfg.Bootstrap...))
	}
	d, err := kaddht.New(h, opts...)
	if err != nil {
		return nil, fmt.Errorf("dht: %w", err)
	}
	if err := d.Bootstrap(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("dht bootstrap: %w", err)
	}
	return &DHT{IpfsDHT: d, disc: drouting.NewRoutingDiscovery(d)}, nil
}

// Discovery is the DHT as a core/discovery.Discovery (provider records
// under the namespace's CID).
func (d *DHT) Discovery() discovery.Discovery { return d.disc }

// Finder timings: a search every findMin at first, doubling up to findMax
// while searches bring nothing new; advertisements are renewed at 7/8 of
// their TTL, or after advertiseRetry when one fails (an empty routing
// table at start).
var (
	findMin        = 2 * time.Second
	findMax        = time.Minute
	advertiseRetry = 5 * time.Second
	findTimeout    = 30 * time.Second
)

// Finder advertises a node under a namespace and looks the namespace up
// again and again, calling found for each peer other than itself.
type Finder struct {
	d      discovery.Discovery
	self   peer.ID
	ns     string
	found  func(peer.AddrInfo)
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// Want, if set, says whether more peers are wanted now: while it is
	// true the search stays at its fastest pace.
	want func() bool
}

// Find starts advertising self under ns on d and searching it. found runs
// on the Finder's goroutine (one at a time); want may be nil. Close stops it.
func Find(ctx context.Context, d discovery.Discovery, self peer.ID, ns string, found func(peer.AddrInfo), want func() bool, log *slog.Logger) *Finder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Finder{d: d, self: self, ns: ns, found: found, want: want, log: log}
	ctx, f.cancel = context.WithCancel(ctx)
	f.wg.Add(2)
	go f.advertise(ctx)
	go f.search(ctx)
	return f
}

// Close stops the Finder and waits for it.
func (f *Finder) Close() {
	f.cancel()
	f.wg.Wait()
}

func (f *Finder) advertise(ctx context.Context) {
	defer f.wg.Done()
	for ctx.Err() == nil {
		ttl, err := f.d.Advertise(ctx, f.ns)
		wait := 7 * ttl / 8
		if err != nil {
			f.log.Debug("dht advertise", "ns", f.ns, "err", err)
			wait = advertiseRetry
		} else {
			f.log.Debug("dht advertised", "ns", f.ns, "ttl", ttl)
		}
		if wait <= 0 {
			wait = advertiseRetry
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

func (f *Finder) search(ctx context.Context) {
	defer f.wg.Done()
	seen := make(map[peer.ID]bool)
	pause := findMin
	for {
		if !sleep(ctx, pause) {
			return
		}
		fresh := 0
		sctx, cancel := context.WithTimeout(ctx, findTimeout)
		ch, err := f.d.FindPeers(sctx, f.ns)
		if err != nil {
			f.log.Debug("dht find", "ns", f.ns, "err", err)
		} else {
			for pi := range ch {
				if pi.ID == f.self || pi.ID == "" || len(pi.Addrs) == 0 {
					continue
				}
				if !seen[pi.ID] {
					seen[pi.ID] = true
					fresh++
					f.log.Info("found peer in the DHT", "peer", pi.ID)
				}
				f.found(pi)
			}
		}
		cancel()
		if fresh > 0 || (f.want != nil && f.want()) {
			pause = findMin
		} else {
			pause = min(2*pause, findMax)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
