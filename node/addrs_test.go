package node

import (
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestFullAddrs(t *testing.T) {
	h := newTestHost(t, HostConfig{}, true)
	full := FullAddrs(h)
	if len(full) == 0 {
		t.Fatal("no addresses")
	}
	for _, s := range full {
		if !strings.HasSuffix(s, "/p2p/"+h.ID().String()) {
			t.Errorf("%q lacks /p2p/<id>", s)
		}
		pi, err := ParsePeerAddr(s)
		if err != nil {
			t.Errorf("ParsePeerAddr(%q): %v", s, err)
			continue
		}
		if pi.ID != h.ID() {
			t.Errorf("ParsePeerAddr(%q).ID = %s, want %s", s, pi.ID, h.ID())
		}
	}
}

func TestSortAddrsNonLoopbackFirst(t *testing.T) {
	in := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/4001"),
		ma.StringCast("/ip6/::1/tcp/4001"),
		ma.StringCast("/ip4/192.168.1.5/udp/4001/quic-v1"),
		ma.StringCast("/ip4/10.0.0.2/tcp/4001"),
	}
	got := sortAddrs(in)
	want := []string{
		"/ip4/10.0.0.2/tcp/4001",
		"/ip4/192.168.1.5/udp/4001/quic-v1",
		"/ip4/127.0.0.1/tcp/4001",
		"/ip6/::1/tcp/4001",
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("sortAddrs = %v, want %v", got, want)
		}
	}
	if in[0].String() != "/ip4/127.0.0.1/tcp/4001" {
		t.Fatal("sortAddrs modified its input")
	}
}

func TestParsePeerAddr(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p2p := "/p2p/" + id.String()

	tests := []struct {
		in       string
		wantErr  error
		wantAddr string
	}{
		{in: "/ip4/10.0.0.2/tcp/4001" + p2p, wantAddr: "/ip4/10.0.0.2/tcp/4001"},
		{in: "  /ip4/10.0.0.2/udp/4001/quic-v1" + p2p + "\n", wantAddr: "/ip4/10.0.0.2/udp/4001/quic-v1"},
		{in: "/ip6/::1/tcp/4001" + p2p, wantAddr: "/ip6/::1/tcp/4001"},
		{in: "/dns4/node1/tcp/4001" + p2p, wantAddr: "/dns4/node1/tcp/4001"},
		{in: "/dns6/node1.example/tcp/4001" + p2p, wantAddr: "/dns6/node1.example/tcp/4001"},
		{in: "/dns/node1/udp/4001/quic-v1" + p2p, wantAddr: "/dns/node1/udp/4001/quic-v1"},
		{in: "/ip4/10.0.0.2/tcp/4001", wantErr: ErrNoPeerID},
		{in: "/dns4/node1/tcp/4001", wantErr: ErrNoPeerID},
		{in: "", wantErr: ErrBadMultiaddr},
		{in: "garbage", wantErr: ErrBadMultiaddr},
		{in: "/ip4/999.0.0.1/tcp/4001" + p2p, wantErr: ErrBadMultiaddr},
		{in: "/ip4/10.0.0.2/tcp/4001/p2p/notapeerid", wantErr: ErrBadMultiaddr},
		{in: p2p, wantErr: ErrBadMultiaddr},
		{in: "/ip4/10.0.0.2" + p2p, wantErr: ErrBadMultiaddr},
		{in: "/unix/tmp/sock" + p2p, wantErr: ErrBadMultiaddr},
		{in: "/ip4/10.0.0.2/tcp/4001" + p2p + "/p2p-circuit" + p2p, wantErr: ErrBadMultiaddr},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			pi, err := ParsePeerAddr(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if pi.ID != id {
				t.Fatalf("ID = %s, want %s", pi.ID, id)
			}
			if len(pi.Addrs) != 1 || pi.Addrs[0].String() != tc.wantAddr {
				t.Fatalf("Addrs = %v, want [%s]", pi.Addrs, tc.wantAddr)
			}
		})
	}
}
