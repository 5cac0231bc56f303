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
// protected from the connection manager's trimming. Add adds a peer later
// (the API's /nodes/register of a node that is not up yet); Status reports
// each peer's state, and every failed dial is logged at warn with the next
// retry time, so an unreachable --bootstrap address does not go unnoticed.
type Bootstrapper struct {
	h      host.Host
	logger *slog.Logger

	mu      sync.Mutex
	peers   []*bootPeer
	byID    map[peer.ID]*bootPeer
	started bool
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	sub     event.Subscription
	wg      sync.WaitGroup
}

// bootPeer is one bootstrap peer and what its loop last saw; the fields
// after kick are guarded by Bootstrapper.mu.
type bootPeer struct {
	id        peer.ID
	kick      chan struct{}
	addrs     []ma.Multiaddr
	source    string
	state     string
	lastErr   string
	lastErrAt time.Time
	nextRetry time.Time
	failures  int
}

// Bootstrap peer states, as BootstrapStatus reports them.
const (
	BootstrapConnecting = "connecting"
	BootstrapConnected  = "connected"
	BootstrapRetrying   = "retrying"
)

// BootstrapStatus is one bootstrap peer's state: connected, connecting
// (a dial is under way) or retrying (the last dial failed; the next one is
// at NextRetry).
type BootstrapStatus struct {
	Peer      string     `json:"peer"`
	Addrs     []string   `json:"addrs"`
	Source    string     `json:"source"` // "--bootstrap" or "/nodes/register"
	State     string     `json:"state"`
	Failures  int        `json:"failures"` // failed dials since the last connection
	LastError string     `json:"last_error,omitempty"`
	LastErrAt *time.Time `json:"last_error_at,omitempty"`
	NextRetry *time.Time `json:"next_retry,omitempty"`
}

// NewBootstrapper returns a Bootstrapper for peers; addresses of the same
// peer ID are merged and the host's own ID is skipped (so one bootstrap
// list can be shared by every node of a cluster). logger may be nil.
func NewBootstrapper(h host.Host, peers []peer.AddrInfo, logger *slog.Logger) *Bootstrapper {
	b := &Bootstrapper{
		h:      h,
		logger: orDiscard(logger),
		byID:   make(map[peer.ID]*bootPeer),
	}
	for _, pi := range peers {
		b.merge(pi, "--bootstrap")
	}
	return b
}

// merge adds pi's addresses, and pi itself if new (returned). b.mu is held
// or b is not shared yet.
func (b *Bootstrapper) merge(pi peer.AddrInfo, source string) (added *bootPeer) {
	if pi.ID == "" || pi.ID == b.h.ID() {
		return nil
	}
	bp, ok := b.byID[pi.ID]
	if !ok {
		bp = &bootPeer{id: pi.ID, kick: make(chan struct{}, 1), source: source, state: BootstrapConnecting}
		b.byID[pi.ID] = bp
		b.peers = append(b.peers, bp)
		added = bp
	}
	for _, a := range pi.Addrs {
		if !containsAddr(bp.addrs, a) {
			bp.addrs = append(bp.addrs, a)
		}
	}
	return added
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
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]peer.AddrInfo, len(b.peers))
	for i, bp := range b.peers {
		out[i] = peer.AddrInfo{ID: bp.id, Addrs: append([]ma.Multiaddr(nil), bp.addrs...)}
	}
	return out
}

// Add makes pi a bootstrap peer (or adds addresses to one), dialled and
// redialled like those given at the start. source says where it came from.
func (b *Bootstrapper) Add(pi peer.AddrInfo, source string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("bootstrapper closed")
	}
	bp := b.merge(pi, source)
	if bp == nil {
		if existing := b.byID[pi.ID]; existing != nil {
			select { // new addresses: try them now
			case existing.kick <- struct{}{}:
			default:
			}
		}
		return nil
	}
	if b.started {
		b.h.ConnManager().Protect(bp.id, bootstrapProtectTag)
		b.wg.Add(1)
		go b.maintain(b.ctx, bp)
	}
	return nil
}

