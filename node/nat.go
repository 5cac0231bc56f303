package node

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	ma "github.com/multiformats/go-multiaddr"
)

// RelayHopProtocol is circuit relay v2's hop protocol: a peer that speaks
// it offers to relay for us.
const RelayHopProtocol = protocol.ID("/libp2p/circuit/relay/0.2.0/hop")

// natOptions adds the NAT traversal options of cfg to opts. The relay
// client's candidates come from the returned source, which needs the
// host once it exists (relaySource.set).
func natOptions(cfg HostConfig, opts []libp2p.Option) ([]libp2p.Option, *relaySource) {
	if !cfg.NAT && !cfg.RelayService {
		return append(opts, libp2p.DisableRelay()), nil
	}
	src := &relaySource{}
	opts = append(opts, libp2p.EnableRelay())
	if cfg.NAT {
		opts = append(opts,
			// AutoNAT: ask peers to dial us back, so we learn whether we
			// are reachable (and serve the same to them, rate-limited).
			libp2p.EnableNATService(),
			libp2p.EnableAutoNATv2(),
			// While AutoNAT says private: reserve a slot on relays found
			// among our peers and announce /p2p-circuit addresses.
			libp2p.EnableAutoRelayWithPeerSource(src.peers,
				autorelay.WithBootDelay(5*time.Second),
				autorelay.WithMinInterval(10*time.Second),
				autorelay.WithBackoff(30*time.Second),
				autorelay.WithMinCandidates(1),
				autorelay.WithNumRelays(2)),
			// DCUtR: upgrade a relayed connection to a direct one by
			// dialling each other at the same moment.
			libp2p.EnableHolePunching(),
		)
	}
	if cfg.RelayService {
		opts = append(opts, libp2p.EnableRelayService())
	}
	if cfg.NATPortMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	return opts, src
}

// relaySource offers auto-relay the connected peers that speak the relay
// hop protocol (found by the DHT, bootstrap or mDNS).
type relaySource struct {
	h atomic.Pointer[host.Host]
}

func (r *relaySource) set(h host.Host) {
	if r != nil {
		r.h.Store(&h)
	}
}

func (r *relaySource) peers(ctx context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, num)
	defer close(out)
	hp := r.h.Load()
	if hp == nil {
		return out
	}
	h := *hp
	for _, p := range h.Network().Peers() {
		if len(out) >= num {
			break
		}
		if ok, _ := h.Peerstore().SupportsProtocols(p, RelayHopProtocol); len(ok) == 0 {
			continue
		}
		out <- h.Peerstore().PeerInfo(p)
	}
	return out
}

// reachability follows AutoNAT's verdict on the host's event bus.
type reachability struct {
	v atomic.Int32 // network.Reachability
}

func (r *reachability) watch(ctx context.Context, h host.Host, wg *sync.WaitGroup) {
	sub, err := h.EventBus().Subscribe(new(event.EvtLocalReachabilityChanged))
	if err != nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				if ev, ok := e.(event.EvtLocalReachabilityChanged); ok {
					r.v.Store(int32(ev.Reachability))
				}
			}
		}
	}()
}

// String is "public", "private" or "unknown".
func (r *reachability) String() string {
	switch network.Reachability(r.v.Load()) {
	case network.ReachabilityPublic:
		return "public"
	case network.ReachabilityPrivate:
		return "private"
	}
	return "unknown"
}

// isRelayed reports whether a multiaddr goes through a relay.
func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// connKind is "relayed" for a connection through a circuit relay (limited
// or not), else "direct".
func connKind(c network.Conn) string {
	if c.Stat().Limited || isRelayed(c.RemoteMultiaddr()) {
		return "relayed"
	}
	return "direct"
}

// RelayAddrs are the node's /p2p-circuit addresses (reservations on relays).
func (n *Node) RelayAddrs() []string {
	var out []string
	for _, a := range n.host.Addrs() {
		if s := a.String(); isRelayed(a) && !strings.HasPrefix(s, "/p2p-circuit") {
			out = append(out, s+"/p2p/"+n.host.ID().String())
		}
	}
	return out
}

// Reachability is AutoNAT's verdict: "public", "private" or "unknown"
// (also when NAT traversal is off).
func (n *Node) Reachability() string { return n.reach.String() }
