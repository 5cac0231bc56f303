package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/node"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

type registerRequest struct {
	Nodes *[]string `json:"nodes"`
}

type registerResponse struct {
	Message    string          `json:"message"`
	TotalNodes []string        `json:"total_nodes"`
	Pending    []registerError `json:"pending,omitempty"`
	Failed     []registerError `json:"failed,omitempty"`
}

type registerError struct {
	Node  string `json:"node"`
	Error string `json:"error"`
}

// registerEntry is one entry of "nodes": a peer multiaddr, or the base URL
// of another node's API (the tutorial's form).
type registerEntry struct {
	raw  string
	addr string   // a multiaddr with /p2p/<id>
	url  *url.URL // scheme and host only
}

// parseRegisterEntry tells the two accepted forms apart. A multiaddr starts
// with "/" and must name a peer; anything else must be http(s)://host[:port]
// or host:port.
func parseRegisterEntry(s string) (registerEntry, error) {
	e := registerEntry{raw: s}
	s = strings.TrimSpace(s)
	if s == "" {
		return e, badf("empty entry: want a multiaddr ending in /p2p/<peer-id> or http://host:port")
	}
	if strings.HasPrefix(s, "/") {
		if _, err := node.ParsePeerAddr(s); err != nil {
			return e, err
		}
		e.addr = s
		return e, nil
	}
	withScheme := strings.Contains(s, "://")
	if !withScheme {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return e, badf("%q is neither a multiaddr ending in /p2p/<peer-id> nor http://host:port", e.raw)
	}
	if !withScheme {
		// host:port, as the tutorial's "192.168.0.5:5000": the port is required.
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return e, badf("%q is neither a multiaddr ending in /p2p/<peer-id> nor host:port", e.raw)
		}
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return e, badf("%q: bad port %q", e.raw, p)
		}
	}
	e.url = &url.URL{Scheme: u.Scheme, Host: u.Host}
	return e, nil
}

// handleRegister connects to each node given. A node that cannot be reached
// now is kept and dialled with backoff (listed in "pending"), as the
// tutorial stores every node it is given: 201. Only entries that can never
// work (this node, not a gossipchain node) are "failed"; 502 if all are.
func (s *server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if code, err := decodeBody(r, &req); err != nil {
		writeError(w, code, "%v", err)
		return
	}
	if req.Nodes == nil {
		writeError(w, http.StatusBadRequest, "Error: Please supply a valid list of nodes (missing field \"nodes\")")
		return
	}
	if len(*req.Nodes) == 0 {
		writeError(w, http.StatusBadRequest, "Error: Please supply a valid list of nodes (\"nodes\" is empty)")
		return
	}
	if len(*req.Nodes) > maxRegisterNodes {
		writeError(w, http.StatusBadRequest, "too many nodes: %d, at most %d at once", len(*req.Nodes), maxRegisterNodes)
		return
	}
	entries := make([]registerEntry, len(*req.Nodes))
	for i, raw := range *req.Nodes {
		e, err := parseRegisterEntry(raw)
		if err != nil {
			writeError(w, http.StatusBadRequest, "nodes[%d]: %v", i, err)
			return
		}
		entries[i] = e
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RegisterTimeout)
	defer cancel()
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() { errs[i] = s.register(ctx, e) })
	}
	wg.Wait()

	// As the tutorial, a node that is not up yet is stored, not refused:
	// it is kept as a bootstrap peer and dialled with backoff. Only what
	// can never work (this node itself, something that is not a
	// gossipchain node) fails.
	var failed, pending []registerError
	connected := 0
	for i, err := range errs {
		switch {
		case err == nil:
			connected++
		case errors.Is(err, errRegisterPermanent):
			failed = append(failed, registerError{Node: entries[i].raw, Error: err.Error()})
		default:
			s.keepDialling(entries[i])
			pending = append(pending, registerError{Node: entries[i].raw, Error: err.Error()})
		}
	}
	if len(failed) == len(entries) {
		msgs := make([]string, len(failed))
		for i, f := range failed {
			msgs[i] = fmt.Sprintf("%s: %s", f.Node, f.Error)
		}
		writeError(w, http.StatusBadGateway, "could not connect to any node: %s", strings.Join(msgs, "; "))
		return
	}
	total := []string{}
	for _, p := range s.n.Peers() {
		total = append(total, p.ID)
	}
	slices.Sort(total)
	msg := "New nodes have been added"
	if len(pending) > 0 {
		msg = fmt.Sprintf("New nodes have been added; %d not reachable yet: this node keeps dialling them with backoff as bootstrap peers (their state is in GET /status \"bootstrap\")", len(pending))
	}
	writeJSON(w, http.StatusCreated, registerResponse{Message: msg, TotalNodes: total, Pending: pending, Failed: failed})
}

// errRegisterPermanent marks a registration that retrying cannot fix.
var errRegisterPermanent = errors.New("permanent")

type permanentError struct{ error }

