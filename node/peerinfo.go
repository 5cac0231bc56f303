package node

import (
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// How a peer was found (PeerDetail.FoundBy).
const (
	FoundMDNS      = "mdns"
	FoundBootstrap = "bootstrap"
	FoundRegister  = "register" // /nodes/register, the console's connect
	FoundInbound   = "inbound"  // it dialled us; we never looked for it
)

// PeerDetail is what the dashboard shows of a connected peer.
type PeerDetail struct {
	ID        string
	Addrs     []string
	Direction string // "inbound" or "outbound" (of its oldest connection)
	FoundBy   string
	Latency   time.Duration // libp2p's LatencyEWMA; 0 if not measured yet
	Index     uint64        // its head, 0 until its status is known
	Head      string
	Since     time.Time // its oldest open connection
	Score     float64
}

// notePeerFound records how we learnt of a peer. The map holds peers we
// looked for (bootstrap, mDNS, register), so it is bounded by them.
func (n *Node) notePeerFound(p peer.ID, how string) { n.found.Store(p, how) }

// PeerDetails lists connected peers with direction, discovery, latency,
// head and connection age, oldest connection first.
func (n *Node) PeerDetails() []PeerDetail {
	var out []PeerDetail
	for _, p := range n.host.Network().Peers() {
		d := PeerDetail{ID: p.String(), Score: n.scores.Score(p), Latency: n.host.Peerstore().LatencyEWMA(p)}
		var oldest network.Conn
		for _, c := range n.host.Network().ConnsToPeer(p) {
			d.Addrs = append(d.Addrs, c.RemoteMultiaddr().String())
			if oldest == nil || c.Stat().Opened.Before(oldest.Stat().Opened) {
				oldest = c
			}
		}
		if oldest != nil {
			d.Since = oldest.Stat().Opened
			d.Direction = oldest.Stat().Direction.String()
			if oldest.Stat().Direction == network.DirInbound {
				d.Direction = "inbound"
			} else if oldest.Stat().Direction == network.DirOutbound {
				d.Direction = "outbound"
			}
		}
		if how, ok := n.found.Load(p); ok {
			d.FoundBy = how.(string)
		} else if d.Direction == "inbound" {
			d.FoundBy = FoundInbound
		} else {
			d.FoundBy = "unknown"
		}
		n.peersMu.Lock()
		if st := n.peers[p]; st != nil && st.status != nil {
			d.Index, d.Head = st.status.Index, st.status.Head.String()
		}
		n.peersMu.Unlock()
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b PeerDetail) int { return a.Since.Compare(b.Since) })
	return out
}
