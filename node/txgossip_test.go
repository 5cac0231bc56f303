package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// evilTxPeer is a plain host with gossipsub and no validators, on b's tx
// topic and connected to b.
func evilTxPeer(t *testing.T, b *Node) (host.Host, *pubsub.Topic) {
	t.Helper()
	ctx := context.Background()
	evil := newTestHost(t, HostConfig{}, false)
	ps, err := NewGossipSub(ctx, evil, PubSubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	genesis := b.Chain().GenesisHash()
	txName, _ := TopicNames(genesis[:])
	topic, err := JoinTopic(ps, txName, TopicConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	if err := evil.Connect(ctx, peer.AddrInfo{ID: b.Host().ID(), Addrs: b.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the evil peer to see B on the tx topic", func() bool {
		return len(topic.ListPeers()) > 0
	})
	return evil, topic
}

// A peer that gossips a badly signed transaction (one that passes every
// cheaper check, so it is verified) has its message Rejected and is
// penalised: no honest node forwards a transaction it has not verified.
func TestTxGossipBadSignaturePenalised(t *testing.T) {
	b := testNode(t, "")
	mineN(t, b, 1) // b.wallet can pay, so only the signature is wrong
	evil, topic := evilTxPeer(t, b)

	tx := b.wallet.NewTx(b.Chain().GenesisHash(), chain.WalletFromSeed([32]byte{7}).Address(), 1, 0, 0)
	tx.Signature[40] ^= 1
	if err := topic.Publish(context.Background(), encodeTxAnnouncement(time.Now(), []*chain.Tx{tx})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "B to penalise the peer that sent a badly signed tx", func() bool {
		return b.Penalty(evil.ID()) > 0
	})
	// A medium offence each: the third bad announcement bans the peer.
	for i := range 2 {
		bad := *tx
		bad.Signature[41+i] ^= 1
		if err := topic.Publish(context.Background(), encodeTxAnnouncement(time.Now(), []*chain.Tx{&bad})); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.Metrics().TxsRejected.Load(); got < 1 {
		t.Fatalf("B counted %d rejected tx messages, want at least 1", got)
	}
	if b.Chain().Mempool().Has(tx.ID()) {
		t.Fatal("the badly signed tx is pending")
	}
	waitFor(t, 10*time.Second, "B to drop the evil peer", func() bool {
		return b.Host().Network().Connectedness(evil.ID()) != network.Connected
	})
}

// A peer flooding announcements (of transactions that cost nothing to
// refuse) is rate-limited: beyond its bucket its messages are dropped
// unread, and a flood that goes on is penalised. A normal peer's
// transactions still get through meanwhile.
func TestTxGossipFloodRateLimited(t *testing.T) {
	ctx := context.Background()
	b, c := testNode(t, ""), testNode(t, "")
	connectNodes(t, b, c)
	mineN(t, c, 1)
	waitFor(t, 20*time.Second, "B to have C's block", func() bool { return sameHead(b, c) })
	meshed(t, map[*Node]int{b: 1, c: 1})
	evil, topic := evilTxPeer(t, b)

	// Announcements of one tx each, from an unfunded sender: B refuses
	// them for a map lookup, so only the limit can stop the flood.
	genesis := b.Chain().GenesisHash()
	poor, to := chain.WalletFromSeed([32]byte{8}), chain.WalletFromSeed([32]byte{9}).Address()
	var flood [][]byte
	for i := range 1500 {
		flood = append(flood, encodeTxAnnouncement(time.Now(), []*chain.Tx{poor.NewTx(genesis, to, 1+uint64(i), 0, 0)}))
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, m := range flood {
			if topic.Publish(ctx, m) != nil {
				return
			}
			if i%20 == 19 {
				time.Sleep(10 * time.Millisecond) // ~2000/s: under pubsub's own queues
			}
		}
	}()

	// Meanwhile C's user sends a transaction: it reaches B.
	honest, err := c.Send(ctx, to, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "C's tx to reach B during the flood", func() bool {
		return b.Chain().Mempool().Has(honest.ID())
	})
	waitFor(t, 20*time.Second, "B to penalise the flooding peer", func() bool {
		return b.Penalty(evil.ID()) > 0
	})
	<-done // the penalty is light: the flood goes on to its end
	elapsed := time.Since(start)
	passed, dropped := b.txq.limit.counts(evil.ID())
	if limit := annInBurst + int(elapsed.Seconds()*annInRate) + 1; passed > limit {
		t.Fatalf("%d flood announcements validated in %v, limit %d", passed, elapsed, limit)
	}
	if dropped == 0 {
		t.Fatal("no flood announcement dropped")
	}
	t.Logf("flood: %d validated, %d dropped unread in %v", passed, dropped, elapsed)
	if p := b.Penalty(c.Host().ID()); p != 0 {
		t.Fatalf("honest C penalised %v", p)
	}
}

// Our own announcements (a rebroadcast of the whole pool every second,
// the worst that peer joins can cause, on top of our users' transactions)
// stay within the limit peers apply to us: announceLoop's pacing and
// budget against a peer's txLimiter, on a simulated clock.
func TestTxGossipOwnAnnouncementsUnderPeerLimit(t *testing.T) {
	now := time.Unix(1e9, 0)
	q := newTxQueue()
	q.out = fullBucket(txOutBurst, now)
	peerLimit := newTxLimiter(func() time.Time { return now })
	w := chain.WalletFromSeed([32]byte{1})
	to := chain.WalletFromSeed([32]byte{2}).Address()
	nonce := uint64(0)
	fresh := func(k int) []*chain.Tx {
		txs := make([]*chain.Tx, k)
		for i := range txs {
			txs[i] = &chain.Tx{Sender: w.Address(), Recipient: to, Amount: 1, Nonce: nonce}
			nonce++
		}
		return txs
	}
	keep := func(*chain.Tx) bool { return true }
	sent, anns := 0, 0
	end := now.Add(30 * time.Second)
	nextJoin := now
	for ; now.Before(end); now = now.Add(annOutEvery) {
		if !now.Before(nextJoin) {
			q.push(fresh(maxTxsPerAnnouncement)...) // a join's rebroadcast
			nextJoin = nextJoin.Add(time.Second)
		}
		q.push(fresh(300)...) // users: 3000 tx/s
		txs := q.take(now, keep)
		if len(txs) == 0 {
			continue
		}
		if ok, _ := peerLimit.allow("us", len(txs)); !ok {
			t.Fatalf("after %d announcements (%d txs): one of %d txs over the peer's limit", anns, sent, len(txs))
		}
		sent += len(txs)
		anns++
	}
	if rate := float64(sent) / 30; rate < txOutRate*0.9 {
		t.Fatalf("sent %.0f tx/s, budget %d", rate, txOutRate)
	}
}

// The limiter's buckets refill, its map stays bounded, and a peer that
// keeps flooding is reported once its strikes pass the limit.
func TestTxLimiter(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newTxLimiter(func() time.Time { return now })
	for i := range annInBurst {
		if ok, _ := l.allow("a", 1); !ok {
			t.Fatalf("announcement %d of a burst refused", i)
		}
	}
	if ok, _ := l.allow("a", 1); ok {
		t.Fatal("announcement over the burst allowed")
	}
	if ok, _ := l.allow("b", 1); !ok {
		t.Fatal("another peer limited by a's flood")
	}
	if ok, _ := l.allow("b", txInBurst); ok {
		t.Fatal("an announcement over the tx burst allowed")
	}
	now = now.Add(time.Second)
	if ok, _ := l.allow("a", 1); !ok {
		t.Fatal("bucket not refilled after a second")
	}
	abused := false
	for range strikeLimit + annInRate + 2 {
		if _, abuse := l.allow("a", 1); abuse {
			abused = true
		}
	}
	if !abused {
		t.Fatal("persistent flood not reported")
	}
	for i := range 3 * maxLimitedPeers {
		now = now.Add(time.Millisecond)
		l.allow(peer.ID(fmt.Sprint(i)), 1)
	}
	if n := l.len(); n > maxLimitedPeers {
		t.Fatalf("%d peers tracked, bound %d", n, maxLimitedPeers)
	}
}
