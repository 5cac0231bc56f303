package node

import (
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// maxArrivals bounds the arrival log: the blocks whose arrival time and
// source the node remembers (about eleven hours of blocks at 10 s).
const maxArrivals = 4096

// Arrival is when and from where this node first got a block.
type Arrival struct {
	Hash   chain.Hash
	Time   time.Time
	Source string // "local" (mined here), else the peer ID it came from
}

// arrivalLog remembers the last maxArrivals first arrivals, in a ring.
type arrivalLog struct {
	mu     sync.Mutex
	ring   []Arrival
	next   int
	byHash map[chain.Hash]int // index in ring
}

func newArrivalLog() *arrivalLog {
	return &arrivalLog{ring: make([]Arrival, 0, maxArrivals), byHash: make(map[chain.Hash]int)}
}

func (l *arrivalLog) note(h chain.Hash, source string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.byHash[h]; ok {
		return // the first arrival counts
	}
	a := Arrival{Hash: h, Time: at, Source: source}
	if len(l.ring) < maxArrivals {
		l.byHash[h] = len(l.ring)
		l.ring = append(l.ring, a)
		return
	}
	delete(l.byHash, l.ring[l.next].Hash)
	l.ring[l.next] = a
	l.byHash[h] = l.next
	l.next = (l.next + 1) % maxArrivals
}

func (l *arrivalLog) get(h chain.Hash) (Arrival, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.byHash[h]
	if !ok {
		return Arrival{}, false
	}
	return l.ring[i], true
}

// recent returns up to k arrivals, newest first.
func (l *arrivalLog) recent(k int) []Arrival {
	l.mu.Lock()
	defer l.mu.Unlock()
	k = min(k, len(l.ring))
	out := make([]Arrival, 0, k)
	newest := len(l.ring) - 1
	if len(l.ring) == maxArrivals {
		newest = (l.next - 1 + maxArrivals) % maxArrivals
	}
	for i := 0; i < k; i++ {
		out = append(out, l.ring[(newest-i+len(l.ring))%len(l.ring)])
	}
	return out
}

// noteArrival records the first arrival of blocks stored in the tree (main
// chain or side branch) or kept as orphans.
func (n *Node) noteArrival(source string, at time.Time, blocks ...*chain.Block) {
	for _, b := range blocks {
		n.arrivals.note(b.Hash(), source, at)
	}
}

// BlockArrival reports when and from where this node first got a block,
// if it is among the last 4096 it got since it started.
func (n *Node) BlockArrival(h chain.Hash) (Arrival, bool) { return n.arrivals.get(h) }

// RecentArrivals returns up to k of the last blocks this node got, newest
// first.
func (n *Node) RecentArrivals(k int) []Arrival { return n.arrivals.recent(k) }
