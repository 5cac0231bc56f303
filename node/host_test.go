package node

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newTestHost starts a host on loopback (TCP, plus QUIC if quic is true),
// closed at the end of the test.
func newTestHost(t testing.TB, cfg HostConfig, quic bool) host.Host {
	t.Helper()
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		if quic {
			cfg.ListenAddrs = append(cfg.ListenAddrs, "/ip4/127.0.0.1/udp/0/quic-v1")
		}
	}
	h, err := NewHost(cfg)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func connected(a, b host.Host) bool {
	return a.Network().Connectedness(b.ID()) == network.Connected
}

// TestHostsConnectOverEachTransport dials a host through each of its full
// addresses (TCP and QUIC), parsed back with ParsePeerAddr.
func TestHostsConnectOverEachTransport(t *testing.T) {
	a := newTestHost(t, HostConfig{}, true)
	full := FullAddrs(a)
	if len(full) != 2 {
		t.Fatalf("FullAddrs = %v, want a TCP and a QUIC address", full)
	}
	for _, s := range full {
		transport := "tcp"
		if strings.Contains(s, "/quic-v1") {
			transport = "quic-v1"
		}
		t.Run(transport, func(t *testing.T) {
			pi, err := ParsePeerAddr(s)
			if err != nil {
				t.Fatalf("ParsePeerAddr(%q): %v", s, err)
			}
			b := newTestHost(t, HostConfig{}, true)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := b.Connect(ctx, pi); err != nil {
				t.Fatalf("connect via %s: %v", s, err)
			}
			if !connected(a, b) || !connected(b, a) {
				t.Fatal("hosts not connected both ways")
			}
			conns := b.Network().ConnsToPeer(a.ID())
			if len(conns) == 0 {
				t.Fatal("no connection")
			}
			if _, err := conns[0].RemoteMultiaddr().ValueForProtocol(ma.ProtocolWithName(transport).Code); err != nil {
				t.Fatalf("connection %v does not use %s", conns[0].RemoteMultiaddr(), transport)
			}
		})
	}
}

func TestNewHostKeepsIdentity(t *testing.T) {
	key, err := LoadOrCreateIdentity(t.TempDir() + "/id.key")
	if err != nil {
		t.Fatal(err)
	}
	h := newTestHost(t, HostConfig{Identity: key}, false)
	if !h.ID().MatchesPrivateKey(key) {
		t.Fatalf("host ID %s does not match the identity key", h.ID())
	}
}

func TestNewHostErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyAddr := "/ip4/127.0.0.1/tcp/" + strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	tests := []struct {
		name    string
		cfg     HostConfig
		wantSub string
	}{
		{"garbage listen addr", HostConfig{ListenAddrs: []string{"not-a-multiaddr"}}, `"not-a-multiaddr"`},
		{"unknown protocol", HostConfig{ListenAddrs: []string{"/ip4/127.0.0.1/tcpx/1"}}, `"/ip4/127.0.0.1/tcpx/1"`},
		{"no transport for addr", HostConfig{ListenAddrs: []string{"/ip4/127.0.0.1/udp/0"}}, "start libp2p host"},
		{"port in use", HostConfig{ListenAddrs: []string{busyAddr}}, "start libp2p host"},
		{"low above high", HostConfig{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, ConnLow: 10, ConnHigh: 5}, "watermark"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHost(tc.cfg)
			if err == nil {
				_ = h.Close()
				t.Fatal("NewHost succeeded, want error")
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("error %q does not mention %q", err, tc.wantSub)
			}
		})
	}
}
