package node

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// graftTracer records which peers this node has grafted into its mesh.
type graftTracer struct {
	mu     sync.Mutex
	grafts map[string]map[peer.ID]bool // topic → peer
}

func (g *graftTracer) Trace(evt *pb.TraceEvent) {
	if evt.GetType() != pb.TraceEvent_GRAFT {
		return
	}
	gr := evt.GetGraft()
	id, err := peer.IDFromBytes(gr.GetPeerID())
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.grafts == nil {
		g.grafts = make(map[string]map[peer.ID]bool)
	}
	if g.grafts[gr.GetTopic()] == nil {
		g.grafts[gr.GetTopic()] = make(map[peer.ID]bool)
	}
	g.grafts[gr.GetTopic()][id] = true
}

func (g *graftTracer) grafted(topic string, p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.grafts[topic][p]
}

type gossipNode struct {
	h      host.Host
	ps     *pubsub.PubSub
	scores *ScoreBook
	tracer *graftTracer
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
}

func newGossipNode(t *testing.T, ctx context.Context) *gossipNode {
	t.Helper()
	n := &gossipNode{h: newTestHost(t, HostConfig{}, false), scores: &ScoreBook{}, tracer: &graftTracer{}}
	ps, err := NewGossipSub(ctx, n.h, PubSubConfig{
		MaxMessageSize:     1 << 20,
		ScoreBook:          n.scores,
		ScoreInspectPeriod: 100 * time.Millisecond,
		Options:            []pubsub.Option{pubsub.WithEventTracer(n.tracer)},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.ps = ps
	return n
}

func (n *gossipNode) join(t *testing.T, name string, v pubsub.ValidatorEx) {
	t.Helper()
	topic, err := JoinTopic(n.ps, name, TopicConfig{Validator: v, ValidatorConcurrency: 4, ValidatorTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	n.topic, n.sub = topic, sub
}

func accept(context.Context, peer.ID, *pubsub.Message) pubsub.ValidationResult {
	return pubsub.ValidationAccept
}

// rejectBad rejects messages whose data starts with "bad".
func rejectBad(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if bytes.HasPrefix(m.Data, []byte("bad")) {
		return pubsub.ValidationReject
	}
	return pubsub.ValidationAccept
}

func nextData(t *testing.T, sub *pubsub.Subscription, timeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("no message on %s: %v", sub.Topic(), err)
	}
	return string(m.Data)
}

// TestGossipLineValidation: A - B - C in a line (A and C not connected).
// A message accepted everywhere travels A→B→C; one that B's validator
// Rejects stops at B, and B's score for A drops below zero.
func TestGossipLineValidation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b, c := newGossipNode(t, ctx), newGossipNode(t, ctx), newGossipNode(t, ctx)
	connect := func(x, y *gossipNode) {
		t.Helper()
		if err := x.h.Connect(ctx, peer.AddrInfo{ID: y.h.ID(), Addrs: y.h.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	connect(a, b)
	connect(b, c)

	txTopic, _ := TopicNames(bytes.Repeat([]byte{0xab}, 32))
	a.join(t, txTopic, accept)
	b.join(t, txTopic, rejectBad)
	c.join(t, txTopic, accept)

	// A publishes to B once it knows B's subscription (flood publish); B
	// forwards to C once C is in B's mesh (formed on the heartbeat).
	waitFor(t, 10*time.Second, "A to see B on the topic", func() bool {
		for _, p := range a.topic.ListPeers() {
			if p == b.h.ID() {
				return true
			}
		}
		return false
	})
	waitFor(t, 10*time.Second, "B to graft C", func() bool { return b.tracer.grafted(txTopic, c.h.ID()) })

	if err := a.topic.Publish(ctx, []byte("good-1")); err != nil {
		t.Fatal(err)
	}
	if got := nextData(t, c.sub, 10*time.Second); got != "good-1" {
		t.Fatalf("C received %q, want good-1", got)
	}
	if a.h.Network().Connectedness(c.h.ID()) == network.Connected {
		t.Fatal("A and C are directly connected; the test needs a line")
	}

	if err := a.topic.Publish(ctx, []byte("bad-1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "B's score for A to drop below zero", func() bool {
		return b.scores.Score(a.h.ID()) < 0
	})
	t.Logf("B's score for A after one invalid message: %.2f", b.scores.Score(a.h.ID()))
	if s := b.scores.Score(a.h.ID()); s <= PeerScoreThresholds().GraylistThreshold {
		t.Fatalf("one invalid message graylisted A (score %.2f)", s)
	}

	// B rejected bad-1 before good-2 was published, and C's only path is
	// through B: if bad-1 had been forwarded C would see it first.
	if err := a.topic.Publish(ctx, []byte("good-2")); err != nil {
		t.Fatal(err)
	}
	if got := nextData(t, c.sub, 10*time.Second); got != "good-2" {
		t.Fatalf("C received %q, want good-2 (the rejected message leaked)", got)
	}
}

// TestGossipContentMessageID: the same data published twice is one message.
func TestGossipContentMessageID(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := newGossipNode(t, ctx), newGossipNode(t, ctx)
	if err := a.h.Connect(ctx, peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	const name = "/gossipchain/test/dedup/1"
	a.join(t, name, nil)
	b.join(t, name, nil)
	waitFor(t, 10*time.Second, "A to see B on the topic", func() bool { return len(a.topic.ListPeers()) == 1 })
	for _, d := range []string{"same", "same", "other"} {
		// Publishing a duplicate fails locally or is dropped; either way B
		// must see it once.
		_ = a.topic.Publish(ctx, []byte(d))
	}
	// Validation runs concurrently, so the two may arrive in either order.
	got := map[string]int{}
	for range 2 {
		got[nextData(t, b.sub, 10*time.Second)]++
	}
	if got["same"] != 1 || got["other"] != 1 {
		t.Fatalf("B received %v, want same and other once each", got)
	}
	// The id is the data's hash alone: the same bytes from another sender
	// with another sequence number are the same message.
	m1 := &pb.Message{Data: []byte("same"), From: []byte(a.h.ID()), Seqno: []byte{1}}
	m2 := &pb.Message{Data: []byte("same"), From: []byte(b.h.ID()), Seqno: []byte{2}}
	if contentMessageID(m1) != contentMessageID(m2) {
		t.Fatal("message id depends on more than the data")
	}
}

func TestTopicScoreParamsValid(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := newGossipNode(t, ctx)
	tp := TopicScoreParams()
	if tp.InvalidMessageDeliveriesWeight >= 0 {
		t.Fatal("invalid messages must cost score")
	}
	// JoinTopic validates the params through SetScoreParams.
	if _, err := JoinTopic(n.ps, "/gossipchain/test/params/1", TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	// Bad params are refused and the topic is left, so it can be joined again.
	bad := TopicScoreParams()
	bad.InvalidMessageDeliveriesWeight = 1
	if _, err := JoinTopic(n.ps, "/gossipchain/test/bad/1", TopicConfig{Validator: accept, ScoreParams: bad}); err == nil {
		t.Fatal("JoinTopic accepted a positive InvalidMessageDeliveriesWeight")
	}
	if _, err := JoinTopic(n.ps, "/gossipchain/test/bad/1", TopicConfig{Validator: accept}); err != nil {
		t.Fatalf("rejoin after failed JoinTopic: %v", err)
	}
}

func TestTopicNamesAndServiceName(t *testing.T) {
	g1 := bytes.Repeat([]byte{0x01}, 32)
	g2 := bytes.Repeat([]byte{0x02}, 32)
	tx1, blk1 := TopicNames(g1)
	tx2, _ := TopicNames(g2)
	if tx1 != "/gossipchain/0101010101010101/tx/1" || blk1 != "/gossipchain/0101010101010101/blocks/1" {
		t.Fatalf("TopicNames = %q, %q", tx1, blk1)
	}
	if tx1 == tx2 {
		t.Fatal("different genesis hashes share a topic")
	}
	s1, s2 := MDNSServiceName(g1), MDNSServiceName(g2)
	if s1 == s2 || !strings.HasPrefix(s1, "gossipchain-") || len(s1) != len("gossipchain-")+16 {
		t.Fatalf("MDNSServiceName = %q, %q", s1, s2)
	}
	if got := MDNSServiceName([]byte{0xff}); got != "gossipchain-ff" {
		t.Fatalf("short hash: %q", got)
	}
}
