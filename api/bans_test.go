package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/node"
	"github.com/libp2p/go-libp2p/core/peer"
)

type bannedReply struct {
	Banned []struct {
		Peer   string    `json:"peer"`
		Until  time.Time `json:"until"`
		Reason string    `json:"reason"`
	} `json:"banned"`
	Total int `json:"total"`
}

type unbanReply struct {
	Message  string   `json:"message"`
	Unbanned []string `json:"unbanned"`
}

func bannedPeer(t *testing.T, seed string) peer.ID {
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

// TestBansEndpoints: GET /peers/banned lists bans with their end and
// reason; POST /peers/unban lifts one or all, and refuses a bad peer id,
// a peer that is not banned and a body naming neither or both.
func TestBansEndpoints(t *testing.T) {
	tn := newTestNode(t)
	empty := mustJSON[bannedReply](t, 200, "GET", tn.url+"/peers/banned", nil)
	if empty.Total != 0 || empty.Banned == nil {
		t.Fatalf("no bans: %+v", empty)
	}

	a, b := bannedPeer(t, "a"), bannedPeer(t, "b")
	tn.n.Penalize(a, node.SeveritySevere, "sent an invalid block")
	tn.n.Penalize(b, node.SeveritySevere, "garbage on the sync protocol")
	got := mustJSON[bannedReply](t, 200, "GET", tn.url+"/peers/banned", nil)
	if got.Total != 2 || len(got.Banned) != 2 {
		t.Fatalf("two bans: %+v", got)
	}
	for _, ban := range got.Banned {
		want := map[string]string{a.String(): "sent an invalid block", b.String(): "garbage on the sync protocol"}[ban.Peer]
		if ban.Reason != want || time.Until(ban.Until) < 23*time.Hour {
			t.Fatalf("ban %+v", ban)
		}
	}

	code, data := call(t, "POST", tn.url+"/peers/unban", map[string]any{"peer": "not-a-peer-id"})
	wantError(t, code, data, http.StatusBadRequest, `bad peer id "not-a-peer-id"`)
	code, data = call(t, "POST", tn.url+"/peers/unban", map[string]any{})
	wantError(t, code, data, http.StatusBadRequest, `missing "peer"`)
	code, data = call(t, "POST", tn.url+"/peers/unban", map[string]any{"peer": a.String(), "all": true})
	wantError(t, code, data, http.StatusBadRequest, "not both")
	code, data = call(t, "POST", tn.url+"/peers/unban", "{")
	wantError(t, code, data, http.StatusBadRequest, "bad JSON")

	r := mustJSON[unbanReply](t, 200, "POST", tn.url+"/peers/unban", map[string]any{"peer": a.String()})
	if len(r.Unbanned) != 1 || r.Unbanned[0] != a.String() || tn.n.IsBanned(a) {
		t.Fatalf("unban a: %+v", r)
	}
	code, data = call(t, "POST", tn.url+"/peers/unban", map[string]any{"peer": a.String()})
	wantError(t, code, data, http.StatusNotFound, "is not banned")

	r = mustJSON[unbanReply](t, 200, "POST", tn.url+"/peers/unban", map[string]any{"all": true})
	if len(r.Unbanned) != 1 || r.Unbanned[0] != b.String() {
		t.Fatalf("unban all: %+v", r)
	}
	if got := mustJSON[bannedReply](t, 200, "GET", tn.url+"/peers/banned", nil); got.Total != 0 {
		t.Fatalf("after unban all: %+v", got)
	}
	code, data = call(t, "GET", tn.url+"/peers/unban", nil)
	wantError(t, code, data, http.StatusMethodNotAllowed, "")
}