func (e permanentError) Is(target error) bool { return target == errRegisterPermanent }

// Retries of a registered http://host:port whose API does not answer yet.
const (
	registerRetryMin = time.Second
	registerRetryMax = 30 * time.Second
)

// keepDialling keeps trying a registered node that could not be reached:
// a multiaddr becomes a bootstrap peer at once; for http://host:port its
// /status is asked with backoff until it answers, and its addresses then
// become a bootstrap peer. Both end when the node closes.
func (s *server) keepDialling(e registerEntry) {
	const source = "/nodes/register"
	if e.addr != "" {
		if err := s.n.AddBootstrap(e.addr, source); err != nil {
			s.log.Warn("registered node: cannot keep dialling it", "node", e.raw, "err", err)
		}
		return
	}
	key := e.url.String()
	s.pendingMu.Lock()
	if s.pendingURLs == nil {
		s.pendingURLs = map[string]bool{}
	}
	if s.pendingURLs[key] {
		s.pendingMu.Unlock()
		return
	}
	s.pendingURLs[key] = true
	s.pendingMu.Unlock()
	go func() {
		defer func() {
			s.pendingMu.Lock()
			delete(s.pendingURLs, key)
			s.pendingMu.Unlock()
		}()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-s.n.Done():
				cancel()
			case <-ctx.Done():
			}
		}()
		backoff := registerRetryMin
		for {
			addrs, err := s.remoteAddrs(ctx, e.url)
			if err == nil {
				for _, a := range addrs {
					if err := s.n.AddBootstrap(a, source); err != nil {
						s.log.Warn("registered node: cannot keep dialling it", "node", e.raw, "addr", a, "err", err)
					}
				}
				s.log.Info("registered node answered: dialling it as a bootstrap peer", "node", e.raw, "addrs", addrs)
				return
			}
			if errors.Is(err, errRegisterPermanent) {
				s.log.Warn("registered node: giving up", "node", e.raw, "err", err)
				return
			}
			s.log.Warn("registered node not reachable yet", "node", e.raw, "retry_in", backoff, "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, registerRetryMax)
		}
	}()
}

// register connects to one entry.
func (s *server) register(ctx context.Context, e registerEntry) error {
	if e.addr != "" {
		if info, err := node.ParsePeerAddr(e.addr); err == nil && info.ID == s.n.ID() {
			return permanentError{fmt.Errorf("%s is this node", e.addr)}
		}
		_, err := s.n.Connect(ctx, e.addr)
		return err
	}
	addrs, err := s.remoteAddrs(ctx, e.url)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range addrs {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.n.Connect(actx, a)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("none of its %d addresses answered: %w", len(addrs), errors.Join(errs...))
}

// remoteStatus is the part of another node's /status that register needs.
type remoteStatus struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

// remoteAddrs asks another node's API for its multiaddrs, best first: on
// the host named in the URL if it is an IP, then other non-loopback ones,
// loopback last — or loopback first when the URL's host is loopback.
func (s *server) remoteAddrs(ctx context.Context, base *url.URL) ([]string, error) {
	u := *base
	u.Path = "/status"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking %s for its addresses: %w", u.String(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("asking %s for its addresses: %s", u.String(), resp.Status)
	}
	var st remoteStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return nil, permanentError{fmt.Errorf("%s is not a gossipchain node: %v", u.String(), err)}
	}
	if st.PeerID == s.n.ID().String() {
		return nil, permanentError{fmt.Errorf("%s is this node", base.String())}
	}
	type candidate struct {
		addr string
		rank int
	}
	host := base.Hostname()
	hostIP := net.ParseIP(host)
	hostLoopback := host == "localhost" || (hostIP != nil && hostIP.IsLoopback())
	var cands []candidate
	for _, a := range st.Addrs {
		info, err := node.ParsePeerAddr(a)
		if err != nil || info.ID.String() != st.PeerID || len(info.Addrs) == 0 {
			continue
		}
		m := info.Addrs[0]
		loop := manet.IsIPLoopback(m)
		rank := 2 // another non-loopback address
		switch {
		case hostLoopback && loop:
			rank = 0
		case hostIP != nil && sameIP(m, hostIP):
			rank = 0
		case loop:
			rank = 3
		}
		if _, err := m.ValueForProtocol(ma.P_TCP); err == nil {
			rank *= 2 // within a rank, TCP before QUIC
		} else {
			rank = rank*2 + 1
		}
		cands = append(cands, candidate{a, rank})
	}
	if len(cands) == 0 {
		return nil, permanentError{fmt.Errorf("%s gave no usable multiaddr for peer %q", u.String(), st.PeerID)}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return a.rank - b.rank })
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.addr
	}
	return out, nil
}

func sameIP(m ma.Multiaddr, ip net.IP) bool {
	for _, code := range []int{ma.P_IP4, ma.P_IP6} {
		if v, err := m.ValueForProtocol(code); err == nil {
			return net.ParseIP(v).Equal(ip)
		}
	}
	return false
}
