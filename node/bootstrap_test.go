package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return nil
}

// TestBootstrapperReconnects starts A with B as its bootstrap peer before B
// exists, then starts B: A must connect by itself. Then B is stopped and
// restarted with the same key and port: A must reconnect by itself. B never
// learns A's address, so every connection is A's doing.
func TestBootstrapperReconnects(t *testing.T) {
	keyB, err := LoadOrCreateIdentity(filepath.Join(t.TempDir(), "b.key"))
	if err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t)
	addrB := "/ip4/127.0.0.1/tcp/" + strconv.Itoa(port)
	startB := func() host.Host {
		t.Helper()
		h, err := NewHost(HostConfig{ListenAddrs: []string{addrB}, Identity: keyB})
		if err != nil {
			t.Fatalf("start B: %v", err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return h
	}
	idB, err := peer.IDFromPrivateKey(keyB)
	if err != nil {
		t.Fatal(err)
	}
	bootB, err := ParsePeerAddr(addrB + "/p2p/" + idB.String())
	if err != nil {
		t.Fatal(err)
	}

	a := newTestHost(t, HostConfig{}, false)
	bs := NewBootstrapper(a, []peer.AddrInfo{bootB}, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := bs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	if !a.ConnManager().IsProtected(idB, bootstrapProtectTag) {
		t.Error("bootstrap peer is not protected in the connection manager")
	}

	// Let A fail a dial first, so the swarm's dial backoff is in play.
	sw := a.Network().(*swarm.Swarm)
	waitFor(t, 10*time.Second, "a failed dial to B", func() bool {
		return sw.Backoff().Backoff(idB, bootB.Addrs[0])
	})

	b1 := startB()
	waitFor(t, 20*time.Second, "A to connect to B", func() bool { return connected(b1, a) })

	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "A to notice B is gone", func() bool { return !connected(a, b1) })

	b2 := startB()
	waitFor(t, 30*time.Second, "A to reconnect to restarted B", func() bool { return connected(b2, a) })

	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	if a.ConnManager().IsProtected(idB, bootstrapProtectTag) {
		t.Error("bootstrap peer still protected after Close")
	}
}

func TestNewBootstrapperMergesAndSkipsSelf(t *testing.T) {
	h := newTestHost(t, HostConfig{}, false)
	other := newTestHost(t, HostConfig{}, false)
	a1 := ma.StringCast("/ip4/10.0.0.1/tcp/4001")
	a2 := ma.StringCast("/dns4/node1/tcp/4001")
	bs := NewBootstrapper(h, []peer.AddrInfo{
		{ID: h.ID(), Addrs: []ma.Multiaddr{a1}}, // self: skipped
		{ID: other.ID(), Addrs: []ma.Multiaddr{a1}},
		{ID: other.ID(), Addrs: []ma.Multiaddr{a2, a1}},
	}, nil)
	got := bs.Peers()
	if len(got) != 1 || got[0].ID != other.ID() || len(got[0].Addrs) != 2 ||
		!got[0].Addrs[0].Equal(a1) || !got[0].Addrs[1].Equal(a2) {
		t.Fatalf("Peers() = %v", got)
	}
	// Close before Start, twice: no-ops.
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bs.Start(context.Background()); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{bootstrapMinBackoff, time.Second, bootstrapMaxBackoff} {
		for range 100 {
			j := jitter(d)
			if j < d*3/4 || j > d*5/4 {
				t.Fatalf("jitter(%v) = %v, outside [0.75, 1.25]×", d, j)
			}
		}
	}
}
