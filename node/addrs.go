package node

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

var (
	// ErrNoPeerID means a peer address lacks its /p2p/<peer-id> component.
	ErrNoPeerID = errors.New("multiaddr has no /p2p/<peer-id> component")
	// ErrBadMultiaddr means a peer address is not a usable multiaddr.
	ErrBadMultiaddr = errors.New("bad multiaddr")
)

// FullAddrs returns every address h listens on, with unspecified addresses
// (0.0.0.0, ::) expanded to each interface's address, as strings ending in
// /p2p/<peer-id>: what another node needs to dial this one. Loopback
// addresses are included but sorted after the others.
func FullAddrs(h host.Host) []string {
	addrs, err := h.Network().InterfaceListenAddresses()
	if err != nil || len(addrs) == 0 {
		addrs = h.Addrs()
	}
	addrs = sortAddrs(addrs)
	suffix := "/p2p/" + h.ID().String()
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if strings.HasPrefix(a.String(), "/p2p-circuit") {
			continue // the relay transport's listener, no address of ours
		}
		s := a.String() + suffix
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

// sortAddrs returns a sorted copy of addrs: non-loopback addresses first,
// then by their string form.
func sortAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	addrs = slices.Clone(addrs)
	slices.SortStableFunc(addrs, func(a, b ma.Multiaddr) int {
		la, lb := manet.IsIPLoopback(a), manet.IsIPLoopback(b)
		switch {
		case la == lb:
			return strings.Compare(a.String(), b.String())
		case lb:
			return -1
		default:
			return 1
		}
	})
	return addrs
}

// ParsePeerAddr parses a peer's full multiaddr, such as
// /ip4/10.0.0.2/tcp/4001/p2p/12D3Koo... or /dns4/node1/tcp/4001/p2p/12D3Koo...
// It must start with /ip4, /ip6, /dns4, /dns6 or /dns, name a transport and
// end with /p2p/<peer-id>. DNS names are kept unresolved in the result, so
// libp2p resolves them again on every dial. Errors wrap ErrNoPeerID or
// ErrBadMultiaddr.
func ParsePeerAddr(s string) (peer.AddrInfo, error) {
	s = strings.TrimSpace(s)
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%w %q: %v", ErrBadMultiaddr, s, err)
	}
	first, _ := ma.SplitFirst(m)
	if first == nil {
		return peer.AddrInfo{}, fmt.Errorf("%w %q: empty", ErrBadMultiaddr, s)
	}
	switch first.Protocol().Code {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS4, ma.P_DNS6, ma.P_DNS:
	default:
		return peer.AddrInfo{}, fmt.Errorf("%w %q: must start with /ip4, /ip6, /dns4, /dns6 or /dns", ErrBadMultiaddr, s)
	}
	if _, err := m.ValueForProtocol(ma.P_CIRCUIT); err == nil {
		return peer.AddrInfo{}, fmt.Errorf("%w %q: relay addresses are not supported", ErrBadMultiaddr, s)
	}
	transport, id := peer.SplitAddr(m)
	if id == "" {
		if _, err := m.ValueForProtocol(ma.P_P2P); err == nil {
			// A /p2p component that is not the last one.
			return peer.AddrInfo{}, fmt.Errorf("%w %q: /p2p/<peer-id> must come last", ErrBadMultiaddr, s)
		}
		return peer.AddrInfo{}, fmt.Errorf("%w: %q", ErrNoPeerID, s)
	}
	if len(transport) < 2 {
		return peer.AddrInfo{}, fmt.Errorf("%w %q: no transport (e.g. /tcp/4001)", ErrBadMultiaddr, s)
	}
	return peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{transport}}, nil
}
