package node

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	cmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/fx"
)

// Defaults used by NewHost for zero HostConfig fields.
const (
	DefaultConnLow   = 50
	DefaultConnHigh  = 100
	DefaultConnGrace = 30 * time.Second
)

// DefaultListenAddrs are used when HostConfig.ListenAddrs is empty: TCP and
// QUIC on port 4001 on every IPv4 interface.
var DefaultListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/4001",
	"/ip4/0.0.0.0/udp/4001/quic-v1",
}

// HostConfig configures NewHost. The zero value is usable: default listen
// addresses, a random identity and the default connection watermarks.
type HostConfig struct {
	// ListenAddrs are multiaddrs to listen on (TCP and /quic-v1 are
	// supported). Empty means DefaultListenAddrs.
	ListenAddrs []string
	// Identity is the host's private key (see LoadOrCreateIdentity). Nil
	// means a fresh random key, so the peer ID changes on every start.
	Identity crypto.PrivKey
	// ConnLow and ConnHigh are the connection manager's watermarks: above
	// ConnHigh connections it trims down to ConnLow. Zero means the default.
	ConnLow, ConnHigh int
	// ConnGrace is how long a new connection is exempt from trimming.
	ConnGrace time.Duration
	// Gater, if set, may refuse connections (the node's ban list).
	Gater connmgr.ConnectionGater
	// NAT turns on what a node behind a NAT needs (nat.go): AutoNAT,
	// circuit relay v2 client with auto-relay, hole punching (DCUtR).
	// RelayService offers circuit relay v2 to others (it runs only while
	// AutoNAT finds this node publicly reachable); NATPortMap asks the
	// router for a port mapping by UPnP or NAT-PMP.
	NAT, RelayService, NATPortMap bool
	// UserAgent is the identify agent version ("gossipchain/<version>").
	UserAgent string
}

// NewHost builds a libp2p host with TCP and QUIC transports, TLS and Noise
// security, yamux, a resource manager with scaled default limits and a
// connection manager with low/high watermarks. With cfg.NAT it adds
// AutoNAT, the relay client and hole punching (see nat.go); without it
// relays are off and peers must dial each other directly.
func NewHost(cfg HostConfig) (host.Host, error) {
	listen := cfg.ListenAddrs
	if len(listen) == 0 {
		listen = DefaultListenAddrs
	}
	addrs := make([]ma.Multiaddr, 0, len(listen))
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: %w", s, err)
		}
		addrs = append(addrs, a)
	}

	low, high, grace := cfg.ConnLow, cfg.ConnHigh, cfg.ConnGrace
	if low <= 0 {
		low = DefaultConnLow
	}
	if high <= 0 {
		high = max(DefaultConnHigh, low)
	}
	if grace <= 0 {
		grace = DefaultConnGrace
	}
	if low > high {
		return nil, fmt.Errorf("connection manager: low watermark %d above high watermark %d", low, high)
	}
	cm, err := cmgr.NewConnManager(low, high, cmgr.WithGracePeriod(grace))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}

	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		_ = cm.Close()
		return nil, fmt.Errorf("resource manager: %w", err)
	}

	opts := []libp2p.Option{
		libp2p.ListenAddrs(addrs...),
		// No port reuse: with it, two peers that find each other by mDNS at
		// the same moment dial from their listen ports and meet in a TCP
		// simultaneous open that the security handshake cannot resolve
		// (both sides send a ClientHello). We need no NAT hole punching.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		// libp2p builds the host with fx, whose logger prints every failed
		// start hook (three error lines for one port in use); the error
		// returned here says it once.
		libp2p.WithFxOption(fx.NopLogger),
	}
	var relays *relaySource
	opts, relays = natOptions(cfg, opts)
	if cfg.UserAgent != "" {
		opts = append(opts, libp2p.UserAgent(cfg.UserAgent))
	}
	if cfg.Identity != nil {
		opts = append(opts, libp2p.Identity(cfg.Identity))
	}
	if cfg.Gater != nil {
		opts = append(opts, libp2p.ConnectionGater(cfg.Gater))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		// libp2p may already have closed them; closing again is harmless.
		_ = rm.Close()
		_ = cm.Close()
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
			return nil, &ListenInUseError{Addrs: listen, Err: err}
		}
		return nil, fmt.Errorf("start libp2p host on %v: %w", listen, err)
	}
	relays.set(h)
	return h, nil
}

// ListenInUseError is NewHost's error when a listen address is taken
// (another node on the same machine with the same port, typically).
type ListenInUseError struct {
	Addrs []string
	Err   error
}

func (e *ListenInUseError) Error() string {
	return fmt.Sprintf("start libp2p host: listen on %s: address already in use", strings.Join(e.Addrs, ", "))
}

func (e *ListenInUseError) Unwrap() error { return e.Err }

// clearDialBackoff forgets the swarm's dial backoff for p, so the next dial
// is attempted at once. After a failed dial the swarm refuses to redial a
// peer for several seconds; discovery and bootstrap loops clear that when
// they have a fresh reason to believe the peer is reachable.
func clearDialBackoff(h host.Host, p peer.ID) {
	if s, ok := h.Network().(*swarm.Swarm); ok {
		s.Backoff().Clear(p)
	}
}
