package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// The guard keeps web pages from driving the API and, on a public listen
// address, everyone without the token. It runs before every handler, in
// this order:
//
//  1. Host: the Host header must be an IP address, "localhost", the host
//     of the listen address, or one of Options.VHosts ("*" allows any);
//     otherwise 403. A page that rebinds its own DNS name to the node's
//     address (DNS rebinding) sends its own name as Host, so it cannot read
//     replies. An IP address cannot be rebound, so it is always accepted
//     (as geth's --http.vhosts does).
//  2. Origin: a browser names the page's origin on every cross-origin
//     request and on every POST; it must be this node's own
//     (http://<Host>), else 403. Scripts and curl send none and pass.
//  3. Sec-Fetch-Site: a browser request without Origin (<img src=/mine>,
//     a link, a top-level navigation) says "cross-site" or "same-site";
//     those are refused (403) on the endpoints that change something: GET
//     /mine, /nodes/resolve and every POST. "same-origin", "none" (typed
//     into the address bar) and no header at all pass.
//  4. Token: with Options.Token set, or a listen address that is not
//     loopback, every request but GET /health and GET /status needs
//     "Authorization: Bearer <token>" (401 without). On a public address
//     with no token configured everything but those two is refused.
//  5. Content-Type: a POST with a body must say application/json (415).
//     A POST without a body and without a Content-Type passes (curl -X POST
//     .../mine, /mining/start); any other Content-Type is refused, with or
//     without a body. This closes the CORS "simple requests" (text/plain,
//     form posts) a page may send without asking first; a page that wants
//     to send application/json must ask with a preflight OPTIONS, which is
//     refused (no CORS headers are ever sent).
//
// Every refusal is JSON, {"error": "..."}, saying which rule and how to
// pass it.

// openRoutes answer without the token: the container health check and the
// node's identity, which another node's /nodes/register asks for in the
// tutorial's http://host:port form (peers learn the same over libp2p).
var openRoutes = map[string]bool{
	"GET /health": true,
	"GET /status": true,
	// The dashboard's token form (web.go): a page that holds no secret.
	"GET /web/login": true,
}

// CookieFile is the file in the data directory that holds the API token a
// node generated at start (cmd/gossipchain writes it, 0600).
const CookieFile = ".cookie"

// NewToken returns a random token: 32 bytes, hex.
func NewToken() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// IsLoopbackAddr reports whether a listen address host:port is reachable
// from this machine only: its host is "localhost" or a loopback IP. An
// empty or unspecified host (":5000", "0.0.0.0:5000") is every interface.
func IsLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = normHost(host)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type guard struct {
	listen  string
	public  bool // the listen address is not loopback
	anyHost bool
	hosts   map[string]bool // lower case, no port, no brackets, no trailing dot
	token   []byte
}

func newGuard(o *Options) *guard {
	g := &guard{listen: o.ListenAddr, hosts: map[string]bool{"localhost": true}}
	if o.ListenAddr != "" {
		g.public = !IsLoopbackAddr(o.ListenAddr)
		if host, _, err := net.SplitHostPort(o.ListenAddr); err == nil && host != "" {
			g.hosts[normHost(host)] = true
		}
	}
	for _, h := range o.VHosts {
		h = normHost(strings.TrimSpace(h))
		if h == "*" {
			g.anyHost = true
		} else if h != "" {
			g.hosts[h] = true
		}
	}
	if o.Token != "" {
		g.token = []byte(o.Token)
	}
	return g
}

// normHost lower-cases a host name and drops IPv6 brackets and a trailing dot.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// hostAllowed checks a Host header (host or host:port).
func (g *guard) hostAllowed(hostport string) bool {
	if hostport == "" || g.anyHost {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = normHost(host)
	return net.ParseIP(host) != nil || g.hosts[host]
}

// changesState reports whether a route changes the node: every method but
// GET and HEAD, and the tutorial's GET /mine and GET /nodes/resolve.
func changesState(method, pattern string) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return true
	}
	return pattern == "GET /mine" || pattern == "GET /nodes/resolve"
}

// check returns the status and message of a refusal, or 0 if r may pass.
// pattern is the route r matched ("" for none: a 404 or 405 follows).
func (g *guard) check(r *http.Request, pattern string) (int, string) {
	if !g.hostAllowed(r.Host) {
		return http.StatusForbidden, fmt.Sprintf("Host %q is not a name this node serves (DNS rebinding protection): use an IP address or localhost, or start the node with --http-vhosts %s (GOSSIPCHAIN_HTTP_VHOSTS)", r.Host, hostOnly(r.Host))
	}
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
		return http.StatusForbidden, fmt.Sprintf("cross-origin request refused: Origin %q is not this node's (http://%s); web pages of other sites may not use this API", origin, r.Host)
	}
	if changesState(r.Method, pattern) {
		switch site := strings.ToLower(r.Header.Get("Sec-Fetch-Site")); site {
		case "cross-site", "same-site":
			return http.StatusForbidden, fmt.Sprintf("cross-site request refused: Sec-Fetch-Site: %s; %s %s changes the node and may not be sent by another site's page", site, r.Method, r.URL.Path)
		}
	}
	if (g.public || g.token != nil) && !openRoutes[pattern] {
		if g.token == nil {
			return http.StatusUnauthorized, fmt.Sprintf("this API listens on %s, not loopback, and has no token: start the node with --http-token (GOSSIPCHAIN_HTTP_TOKEN)", g.listen)
		}
		if !g.tokenOK(r.Header.Get("Authorization")) && !g.cookieOK(r) {
			where := "the token given by --http-token (GOSSIPCHAIN_HTTP_TOKEN), or else the one in the data directory's " + CookieFile + " file"
			if g.public {
				return http.StatusUnauthorized, fmt.Sprintf("this API listens on %s, not loopback: send \"Authorization: Bearer <token>\" with %s", g.listen, where)
			}
			return http.StatusUnauthorized, "this API needs a token: send \"Authorization: Bearer <token>\" with " + where
		}
	}
	if pattern != "" && r.Method == http.MethodPost {
		ct := r.Header.Get("Content-Type")
		switch {
		case ct == "" && r.ContentLength == 0:
			// No body, nothing to say about it: curl -X POST .../mine.
		case ct == "":
			return http.StatusUnsupportedMediaType, "send JSON with Content-Type: application/json (the request has a body but no Content-Type)"
		default:
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				return http.StatusUnsupportedMediaType, fmt.Sprintf("send JSON with Content-Type: application/json, not %q", ct)
			}
		}
	}
	return 0, ""
}

func (g *guard) tokenOK(auth string) bool {
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), g.token) == 1
}

// sameOrigin reports whether a browser's Origin header names the node as
// reached through host (the request's Host header).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return normHost(h)
	}
	return normHost(hostport)
}
