package api

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// rawCall sends a request with exactly the headers given ("Host" sets the
// Host header) and returns the status and body.
func rawCall(t *testing.T, method, u string, hdr map[string]string, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// fundedNode is a test node that has mined one block, so that a transfer
// from its wallet would succeed: a refusal is then the guard's doing.
func fundedNode(t *testing.T, opts Options) (*testNode, string) {
	t.Helper()
	tn := newTestNodeOpts(t, opts)
	if _, err := tn.n.MineBlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"recipient":%q,"amount":1}`, seedWallet(9).Address())
	return tn, body
}

func pendingCount(tn *testNode) int { return tn.n.Chain().Mempool().Len() }

// hostOf is the host:port of a test server's URL.
func hostOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// A page on another site posting text/plain (a CORS "simple request", sent
// without a preflight) must not spend the node's coins.
func TestGuardCrossSiteTextPlainPost(t *testing.T) {
	tn, body := fundedNode(t, Options{})
	u := tn.url + "/transactions/new"
	for _, hdr := range []map[string]string{
		// What a browser sends for fetch(u, {method:"POST", mode:"no-cors", body}).
		{"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
		// The same from a browser too old for Sec-Fetch-*.
		{"Content-Type": "text/plain", "Origin": "http://evil.example"},
		// A form post.
		{"Content-Type": "application/x-www-form-urlencoded", "Origin": "null"},
	} {
		code, data := rawCall(t, "POST", u, hdr, body)
		wantError(t, code, data, 403, "refused")
	}
	// Without any Origin, text/plain is still not JSON.
	code, data := rawCall(t, "POST", u, map[string]string{"Content-Type": "text/plain"}, body)
	wantError(t, code, data, 415, "Content-Type: application/json")
	code, data = rawCall(t, "POST", u, nil, body) // a body without a Content-Type
	wantError(t, code, data, 415, "Content-Type: application/json")
	if n := pendingCount(tn); n != 0 {
		t.Fatalf("%d transactions created by refused requests", n)
	}
}

func TestGuardForeignOriginWithJSON(t *testing.T) {
	tn, body := fundedNode(t, Options{})
	u := tn.url + "/transactions/new"
	host := hostOf(t, tn.url)
	for _, origin := range []string{
		"http://evil.example",
		"http://evil.example:" + strings.Split(host, ":")[1],
		"https://" + host + ".evil.example",
		"http://localhost:" + strings.Split(host, ":")[1], // another name: another origin
		"null",
	} {
		code, data := rawCall(t, "POST", u, map[string]string{"Content-Type": "application/json", "Origin": origin}, body)
		wantError(t, code, data, 403, "cross-origin")
	}
	// A read from another origin is refused too, and so is a preflight.
	code, data := rawCall(t, "GET", tn.url+"/chain", map[string]string{"Origin": "http://evil.example"}, "")
	wantError(t, code, data, 403, "cross-origin")
	code, data = rawCall(t, "OPTIONS", u, map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, "")
	wantError(t, code, data, 403, "cross-origin")
	if n := pendingCount(tn); n != 0 {
		t.Fatalf("%d transactions created by refused requests", n)
	}
}

func TestGuardSecFetchSite(t *testing.T) {
	tn := newTestNodeOpts(t, Options{})
	for _, site := range []string{"cross-site", "same-site", "CROSS-SITE"} {
		for _, c := range []struct{ method, path string }{
			{"GET", "/mine"}, {"GET", "/nodes/resolve"}, {"POST", "/nodes/resolve"}, {"POST", "/mine"}, {"POST", "/mining/start"},
		} {
			code, data := rawCall(t, c.method, tn.url+c.path, map[string]string{"Sec-Fetch-Site": site}, "")
			wantError(t, code, data, 403, "cross-site request refused")
		}
	}
	if idx := tn.n.Chain().Tip().Index; idx != 1 || tn.n.Mining() {
		t.Fatalf("refused requests changed the node: index %d, mining %v", idx, tn.n.Mining())
	}
	// Reads stay open to an <img> or a link; same-origin and typed URLs mine.
	if code, data := rawCall(t, "GET", tn.url+"/chain", map[string]string{"Sec-Fetch-Site": "cross-site"}, ""); code != 200 {
		t.Errorf("cross-site GET /chain: %d %s", code, data)
	}
	for _, site := range []string{"same-origin", "none"} {
		if code, data := rawCall(t, "GET", tn.url+"/mine", map[string]string{"Sec-Fetch-Site": site}, ""); code != 200 {
			t.Errorf("GET /mine with Sec-Fetch-Site: %s: %d %s", site, code, data)
		}
	}
}

func TestGuardHost(t *testing.T) {
	tn := newTestNodeOpts(t, Options{})
	port := strings.Split(hostOf(t, tn.url), ":")[1]
	for _, host := range []string{"evil.example:" + port, "evil.example", "localhost.evil.example:" + port, "127.0.0.1.nip.io:" + port} {
		code, data := rawCall(t, "GET", tn.url+"/chain", map[string]string{"Host": host}, "")
		wantError(t, code, data, 403, "--http-vhosts")
		code, data = rawCall(t, "GET", tn.url+"/mine", map[string]string{"Host": host}, "")
		wantError(t, code, data, 403, "DNS rebinding")
	}
	if idx := tn.n.Chain().Tip().Index; idx != 1 {
		t.Fatalf("a refused /mine mined: index %d", idx)
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST.", "127.0.0.1:" + port, "[::1]:" + port, "192.0.2.7:5000", "[2001:db8::1]"} {
		if code, data := rawCall(t, "GET", tn.url+"/chain", map[string]string{"Host": host}, ""); code != 200 {
			t.Errorf("Host %q: %d %s", host, code, data)
		}
	}

	named := newTestNodeOpts(t, Options{VHosts: []string{"Node1", "chain.example."}})
	for _, host := range []string{"node1:5000", "chain.example"} {
		if code, data := rawCall(t, "GET", named.url+"/chain", map[string]string{"Host": host}, ""); code != 200 {
			t.Errorf("vhost %q: %d %s", host, code, data)
		}
	}
	code, data := rawCall(t, "GET", named.url+"/chain", map[string]string{"Host": "node2:5000"}, "")
	wantError(t, code, data, 403, "--http-vhosts node2")
	anyHost := newTestNodeOpts(t, Options{VHosts: []string{"*"}})
	if code, data := rawCall(t, "GET", anyHost.url+"/chain", map[string]string{"Host": "evil.example"}, ""); code != 200 {
		t.Errorf("vhosts *: %d %s", code, data)
	}
	// The host of the listen address is served.
	listen := newTestNodeOpts(t, Options{ListenAddr: "gossip.lan:5000", Token: "t0ken-t0ken-t0ken"})
	if code, data := rawCall(t, "GET", listen.url+"/status", map[string]string{"Host": "gossip.lan:5000"}, ""); code != 200 {
		t.Errorf("Host of the listen address: %d %s", code, data)
	}
}

// The page served by the node's own origin (and curl, scripts) pass.
func TestGuardSameOriginAndCurl(t *testing.T) {
	tn, body := fundedNode(t, Options{})
	u := tn.url + "/transactions/new"
	host := hostOf(t, tn.url)
	same := map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": "http://" + host, "Host": host, "Sec-Fetch-Site": "same-origin"}
	if code, data := rawCall(t, "POST", u, same, body); code != 201 {
		t.Fatalf("same-origin POST: %d %s", code, data)
	}
	if code, data := rawCall(t, "GET", tn.url+"/mine", map[string]string{"Origin": "http://" + host}, ""); code != 200 {
		t.Fatalf("same-origin GET /mine: %d %s", code, data)
	}
	// curl: no Origin, no Sec-Fetch-*; POSTs without a body need no Content-Type.
	if code, data := rawCall(t, "POST", u, map[string]string{"Content-Type": "application/json"}, body); code != 201 {
		t.Fatalf("curl-like POST: %d %s", code, data)
	}
	for _, path := range []string{"/mine", "/mining/start", "/mining/stop", "/nodes/resolve"} {
		if code, data := rawCall(t, "POST", tn.url+path, nil, ""); code != 200 {
			t.Errorf("curl -X POST %s: %d %s", path, code, data)
		}
	}
	// A Content-Type other than JSON is refused even without a body.
	code, data := rawCall(t, "POST", tn.url+"/mining/start", map[string]string{"Content-Type": "text/plain"}, "")
	wantError(t, code, data, 415, "application/json")
	if tn.n.Mining() {
		t.Error("a refused /mining/start started mining")
	}
}

func TestGuardToken(t *testing.T) {
	const token = "test-token-0123456789"
	tn := newTestNodeOpts(t, Options{ListenAddr: "0.0.0.0:5000", Token: token})
	bearer := map[string]string{"Authorization": "Bearer " + token}
	for _, path := range []string{"/chain", "/mine", "/peers", "/metrics", "/", "/no-such-path"} {
		code, data := rawCall(t, "GET", tn.url+path, nil, "")
		wantError(t, code, data, 401, "Authorization: Bearer")
		code, data = rawCall(t, "GET", tn.url+path, map[string]string{"Authorization": "Bearer wrong"}, "")
		wantError(t, code, data, 401, "not loopback")
		code, data = rawCall(t, "GET", tn.url+path, map[string]string{"Authorization": "Basic " + token}, "")
		wantError(t, code, data, 401, "token")
	}
	if idx := tn.n.Chain().Tip().Index; idx != 1 {
		t.Fatalf("an unauthorised /mine mined: index %d", idx)
	}
	if code, data := rawCall(t, "GET", tn.url+"/mine", bearer, ""); code != 200 {
		t.Fatalf("/mine with the token: %d %s", code, data)
	}
	if code, data := rawCall(t, "POST", tn.url+"/transactions/new", map[string]string{"Authorization": "bearer " + token, "Content-Type": "application/json"},
		fmt.Sprintf(`{"recipient":%q,"amount":1}`, seedWallet(9).Address())); code != 201 {
		t.Fatalf("POST with the token: %d %s", code, data)
	}
	// /health and /status answer without it.
	for _, path := range []string{"/health", "/status"} {
		if code, data := rawCall(t, "GET", tn.url+path, nil, ""); code != 200 {
			t.Errorf("%s without the token: %d %s", path, code, data)
		}
	}
	// The token does not lift the browser checks.
	code, data := rawCall(t, "GET", tn.url+"/mine", map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "cross-site"}, "")
	wantError(t, code, data, 403, "cross-site")

	// Public without a token configured: closed.
	closed := newTestNodeOpts(t, Options{ListenAddr: ":5000"})
	code, data = rawCall(t, "GET", closed.url+"/chain", map[string]string{"Authorization": "Bearer "}, "")
	wantError(t, code, data, 401, "--http-token")
	if code, _ := rawCall(t, "GET", closed.url+"/health", nil, ""); code != 200 {
		t.Errorf("/health of a public node without a token: %d", code)
	}
	// A token given on loopback is required too; none on loopback is open.
	loop := newTestNodeOpts(t, Options{ListenAddr: "127.0.0.1:5000", Token: token})
	code, data = rawCall(t, "GET", loop.url+"/chain", nil, "")
	wantError(t, code, data, 401, "needs a token")
	open := newTestNodeOpts(t, Options{ListenAddr: "localhost:5000"})
	if code, data := rawCall(t, "GET", open.url+"/chain", nil, ""); code != 200 {
		t.Errorf("loopback without a token: %d %s", code, data)
	}
}

// Another node's /nodes/register in the http://host:port form asks this
// one's /status: it sends no token, and the name it uses must be served.
func TestGuardRegisterByURL(t *testing.T) {
	pub := newTestNodeOpts(t, Options{ListenAddr: "0.0.0.0:5000", Token: "test-token-0123456789"})
	other := newTestNode(t)
	port := strings.Split(hostOf(t, pub.url), ":")[1]
	reg := mustJSON[registerReply](t, 201, "POST", other.url+"/nodes/register", map[string]any{"nodes": []string{"http://localhost:" + port}})
	if len(reg.TotalNodes) != 1 || reg.TotalNodes[0] != pub.n.ID().String() {
		t.Fatalf("register by URL: %+v", reg)
	}
}

func TestIsLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:5000": true, "localhost:5000": true, "[::1]:5000": true, "127.0.0.2:0": true, "LocalHost:1": true,
		"0.0.0.0:5000": false, ":5000": false, "[::]:5000": false, "192.168.1.5:5000": false, "myhost:5000": false,
	} {
		if got := IsLoopbackAddr(addr); got != want {
			t.Errorf("IsLoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
