package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The stats beacon: every node publishes a small summary of itself on a
// third gossip topic, /gossipchain/<genesis prefix>/stats/1, so that any
// node can show the whole network (heads, lag, block propagation times)
// with no central server. A beacon is a fixed binary layout, big-endian:
//
//	version u8 (1) | sent unix ms i64 | head index u64 | head hash [32] |
//	peers u16 | flags u8 (bit 0: mining) | hash rate u64 (hashes/s) |
//	mempool u32 | count u8 (≤ MaxBeaconSeen) | count × (block hash [32], first seen unix ms i64)
//
// The seen list is the node's most recent block arrivals: when it first
// saw each block, by its own clock. Receivers check the size, decode, drop
// a beacon older than BeaconMaxAge or further ahead than BeaconMaxAhead,
// one older than the last from the same author, and one that comes sooner
// than BeaconMinGap after the last from that author (rate limit).
const (
	beaconVersion  = 1
	beaconFixed    = 1 + 8 + 8 + 32 + 2 + 1 + 8 + 4 + 1
	beaconSeenSize = 32 + 8
	// MaxBeaconSeen is the most block arrivals one beacon lists.
	MaxBeaconSeen = 16
	// MaxBeaconSize is the largest valid beacon.
	MaxBeaconSize = beaconFixed + MaxBeaconSeen*beaconSeenSize
	// BeaconMaxAge and BeaconMaxAhead bound a beacon's sent time against
	// the receiver's clock.
	BeaconMaxAge   = 30 * time.Second
	BeaconMaxAhead = time.Minute
	// BeaconMinGap is the least time between two beacons of one author
	// that are accepted (and forwarded).
	BeaconMinGap = time.Second
	// DefaultStatsInterval is how often a node publishes its beacon when
	// nothing changes; a head change publishes sooner, but never within
	// statsMinInterval of the last.
	DefaultStatsInterval = 5 * time.Second
	statsMinInterval     = 2 * time.Second
	// maxBeaconAuthors bounds the table of nodes heard from; beyond it the
	// one heard from least recently goes. Entries expire after
	// beaconExpiry.
	maxBeaconAuthors = 256
	beaconExpiry     = 2 * time.Minute
)

// ErrBadBeacon marks a malformed stats beacon.
var ErrBadBeacon = errors.New("malformed stats beacon")

// SeenBlock is when a node first saw a block, by its own clock.
type SeenBlock struct {
	Hash chain.Hash
	At   time.Time
}

// Beacon is one node's published summary.
type Beacon struct {
	Sent      time.Time
	HeadIndex uint64
	HeadHash  chain.Hash
	Peers     int
	Mining    bool
	HashRate  uint64 // hashes a second
	Mempool   int
	Seen      []SeenBlock
}

// EncodeBeacon encodes b; it keeps at most MaxBeaconSeen arrivals.
func EncodeBeacon(b Beacon) []byte {
	seen := b.Seen
	if len(seen) > MaxBeaconSeen {
		seen = seen[:MaxBeaconSeen]
	}
	out := make([]byte, 0, beaconFixed+len(seen)*beaconSeenSize)
	out = append(out, beaconVersion)
	out = binary.BigEndian.AppendUint64(out, uint64(b.Sent.UnixMilli()))
	out = binary.BigEndian.AppendUint64(out, b.HeadIndex)
	out = append(out, b.HeadHash[:]...)
	out = binary.BigEndian.AppendUint16(out, uint16(min(max(b.Peers, 0), math.MaxUint16)))
	var flags byte
	if b.Mining {
		flags |= 1
	}
	out = append(out, flags)
	out = binary.BigEndian.AppendUint64(out, b.HashRate)
	out = binary.BigEndian.AppendUint32(out, uint32(min(max(b.Mempool, 0), math.MaxUint32)))
	out = append(out, byte(len(seen)))
	for _, s := range seen {
		out = append(out, s.Hash[:]...)
		out = binary.BigEndian.AppendUint64(out, uint64(s.At.UnixMilli()))
	}
	return out
}

