package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// mdnsQueueSize bounds the discoveries waiting for the found callback. When
// it is full further discoveries are dropped: mDNS repeats its answers, so
// a dropped peer is found again later.
const mdnsQueueSize = 64

// MDNSServiceName returns the mDNS service name for the network whose
// genesis block hash is genesisHash, so nodes of different networks on one
// LAN do not discover each other.
func MDNSServiceName(genesisHash []byte) string {
	return "gossipchain-" + genesisTag(genesisHash)
}

// StartMDNS advertises h on the local network under serviceName and calls
// found for every other peer advertising the same name (the same peer is
// reported again each time it is seen). found runs on a single goroutine
// owned by the returned Closer, never on the mDNS goroutines, so a slow
// found delays later discoveries but never blocks mDNS. Close stops
// advertising and waits for a running found call to return.
func StartMDNS(h host.Host, serviceName string, found func(peer.AddrInfo)) (io.Closer, error) {
	d := &mdnsDiscovery{
		self:  h.ID(),
		found: found,
		queue: make(chan peer.AddrInfo, mdnsQueueSize),
		stop:  make(chan struct{}),
	}
	d.svc = mdns.NewMdnsService(h, serviceName, d)
	d.wg.Add(1)
	go d.run()
	if err := d.svc.Start(); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("start mDNS service %q: %w", serviceName, err)
	}
	return d, nil
}

type mdnsDiscovery struct {
	self  peer.ID
	found func(peer.AddrInfo)
	svc   mdns.Service

	queue     chan peer.AddrInfo
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// HandlePeerFound implements mdns.Notifee. It never blocks.
func (d *mdnsDiscovery) HandlePeerFound(pi peer.AddrInfo) {
	if pi.ID == d.self || pi.ID == "" {
		return
	}
	select {
	case <-d.stop:
	case d.queue <- pi:
	default: // queue full: drop, mDNS will report the peer again
	}
}

func (d *mdnsDiscovery) run() {
	defer d.wg.Done()
	for {
		select {
		case <-d.stop:
			return
		case pi := <-d.queue:
			d.found(pi)
		}
	}
}

// Close stops mDNS and the callback goroutine. It is safe to call twice.
func (d *mdnsDiscovery) Close() error {
	var err error
	d.closeOnce.Do(func() {
		err = d.svc.Close()
		close(d.stop)
		d.wg.Wait()
	})
	return err
}

// DefaultDiscoveryDialTimeout bounds one dial made by ConnectDiscovered.
const DefaultDiscoveryDialTimeout = 10 * time.Second

// ConnectDiscovered returns a found callback for StartMDNS that connects to
// each discovered peer not already connected, waiting at most timeout (0
// means DefaultDiscoveryDialTimeout) and giving up when ctx is done. mDNS
// advertises every interface's address, loopback included, and libp2p tries
// them all, so a dial succeeds as long as one address is reachable; the
// ones that fail are harmless. A peer in the swarm's dial backoff is dialed
// anyway: being discovered again is a fresh sign that it is up. Failures
// are logged at debug level (logger may be nil).
func ConnectDiscovered(ctx context.Context, h host.Host, timeout time.Duration, logger *slog.Logger) func(peer.AddrInfo) {
	if timeout <= 0 {
		timeout = DefaultDiscoveryDialTimeout
	}
	logger = orDiscard(logger)
	return func(pi peer.AddrInfo) {
		if pi.ID == h.ID() || h.Network().Connectedness(pi.ID) == network.Connected || ctx.Err() != nil {
			return
		}
		// Two peers usually discover each other at the same moment and
		// dial both ways; a dial that loses such a race is worth one more
		// try after a random pause.
		for attempt := range 2 {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(100+rand.IntN(900)) * time.Millisecond):
				}
				if h.Network().Connectedness(pi.ID) == network.Connected {
					return
				}
			}
			dctx, cancel := context.WithTimeout(ctx, timeout)
			clearDialBackoff(h, pi.ID)
			err := h.Connect(dctx, pi)
			cancel()
			if err == nil {
				logger.Info("connected to discovered peer", "peer", pi.ID)
				return
			}
			if ctx.Err() != nil {
				return // shutting down
			}
			logger.Debug("connect to discovered peer failed", "peer", pi.ID, "addrs", pi.Addrs, "attempt", attempt+1, "err", err)
		}
	}
}

// orDiscard returns l, or a logger that discards everything when l is nil.
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
