package node

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Bootstrapper timings.
const (
	bootstrapMinBackoff  = 250 * time.Millisecond
	bootstrapMaxBackoff  = 10 * time.Second
	bootstrapDialTimeout = 10 * time.Second
	// bootstrapStable is how long a connection must last for its loss to
	// reset the backoff.
	bootstrapStable = 10 * time.Second
	// bootstrapRecheck is how often a connected bootstrap peer is rechecked
	// even without a connectedness event; events are the fast path.
	bootstrapRecheck = 30 * time.Second
	// bootstrapProtectTag is the connection manager tag protecting
	// bootstrap peers from trimming.
	bootstrapProtectTag = "gossipchain-bootstrap"
)

// Bootstrapper keeps the host connected to a fixed set of bootstrap peers.
// It dials each of them at Start and, whenever one is not connected (never
// was, or disconnected), redials it with exponential backoff (250ms doubling
// up to 10s, with jitter) until it is connected again. Disconnects are
// noticed at once through the host's event bus. Addresses are dialed exactly
// as given, so /dns4 names are resolved again on every dial (a restarted
// docker container may come back with a new IP). Bootstrap peers are
// protected from the connection manager's trimming.
type Bootstrapper struct {
	h      host.Host
	peers  []peer.AddrInfo
	logger *slog.Logger
	kicks  map[peer.ID]chan struct{}

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	sub     event.Subscription
	wg      sync.WaitGroup
}

// NewBootstrapper returns a Bootstrapper for peers; addresses of the same
// peer ID are merged and the host's own ID is skipped (so one bootstrap
// list can be shared by every node of a cluster). logger may be nil.
func NewBootstrapper(h host.Host, peers []peer.AddrInfo, logger *slog.Logger) *Bootstrapper {
	b := &Bootstrapper{
		h:      h,
		logger: orDiscard(logger),
		kicks:  make(map[peer.ID]chan struct{}),
	}
	index := make(map[peer.ID]int)
	for _, pi := range peers {
		if pi.ID == "" || pi.ID == h.ID() {
			continue
		}
		i, ok := index[pi.ID]
		if !ok {
			i = len(b.peers)
			index[pi.ID] = i
			b.peers = append(b.peers, peer.AddrInfo{ID: pi.ID})
			b.kicks[pi.ID] = make(chan struct{}, 1)
		}
		for _, a := range pi.Addrs {
			if !containsAddr(b.peers[i].Addrs, a) {
				b.peers[i].Addrs = append(b.peers[i].Addrs, a)
			}
		}
	}
	return b
}

func containsAddr(list []ma.Multiaddr, a ma.Multiaddr) bool {
	for _, x := range list {
		if x.Equal(a) {
			return true
		}
	}
	return false
}

// Peers returns the bootstrap peers the Bootstrapper maintains.
func (b *Bootstrapper) Peers() []peer.AddrInfo {
	out := make([]peer.AddrInfo, len(b.peers))
	copy(out, b.peers)
	return out
}

// Start begins dialing. The loops run until Close is called or ctx is done.
// It returns at once; connections happen in the background.
func (b *Bootstrapper) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.closed {
		return errors.New("bootstrapper already started or closed")
	}
	b.started = true
	if len(b.peers) == 0 {
		return nil
	}
	// Subscribe before the first dial so no disconnect can be missed.
	sub, err := b.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return err
	}
	b.sub = sub
	ctx, b.cancel = context.WithCancel(ctx)
	for _, pi := range b.peers {
		b.h.ConnManager().Protect(pi.ID, bootstrapProtectTag)
	}
	b.wg.Add(1 + len(b.peers))
	go b.dispatch(ctx, sub)
	for _, pi := range b.peers {
		go b.maintain(ctx, pi, b.kicks[pi.ID])
	}
	return nil
}

// Close stops all loops and waits for them to exit. It is safe to call more
// than once, and before Start.
func (b *Bootstrapper) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	started := b.started && b.cancel != nil
	b.mu.Unlock()
	if !started {
		return nil
	}
	b.cancel()
	err := b.sub.Close()
	b.wg.Wait()
	for _, pi := range b.peers {
		b.h.ConnManager().Unprotect(pi.ID, bootstrapProtectTag)
	}
	return err
}

// dispatch forwards connectedness changes of bootstrap peers to their loops.
func (b *Bootstrapper) dispatch(ctx context.Context, sub event.Subscription) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			ev, ok := e.(event.EvtPeerConnectednessChanged)
			if !ok {
				continue
			}
			kick, ok := b.kicks[ev.Peer]
			if !ok {
				continue
			}
			select {
			case kick <- struct{}{}:
			default: // a wake-up is already pending
			}
		}
	}
}

// maintain keeps one bootstrap peer connected.
//
// The backoff grows with every failed dial and with every connection that
// drops within bootstrapStable, and resets only after a connection has held
// that long. So a peer that accepts and then immediately drops us (a full
// or misconfigured peer) is redialed at a slowing pace, not in a hot loop,
// while a long-lived connection that drops is redialed at once.
func (b *Bootstrapper) maintain(ctx context.Context, pi peer.AddrInfo, kick <-chan struct{}) {
	defer b.wg.Done()
	backoff := bootstrapMinBackoff
	var connectedAt time.Time
	for ctx.Err() == nil {
		if b.h.Network().Connectedness(pi.ID) == network.Connected {
			if connectedAt.IsZero() {
				connectedAt = time.Now()
			}
			if !wait(ctx, kick, bootstrapRecheck) {
				return
			}
			continue
		}
		if !connectedAt.IsZero() {
			lasted := time.Since(connectedAt)
			connectedAt = time.Time{}
			b.logger.Info("bootstrap peer disconnected", "peer", pi.ID, "after", lasted.Round(time.Millisecond))
			if lasted >= bootstrapStable {
				backoff = bootstrapMinBackoff
			} else {
				// Short-lived connection: wait before redialing. No kick
				// here, so a flapping peer cannot make this loop spin.
				delay := jitter(backoff)
				backoff = min(2*backoff, bootstrapMaxBackoff)
				if !wait(ctx, nil, delay) {
					return
				}
				continue
			}
		}
		err := b.dial(ctx, pi)
		if err == nil {
			b.logger.Info("connected to bootstrap peer", "peer", pi.ID)
			connectedAt = time.Now()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		delay := jitter(backoff)
		b.logger.Debug("bootstrap dial failed", "peer", pi.ID, "addrs", pi.Addrs, "retry_in", delay, "err", err)
		backoff = min(2*backoff, bootstrapMaxBackoff)
		if !wait(ctx, kick, delay) {
			return
		}
	}
}

func (b *Bootstrapper) dial(ctx context.Context, pi peer.AddrInfo) error {
	ctx, cancel := context.WithTimeout(ctx, bootstrapDialTimeout)
	defer cancel()
	// The swarm refuses to redial a peer for a while after a failed dial;
	// this loop has its own backoff, so clear the swarm's.
	clearDialBackoff(b.h, pi.ID)
	return b.h.Connect(ctx, pi)
}

// wait blocks until kick fires (true), d elapses (true) or ctx is done
// (false). A nil kick never fires.
func wait(ctx context.Context, kick <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-kick:
		return true
	case <-t.C:
		return true
	}
}

// jitter returns d scaled by a random factor in [0.75, 1.25).
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
