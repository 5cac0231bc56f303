package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBannedPeerRefusedUntilUnban: a peer penalised for a severe offence is
// dropped, and its redial is refused at connection time (as is ours to it)
// until the ban is lifted.
func TestBannedPeerRefusedUntilUnban(t *testing.T) {
	ctx := context.Background()
	a := testNode(t, "")
	evil := newTestHost(t, HostConfig{}, false)
	info, err := ParsePeerAddr(a.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := evil.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "A to see the peer", func() bool {
		return a.Host().Network().Connectedness(evil.ID()) == network.Connected
	})

	a.penalize(evil.ID(), errors.New("sent an invalid block"))
	waitFor(t, 10*time.Second, "A to drop the peer", func() bool {
		return a.Host().Network().Connectedness(evil.ID()) != network.Connected &&
			evil.Network().Connectedness(a.ID()) != network.Connected
	})
	// The redial: the dialer may finish its handshake before A refuses
	// the secured connection, so what counts is that the connection does
	// not last and A never takes it as a peer.
	events, stop := a.Subscribe()
	defer stop()
	clearDialBackoff(evil, a.ID())
	err = evil.Connect(ctx, info)
	t.Logf("redial: %v", err)
	waitFor(t, 5*time.Second, "the banned peer's redial to be refused", func() bool {
		return evil.Network().Connectedness(a.ID()) != network.Connected
	})
	if a.Host().Network().Connectedness(evil.ID()) == network.Connected {
		t.Fatal("A is connected to the banned peer")
	}
	if _, err := evil.NewStream(ctx, a.ID(), SyncProtocol); err == nil {
		t.Fatal("the banned peer opened a stream")
	}
	for len(events) > 0 {
		if e := <-events; e.Kind == EventPeerConnected && e.Peer == evil.ID() {
			t.Fatal("A took the banned peer's redial as a connection")
		}
	}
	evilAddr := FullAddrs(evil)[0]
	if _, err := a.Connect(ctx, evilAddr); err == nil {
		t.Fatal("A dialled a banned peer")
	}
	if bans := a.Banned(); len(bans) != 1 || bans[0].Peer != evil.ID().String() || bans[0].Reason != "sent an invalid block" ||
		bans[0].Until.Sub(time.Now()) < 23*time.Hour {
		t.Fatalf("Banned() = %+v", bans)
	}

	if was, err := a.Unban(evil.ID()); !was || err != nil {
		t.Fatalf("Unban = %v, %v", was, err)
	}
	clearDialBackoff(evil, a.ID())
	if err := evil.Connect(ctx, info); err != nil {
		t.Fatalf("redial after unban: %v", err)
	}
	waitFor(t, 5*time.Second, "A to accept the unbanned peer", func() bool {
		return a.Host().Network().Connectedness(evil.ID()) == network.Connected
	})
	if a.Penalty(evil.ID()) != 0 || len(a.Banned()) != 0 {
		t.Fatalf("after unban: penalty %v, bans %+v", a.Penalty(evil.ID()), a.Banned())
	}
}

// TestBansSurviveRestart: a ban is in force after the node is closed and
// reopened on the same data directory; an expired one is dropped.
func TestBansSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	a := testNode(t, dir)
	bad, other := testPeerID(t, 1), testPeerID(t, 2)
	if !a.Penalize(bad, SeveritySevere, "invalid block") {
		t.Fatal("a severe offence did not ban")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, BanFile))
	if err != nil || !strings.Contains(string(data), bad.String()) {
		t.Fatalf("%s: %s %v", BanFile, data, err)
	}

	a = testNode(t, dir)
	if !a.IsBanned(bad) || a.IsBanned(other) {
		t.Fatalf("after restart: banned(bad)=%v banned(other)=%v", a.IsBanned(bad), a.IsBanned(other))
	}
	if bans := a.Banned(); len(bans) != 1 || bans[0].Reason != "invalid block" {
		t.Fatalf("after restart: %+v", bans)
	}
	if ps, err := a.UnbanAll(); len(ps) != 1 || ps[0] != bad || err != nil {
		t.Fatalf("UnbanAll = %v, %v", ps, err)
	}
	a.Close()
	a = testNode(t, dir)
	if a.IsBanned(bad) {
		t.Fatal("the lifted ban came back after a restart")
	}
}

// TestPenaltiesBounded: 10,000 distinct peers penalised lightly leave at
// most maxPenalised entries, in the ban list and in the node's peer table.
func TestPenaltiesBounded(t *testing.T) {
	a := testNode(t, "")
	for i := range 10000 {
		if a.Penalize(peer.ID(fmt.Sprintf("light-%d", i)), SeverityLight, "spam") {
			t.Fatalf("peer %d banned for one light offence", i)
		}
	}
	a.bans.mu.Lock()
	points := len(a.bans.points)
	a.bans.mu.Unlock()
	a.peersMu.Lock()
	peers := len(a.peers)
	a.peersMu.Unlock()
	if points > maxPenalised || peers > maxPenalised {
		t.Fatalf("after 10,000 penalised peers: %d penalty entries, %d peer entries; cap %d", points, peers, maxPenalised)
	}
	// The most recent are the ones remembered.
	if a.Penalty(peer.ID("light-9999")) == 0 {
		t.Fatal("the latest penalty was evicted")
	}
}

// testPeerID is a valid peer ID from a test host's key.
func testPeerID(t *testing.T, seed int) peer.ID {
	t.Helper()
	key, err := IdentityFromSeed(fmt.Sprint("ban-test-", seed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBanListPointsAndExpiry: light offences accumulate and decay; a ban
// ends after its duration; the count of bans is bounded; a saved list
// reloads without the expired ones.
func TestBanListPointsAndExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	path := filepath.Join(t.TempDir(), BanFile)
	b := newBanList(path, time.Hour, nil)
	b.now = func() time.Time { return now }
	p := testPeerID(t, 3)

	for i := range 9 {
		if banned, _ := b.add(p, SeverityLight, "spam"); banned {
			t.Fatalf("banned after %d light offences", i+1)
		}
	}
	now = now.Add(2 * PenaltyHalfLife) // 90 points decay to 22.5
	if banned, pts := b.add(p, SeverityLight, "spam"); banned || pts > 33 {
		t.Fatalf("after decay: banned=%v points=%v", banned, pts)
	}
	for range 3 {
		b.add(p, SeverityMedium, "low-work block")
	}
	if !b.banned(p) {
		t.Fatal("not banned after three medium offences")
	}
	now = now.Add(time.Hour)
	if b.banned(p) {
		t.Fatal("ban outlived its duration")
	}

	// Bounded bans: the one ending soonest goes first.
	b.maxBans = 3
	for i := range 5 {
		b.add(testPeerID(t, 10+i), SeveritySevere, "invalid block")
		now = now.Add(time.Minute)
	}
	if got := len(b.list()); got != 3 {
		t.Fatalf("%d bans, cap 3", got)
	}
	if b.banned(testPeerID(t, 10)) || !b.banned(testPeerID(t, 14)) {
		t.Fatal("evicted the wrong ban")
	}
	if err := b.save(); err != nil {
		t.Fatal(err)
	}

	// Reloaded when only the last ban is still in force, only it remains.
	now = now.Add(58*time.Minute + 30*time.Second)
	c := newBanList(path, time.Hour, nil)
	c.now = func() time.Time { return now }
	if err := c.load(); err != nil {
		t.Fatal(err)
	}
	if got := c.list(); len(got) != 1 || got[0].Peer != testPeerID(t, 14).String() {
		t.Fatalf("reloaded: %+v", got)
	}
}
