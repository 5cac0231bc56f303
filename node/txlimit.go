package node

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Rate limits on transaction gossip, per peer that delivers it (pubsub's
// propagation source, which relays other nodes' announcements too). Over
// the limit an announcement is Ignored before it is decoded or validated,
// so a flood costs us a token-bucket update per message; a peer that goes
// on flooding is penalised.
//
// The numbers leave room for honest relays: blocks carry at most 4000 txs
// every 10 s (400 tx/s), the mempool holds 10,000, and a node's own
// announcements (txOut*) stay under half of what peers accept.
const (
	txInRate, txInBurst   = 2000, 10000 // transactions per second, per peer
	annInRate, annInBurst = 50, 200     // announcements per second, per peer

	// Each announcement dropped over the limit is a strike; strikes
	// decay at strikeDecay a second, and a peer with more than
	// strikeLimit is penalised (and starts again from zero).
	strikeDecay, strikeLimit = 5, 100

	// maxLimitedPeers bounds the limiter's map. When it is full, peers
	// whose buckets are full again are forgotten (a new entry would be
	// the same), then the least recently seen.
	maxLimitedPeers = 1024

	// Our own announcements: at most txOutRate transactions a second
	// (bursts of txOutBurst), one announcement per annOutEvery.
	txOutRate, txOutBurst = txInRate / 2, txInBurst / 2
	annOutEvery           = time.Second / (annInRate / 5)
)

// tokenBucket holds up to burst tokens, refilled at rate a second.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func fullBucket(burst float64, now time.Time) tokenBucket {
	return tokenBucket{tokens: burst, last: now}
}

func (b *tokenBucket) refill(now time.Time, rate, burst float64) {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(burst, b.tokens+dt*rate)
	}
	b.last = now
}

// take removes n tokens if there are that many.
func (b *tokenBucket) take(now time.Time, n, rate, burst float64) bool {
	b.refill(now, rate, burst)
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

type peerTxLimit struct {
	txs, anns       tokenBucket
	strikes         float64
	seen            time.Time
	passed, dropped int // announcements, for tests and logs
}

// txLimiter is the per-peer limit on incoming tx gossip.
type txLimiter struct {
	now func() time.Time

	mu    sync.Mutex
	peers map[peer.ID]*peerTxLimit
}

func newTxLimiter(now func() time.Time) *txLimiter {
	if now == nil {
		now = time.Now
	}
	return &txLimiter{now: now, peers: make(map[peer.ID]*peerTxLimit)}
}

// allow charges an announcement of count transactions to p. It reports
// whether to validate it, and whether p has flooded long enough to be
// penalised (reported once; its strikes then start again).
func (l *txLimiter) allow(p peer.ID, count int) (ok, abuse bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.peers[p]
	if st == nil {
		if len(l.peers) >= maxLimitedPeers {
			l.evict(now)
		}
		st = &peerTxLimit{txs: fullBucket(txInBurst, now), anns: fullBucket(annInBurst, now)}
		l.peers[p] = st
	}
	if dt := now.Sub(st.seen).Seconds(); dt > 0 && !st.seen.IsZero() {
		st.strikes = max(0, st.strikes-dt*strikeDecay)
	}
	st.seen = now
	// Check both before taking from either, so a refused announcement
	// costs the peer a strike and no tokens.
	st.anns.refill(now, annInRate, annInBurst)
	st.txs.refill(now, txInRate, txInBurst)
	if st.anns.tokens >= 1 && st.txs.tokens >= float64(count) {
		st.anns.tokens--
		st.txs.tokens -= float64(count)
		st.passed++
		return true, false
	}
	st.dropped++
	st.strikes++
	if st.strikes > strikeLimit {
		st.strikes = 0
		return false, true
	}
	return false, false
}

// evict makes room in the map. l.mu is held.
func (l *txLimiter) evict(now time.Time) {
	var oldest peer.ID
	var oldestSeen time.Time
	for p, st := range l.peers {
		st.anns.refill(now, annInRate, annInBurst)
		st.txs.refill(now, txInRate, txInBurst)
		decayed := st.strikes - now.Sub(st.seen).Seconds()*strikeDecay
		if st.anns.tokens >= annInBurst && st.txs.tokens >= txInBurst && decayed <= 0 {
			delete(l.peers, p)
			continue
		}
		if oldest == "" || st.seen.Before(oldestSeen) {
			oldest, oldestSeen = p, st.seen
		}
	}
	if len(l.peers) >= maxLimitedPeers {
		delete(l.peers, oldest)
	}
}

// counts reports how many of p's announcements passed and were dropped
// since p's entry was made.
func (l *txLimiter) counts(p peer.ID) (passed, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.peers[p]; st != nil {
		return st.passed, st.dropped
	}
	return 0, 0
}

func (l *txLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}