// Status reports each bootstrap peer's state, in the order they were added.
func (b *Bootstrapper) Status() []BootstrapStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]BootstrapStatus, 0, len(b.peers))
	for _, bp := range b.peers {
		st := BootstrapStatus{Peer: bp.id.String(), Source: bp.source, State: bp.state, Failures: bp.failures, LastError: bp.lastErr}
		for _, a := range bp.addrs {
			st.Addrs = append(st.Addrs, a.String())
		}
		if !bp.lastErrAt.IsZero() {
			t := bp.lastErrAt
			st.LastErrAt = &t
		}
		if bp.state == BootstrapRetrying && !bp.nextRetry.IsZero() {
			t := bp.nextRetry
			st.NextRetry = &t
		}
		out = append(out, st)
	}
	return out
}

// set updates bp's state under the lock.
func (b *Bootstrapper) set(bp *bootPeer, f func(*bootPeer)) {
	b.mu.Lock()
	f(bp)
	b.mu.Unlock()
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
	// Subscribe before the first dial so no disconnect can be missed.
	sub, err := b.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return err
	}
	b.sub = sub
	b.ctx, b.cancel = context.WithCancel(ctx)
	for _, bp := range b.peers {
		b.h.ConnManager().Protect(bp.id, bootstrapProtectTag)
	}
	b.wg.Add(1 + len(b.peers))
	go b.dispatch(b.ctx, sub)
	for _, bp := range b.peers {
		go b.maintain(b.ctx, bp)
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
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, bp := range b.peers {
		b.h.ConnManager().Unprotect(bp.id, bootstrapProtectTag)
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
			b.mu.Lock()
			bp, ok := b.byID[ev.Peer]
			b.mu.Unlock()
			if !ok {
				continue
			}
			select {
			case bp.kick <- struct{}{}:
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
func (b *Bootstrapper) maintain(ctx context.Context, bp *bootPeer) {
	defer b.wg.Done()
	kick := bp.kick
	backoff := bootstrapMinBackoff
	var connectedAt time.Time
	for ctx.Err() == nil {
		if b.h.Network().Connectedness(bp.id) == network.Connected {
			if connectedAt.IsZero() {
				connectedAt = time.Now()
			}
			b.set(bp, func(bp *bootPeer) { bp.state, bp.failures = BootstrapConnected, 0 })
			if !wait(ctx, kick, bootstrapRecheck) {
				return
			}
			continue
		}
		if !connectedAt.IsZero() {
			lasted := time.Since(connectedAt)
			connectedAt = time.Time{}
			b.logger.Info("bootstrap peer disconnected", "peer", bp.id, "after", lasted.Round(time.Millisecond))
			b.set(bp, func(bp *bootPeer) { bp.state = BootstrapConnecting })
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
		b.mu.Lock()
		pi := peer.AddrInfo{ID: bp.id, Addrs: append([]ma.Multiaddr(nil), bp.addrs...)}
		bp.state = BootstrapConnecting
		b.mu.Unlock()
		err := b.dial(ctx, pi)
		if err == nil {
			b.logger.Info("connected to bootstrap peer", "peer", pi.ID)
			b.set(bp, func(bp *bootPeer) { bp.state, bp.failures = BootstrapConnected, 0 })
			connectedAt = time.Now()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		delay := jitter(backoff)
		now := time.Now()
		var failures int
		b.set(bp, func(bp *bootPeer) {
			bp.state, bp.lastErr, bp.lastErrAt, bp.nextRetry = BootstrapRetrying, err.Error(), now, now.Add(delay)
			bp.failures++
			failures = bp.failures
		})
		b.logger.Warn("bootstrap peer unreachable", "peer", pi.ID, "addrs", pi.Addrs, "source", bp.source,
			"failures", failures, "retry_in", delay.Round(time.Millisecond), "next_retry", now.Add(delay).Format(time.TimeOnly), "err", err)
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
