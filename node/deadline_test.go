package node

import (
	"bufio"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
)

// silentPeer is a plain host that accepts sync streams, reads the request
// and never answers (until the test ends). It is connected to n.
func silentPeer(t *testing.T, n *Node) host.Host {
	t.Helper()
	h := newTestHost(t, HostConfig{}, false)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) }) // runs before the host's Close
	h.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Reset()
		if _, err := readFrame(bufio.NewReader(s), maxRequestBytes); err != nil {
			return
		}
		<-done
	})
	info, err := ParsePeerAddr(n.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(context.Background(), info); err != nil {
		t.Fatal(err)
	}
	return h
}

// builtBlocks returns a valid chain of k blocks on the test network's
// genesis, built outside any node, so a test can hand them to one node
// without gossip telling the others.
func builtBlocks(t *testing.T, k int) []*chain.Block {
	t.Helper()
	dir := t.TempDir()
	p := chain.TestParams()
	buildChain(t, dir, p, k, 0)
	c, err := chain.Open(filepath.Join(dir, "chain.db"), chain.Options{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []*chain.Block
	for i := 1; i <= k; i++ {
		b, err := c.BlockByIndex(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// within runs f and fails the test if it has not returned after limit.
func within(t *testing.T, limit time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		t.Logf("%s returned after %v", what, time.Since(start).Round(time.Millisecond))
	case <-time.After(limit):
		t.Fatalf("%s still running after %v", what, limit)
	}
}

// TestRequestStatusHonoursContext: a peer that never answers costs a
// status request the caller's deadline, not the 60 s stream deadline.
func TestRequestStatusHonoursContext(t *testing.T) {
	a := testNode(t, "")
	s := silentPeer(t, a)
	var err error
	within(t, 3*time.Second, "RequestStatus with a 1 s deadline", func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = a.RequestStatus(ctx, s.ID())
	})
	if err == nil {
		t.Fatal("RequestStatus of a silent peer succeeded")
	}
	t.Log(err)
}

// TestPollNotStalledBySilentPeer: with one silent peer and one good peer
// that got ahead without gossip, the status poll still syncs from the good
// one within a few poll intervals.
func TestPollNotStalledBySilentPeer(t *testing.T) {
	blocks := builtBlocks(t, 3)
	fast := func(c *Config) { c.StatusInterval = 200 * time.Millisecond }
	a, b := testNode(t, "", fast), testNode(t, "")
	silentPeer(t, a)
	connectNodes(t, a, b)
	waitFor(t, 10*time.Second, "A to know B's status", func() bool {
		a.peersMu.Lock()
		defer a.peersMu.Unlock()
		st := a.peers[b.ID()]
		return st != nil && st.status != nil
	})
	// B gets ahead behind gossip's back: only a status poll can tell A.
	if _, _, err := b.Chain().AddBlocks(blocks); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "A to sync B's blocks through the poll", func() bool { return sameHead(a, b) })
}

// TestResolveWithSilentPeer: Resolve with a short deadline returns in time
// with a silent peer connected, and still adopts the good peer's chain.
func TestResolveWithSilentPeer(t *testing.T) {
	blocks := builtBlocks(t, 3)
	a, b := testNode(t, "", func(c *Config) { c.NoAutoSync = true }), testNode(t, "")
	silentPeer(t, a)
	connectNodes(t, a, b)
	if _, _, err := b.Chain().AddBlocks(blocks); err != nil {
		t.Fatal(err)
	}
	var changed bool
	var err error
	within(t, 4*time.Second, "Resolve with a 2 s deadline", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		changed, err = a.Resolve(ctx)
	})
	if !changed || !sameHead(a, b) {
		t.Fatalf("Resolve: changed=%v err=%v, want B's chain adopted", changed, err)
	}
	t.Log(err)
}