// DecodeBeacon decodes a beacon; any other length than the one its count
// implies, an unknown version or flag, or a count over MaxBeaconSeen is
// ErrBadBeacon.
func DecodeBeacon(data []byte) (Beacon, error) {
	var b Beacon
	if len(data) < beaconFixed || len(data) > MaxBeaconSize {
		return b, fmt.Errorf("%w: %d bytes", ErrBadBeacon, len(data))
	}
	if data[0] != beaconVersion {
		return b, fmt.Errorf("%w: version %d", ErrBadBeacon, data[0])
	}
	p := data[1:]
	b.Sent = time.UnixMilli(int64(binary.BigEndian.Uint64(p)))
	b.HeadIndex = binary.BigEndian.Uint64(p[8:])
	copy(b.HeadHash[:], p[16:48])
	b.Peers = int(binary.BigEndian.Uint16(p[48:]))
	flags := p[50]
	if flags&^1 != 0 {
		return Beacon{}, fmt.Errorf("%w: flags %#x", ErrBadBeacon, flags)
	}
	b.Mining = flags&1 != 0
	b.HashRate = binary.BigEndian.Uint64(p[51:])
	b.Mempool = int(binary.BigEndian.Uint32(p[59:]))
	count := int(p[63])
	if count > MaxBeaconSeen || len(data) != beaconFixed+count*beaconSeenSize {
		return Beacon{}, fmt.Errorf("%w: %d arrivals in %d bytes", ErrBadBeacon, count, len(data))
	}
	rest := data[beaconFixed:]
	if count > 0 {
		b.Seen = make([]SeenBlock, count)
	}
	for i := range b.Seen {
		copy(b.Seen[i].Hash[:], rest[:32])
		b.Seen[i].At = time.UnixMilli(int64(binary.BigEndian.Uint64(rest[32:])))
		rest = rest[beaconSeenSize:]
	}
	return b, nil
}

// NodeStats is the last beacon heard from one node.
type NodeStats struct {
	Peer     peer.ID
	Received time.Time // by our clock
	Beacon
}

// statsTable holds the last beacon of each author, bounded, and tells
// watchers when it changes.
type statsTable struct {
	mu      sync.Mutex
	byPeer  map[peer.ID]*NodeStats
	changed chan struct{}
}

func newStatsTable() *statsTable {
	return &statsTable{byPeer: make(map[peer.ID]*NodeStats), changed: make(chan struct{})}
}

// verdict is what the validator does with a beacon.
type verdict int

const (
	beaconAccept verdict = iota
	beaconIgnore         // stale, replayed, or over the rate limit
	beaconReject         // malformed
)

