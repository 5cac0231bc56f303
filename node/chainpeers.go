package node

import (
	"context"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
)

// A connection is not a chain peer until it has shown it is one: identify
// lists our sync protocol, and its status names our genesis. Until then
// (and for ever, for a DHT node, a relay, a node of another network) it is
// not counted in Status().Peers nor listed by Peers(), no "peer joined"
// event is published, and it is not polled for status. A peer of another
// network that is useful to the DHT or as a relay keeps its connection:
// our gossip topics and rendezvous key carry the genesis, so no chain
// traffic flows to it anyway.

// DHTProtocol is the Kademlia DHT protocol the node speaks (the public
// libp2p DHT's).
const DHTProtocol = protocol.ID("/ipfs/kad/1.0.0")

// identifyWait is how long a new connection's identify may take before
// we look at its protocols anyway.
const identifyWait = 10 * time.Second

// waitIdentified returns once identify has run on a connection to p (or
// identifyWait has passed, or ctx ended).
func (n *Node) waitIdentified(ctx context.Context, p peer.ID) {
	ids, ok := n.host.(interface{ IDService() identify.IDService })
	if !ok || ids.IDService() == nil {
		return
	}
	conns := n.host.Network().ConnsToPeer(p)
	if len(conns) == 0 {
		return
	}
	t := time.NewTimer(identifyWait)
	defer t.Stop()
	select {
	case <-ids.IDService().IdentifyWait(conns[0]):
	case <-t.C:
	case <-ctx.Done():
	}
}

// speaks reports whether identify says p supports proto.
func (n *Node) speaks(p peer.ID, proto protocol.ID) bool {
	ok, _ := n.host.Peerstore().SupportsProtocols(p, proto)
	return len(ok) > 0
}

// chainCandidates are the connected peers worth a status request: they
// speak our sync protocol and are not known to be of another network.
func (n *Node) chainCandidates() []peer.ID {
	var out []peer.ID
	for _, p := range n.host.Network().Peers() {
		if !n.speaks(p, SyncProtocol) {
			continue
		}
		n.peersMu.Lock()
		st := n.peers[p]
		foreign := st != nil && st.foreign
		n.peersMu.Unlock()
		if !foreign {
			out = append(out, p)
		}
	}
	return out
}

// chainPeers are the connected peers that are chain peers.
func (n *Node) chainPeers() []peer.ID {
	var out []peer.ID
	for _, p := range n.host.Network().Peers() {
		n.peersMu.Lock()
		st := n.peers[p]
		ok := st != nil && st.chain
		n.peersMu.Unlock()
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// joinChainPeer records that p's status named our genesis; the first time
// it announces the peer.
func (n *Node) joinChainPeer(p peer.ID) {
	n.peersMu.Lock()
	st := n.peers[p]
	if st == nil || !st.connected || st.chain {
		n.peersMu.Unlock()
		return
	}
	st.chain = true
	n.peersMu.Unlock()
	n.events.publish(Event{Kind: EventPeerConnected, Peer: p, Source: p.String()})
}

// foreignPeer handles a peer whose status names another genesis: no
// chain traffic with it, and no more status polls. It is dropped unless it
// serves the DHT or relays: then the connection stays for that.
func (n *Node) foreignPeer(p peer.ID, genesis chain.Hash) {
	n.peersMu.Lock()
	st := n.peers[p]
	if st == nil {
		st = &peerState{}
		n.peers[p] = st
	}
	first := !st.foreign
	st.foreign, st.chain = true, false
	n.peersMu.Unlock()
	if n.speaks(p, DHTProtocol) || n.speaks(p, RelayHopProtocol) {
		if first {
			n.log.Info("peer of another network: kept for the DHT, no chain traffic", "peer", p, "genesis", genesis)
		}
		return
	}
	n.log.Info("dropping peer of another network", "peer", p, "genesis", genesis)
	n.host.Network().ClosePeer(p)
}

// connKinds says, for each chain peer's connections, direct or relayed:
// "direct" if any connection is direct.
func (n *Node) connKindOf(p peer.ID) string {
	kind := ""
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if k := connKind(c); k == "direct" || kind == "" {
			kind = k
		}
	}
	return kind
}

// otherPeers counts connected libp2p peers that are not chain peers.
func (n *Node) otherPeers() int {
	return len(n.host.Network().Peers()) - len(n.chainPeers())
}

// onConnectedChain is the start of a connection's life: once identify has
// run, a peer that speaks our sync protocol gets the status exchange;
// any other (a DHT node, a relay, an IPFS node) is left alone.
func (n *Node) onConnectedChain(p peer.ID) {
	n.waitIdentified(n.ctx, p)
	if n.host.Network().Connectedness(p) != network.Connected {
		return
	}
	if !n.speaks(p, SyncProtocol) {
		n.log.Debug("connected peer does not speak gossipchain", "peer", p)
		return
	}
	n.checkPeer(n.ctx, p)
}

// awaitPeerKind waits until the status exchange with a connected peer has
// told whether it is a chain peer (or ctx ends, or the peer turns out not
// to speak gossipchain).
func (n *Node) awaitPeerKind(ctx context.Context, p peer.ID) {
	n.waitIdentified(ctx, p)
	if !n.speaks(p, SyncProtocol) {
		return
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		n.peersMu.Lock()
		st := n.peers[p]
		known := st == nil || st.chain || st.foreign
		n.peersMu.Unlock()
		if known || n.host.Network().Connectedness(p) != network.Connected {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
