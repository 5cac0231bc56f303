package node

import (
	"sync"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/peer"
)

// EventKind says what happened.
type EventKind int

const (
	EventBlockAdded    EventKind = iota // a block joined the main chain
	EventReorg                          // the main chain switched branches
	EventTxReceived                     // a transaction entered the mempool
	EventPeerConnected                  // a peer connected
	EventPeerLost                       // a peer disconnected
)

func (k EventKind) String() string {
	return [...]string{"block", "reorg", "tx", "peer-connected", "peer-lost"}[k]
}

// Event is one thing the node reports to its API, console and metrics.
// Source is "local" for our own blocks and transactions, else the peer ID
// they came from ("" when unknown).
type Event struct {
	Kind         EventKind
	Block        *chain.Block // EventBlockAdded
	Tx           *chain.Tx    // EventTxReceived
	Peer         peer.ID      // peer events
	Source       string
	Disconnected int // EventReorg: blocks that left the main chain
	Connected    int // EventReorg: blocks that joined it
	Index        uint64
}

// eventBus fans events out to subscribers. A subscriber that does not keep
// up loses events rather than stall the node.
type eventBus struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

func newEventBus() *eventBus { return &eventBus{subs: make(map[chan Event]struct{})} }

func (b *eventBus) subscribe(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if _, ok := b.subs[ch]; ok {
				delete(b.subs, ch)
				close(ch)
			}
		})
	}
}

func (b *eventBus) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

func (b *eventBus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		close(ch)
		delete(b.subs, ch)
	}
}