// offer checks a raw beacon from author received at now and records it.
func (t *statsTable) offer(author peer.ID, data []byte, now time.Time) (verdict, error) {
	if len(data) > MaxBeaconSize {
		return beaconReject, fmt.Errorf("%w: %d bytes", ErrBadBeacon, len(data))
	}
	b, err := DecodeBeacon(data)
	if err != nil {
		return beaconReject, err
	}
	if age := now.Sub(b.Sent); age > BeaconMaxAge || -age > BeaconMaxAhead {
		return beaconIgnore, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	if old := t.byPeer[author]; old != nil {
		if !b.Sent.After(old.Sent) || now.Sub(old.Received) < BeaconMinGap {
			return beaconIgnore, nil
		}
	} else if len(t.byPeer) >= maxBeaconAuthors {
		var oldest *NodeStats
		for _, s := range t.byPeer {
			if oldest == nil || s.Received.Before(oldest.Received) {
				oldest = s
			}
		}
		delete(t.byPeer, oldest.Peer)
	}
	t.byPeer[author] = &NodeStats{Peer: author, Received: now, Beacon: b}
	close(t.changed)
	t.changed = make(chan struct{})
	return beaconAccept, nil
}

func (t *statsTable) expire(now time.Time) {
	for p, s := range t.byPeer {
		if now.Sub(s.Received) > beaconExpiry {
			delete(t.byPeer, p)
		}
	}
}

func (t *statsTable) list(now time.Time) []NodeStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	out := make([]NodeStats, 0, len(t.byPeer))
	for _, s := range t.byPeer {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}

func (t *statsTable) watch() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// StatsTopicName is the network's stats beacon topic.
func StatsTopicName(genesisHash []byte) string {
	return "/gossipchain/" + genesisTag(genesisHash) + "/stats/1"
}

// NetworkStats lists the last beacon of every node heard from in the last
// two minutes (not this node's own).
func (n *Node) NetworkStats() []NodeStats { return n.stats.list(time.Now()) }

// StatsChanged returns a channel closed when the next beacon is recorded.
func (n *Node) StatsChanged() <-chan struct{} { return n.stats.watch() }

// StatsBeaconOn reports whether this node publishes its beacon.
func (n *Node) StatsBeaconOn() bool { return !n.cfg.NoStatsBeacon }

// startStats joins the stats topic (always: a node with its beacon off
// still shows the others') and starts the publisher.
func (n *Node) startStats() error {
	genesis := n.chain.GenesisHash()
	var err error
	n.statsTopic, err = JoinTopic(n.ps, StatsTopicName(genesis[:]), TopicConfig{
		Validator:            n.validateStats,
		ValidatorTimeout:     time.Second,
		ValidatorConcurrency: 16,
	})
	if err != nil {
		return err
	}
	sub, err := n.statsTopic.Subscribe()
	if err != nil {
		return err
	}
	n.spawn(func() {
		defer sub.Cancel()
		for {
			if _, err := sub.Next(n.ctx); err != nil {
				return
			}
		}
	})
	if !n.cfg.NoStatsBeacon {
		n.spawn(n.publishStatsLoop)
	}
	return nil
}

// validateStats checks a beacon: size, encoding, age, rate per author.
// A malformed one is Rejected (gossipsub charges the sender); a stale,
// replayed or too frequent one is Ignored.
func (n *Node) validateStats(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	author := msg.GetFrom()
	if author == "" {
		return pubsub.ValidationReject
	}
	if author == n.host.ID() {
		return pubsub.ValidationAccept
	}
	switch v, err := n.stats.offer(author, msg.Data, time.Now()); v {
	case beaconAccept:
		return pubsub.ValidationAccept
	case beaconReject:
		n.log.Debug("rejected stats beacon", "from", from, "author", author, "err", err)
		return pubsub.ValidationReject
	default:
		return pubsub.ValidationIgnore
	}
}

// OwnBeacon is the beacon this node would publish now.
func (n *Node) OwnBeacon() Beacon {
	st := n.Status()
	b := Beacon{
		Sent: time.Now(), HeadIndex: st.Index, HeadHash: st.Head, Peers: st.Peers,
		Mining: st.Mining, HashRate: uint64(max(st.HashRate, 0)), Mempool: st.Mempool,
	}
	for _, a := range n.RecentArrivals(MaxBeaconSeen) {
		b.Seen = append(b.Seen, SeenBlock{Hash: a.Hash, At: a.Time})
	}
	return b
}

// publishStatsLoop publishes the beacon every StatsInterval, and soon
// after a head change, but never twice within statsMinInterval.
func (n *Node) publishStatsLoop() {
	interval := n.cfg.StatsInterval
	if interval <= 0 {
		interval = DefaultStatsInterval
	}
	gap := min(statsMinInterval, interval)
	var last time.Time
	timer := time.NewTimer(time.Second) // the first one soon after start
	defer timer.Stop()
	for {
		changed := n.headChanged()
		select {
		case <-n.ctx.Done():
			return
		case <-timer.C:
		case <-changed:
			if wait := gap - time.Since(last); wait > 0 {
				select {
				case <-n.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		if err := n.statsTopic.Publish(n.ctx, EncodeBeacon(n.OwnBeacon())); err != nil && n.ctx.Err() == nil {
			n.log.Debug("publish stats beacon", "err", err)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(interval)
	}
}
