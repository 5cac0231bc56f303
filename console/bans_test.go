package console

import (
	"testing"

	"github.com/gossipchain/gossipchain/node"
	"github.com/libp2p/go-libp2p/core/peer"
)

func testPeer(t *testing.T, seed string) peer.ID {
	t.Helper()
	key, err := node.IdentityFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBansAndUnban: bans lists a banned peer with its reason; unban lifts
// it, refuses a bad peer ID and a peer that is not banned; unban all lifts
// the rest.
func TestBansAndUnban(t *testing.T) {
	n := newNode(t)
	a, b := testPeer(t, "a"), testPeer(t, "b")
	n.Penalize(a, node.SeveritySevere, "sent an invalid block")
	n.Penalize(b, node.SeveritySevere, "garbage on the sync protocol")
	out := runScript(t, n, "bans\nunban "+a.String()+"\nunban "+a.String()+"\nunban nonsense\nbans\nunban all\nbans\n")
	inOrder(t, out,
		"2 banned peers:", "sent an invalid block",
		"unbanned "+a.String(),
		a.String()+" is not banned",
		`"nonsense" is not a peer ID`, "usage: unban PEER-ID | all",
		"1 banned peer:", b.String(), "garbage on the sync protocol",
		"unbanned 1 peer",
		"no banned peers",
	)
	if n.IsBanned(a) || n.IsBanned(b) {
		t.Fatal("still banned after unban")
	}
}
