package api

import (
	"net/http"
	"strings"

	"github.com/gossipchain/gossipchain/node"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The ban list:
//
//	GET /peers/banned         200 {"banned":[{"peer","until","reason"}],"total":N}, soonest to end first
//	POST /peers/unban         {"peer":"<peer id>"} or {"all":true}
//	                          200 {"message","unbanned":[peer ids]}; 400 for a bad peer id or
//	                          neither/both fields; 404 if the peer is not banned

type bannedResponse struct {
	Banned []node.BanInfo `json:"banned"`
	Total  int            `json:"total"`
}

func (s *server) handleBanned(w http.ResponseWriter, r *http.Request) {
	bans := s.n.Banned()
	writeJSON(w, http.StatusOK, bannedResponse{Banned: bans, Total: len(bans)})
}

type unbanRequest struct {
	Peer string `json:"peer"`
	All  bool   `json:"all"`
}

type unbanResponse struct {
	Message  string   `json:"message"`
	Unbanned []string `json:"unbanned"`
}

func (s *server) handleUnban(w http.ResponseWriter, r *http.Request) {
	var req unbanRequest
	if code, err := decodeBody(r, &req); err != nil {
		writeError(w, code, "%v", err)
		return
	}
	req.Peer = strings.TrimSpace(req.Peer)
	switch {
	case req.All && req.Peer != "":
		writeError(w, http.StatusBadRequest, `give either "peer" or "all", not both`)
		return
	case req.All:
		ps, err := s.n.UnbanAll()
		if err != nil {
			writeErr(w, err)
			return
		}
		ids := make([]string, len(ps))
		for i, p := range ps {
			ids[i] = p.String()
		}
		writeJSON(w, http.StatusOK, unbanResponse{Message: "All bans lifted", Unbanned: ids})
		return
	case req.Peer == "":
		writeError(w, http.StatusBadRequest, `missing "peer": want {"peer":"<peer id>"} or {"all":true}`)
		return
	}
	p, err := peer.Decode(req.Peer)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad peer id %q: %v", req.Peer, err)
		return
	}
	was, err := s.n.Unban(p)
	if err != nil {
		writeErr(w, err)
		return
	}
	if !was {
		writeError(w, http.StatusNotFound, "peer %s is not banned", p)
		return
	}
	writeJSON(w, http.StatusOK, unbanResponse{Message: "Ban lifted", Unbanned: []string{p.String()}})
}
