package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gossipchain/gossipchain/api"
)

func TestAPITokenCookie(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, api.CookieFile)
	// A leftover with loose permissions is replaced, not reused.
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, cookie, err := apiToken(dir, "", "0.0.0.0:5000")
	if err != nil {
		t.Fatal(err)
	}
	if cookie != path || len(tok) != 64 {
		t.Fatalf("apiToken: token %q, cookie %q; want a 64-hex token in %s", tok, cookie, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cookie file mode %v, want 0600", fi.Mode().Perm())
	}
	if got, err := readCookie(dir); err != nil || got != tok {
		t.Errorf("readCookie: %q %v, want %q", got, err, tok)
	}
	// Each start writes a new one.
	tok2, _, err := apiToken(dir, "", ":5000")
	if err != nil || tok2 == tok {
		t.Fatalf("second start: token %q (first %q), %v", tok2, tok, err)
	}
	if got, _ := readCookie(dir); got != tok2 {
		t.Errorf("cookie holds %q after the second start, want %q", got, tok2)
	}

	// A given token, or loopback, writes none and removes the stale one.
	for _, c := range []struct{ given, addr, want string }{
		{"given-token-0123456789", "0.0.0.0:5000", "given-token-0123456789"},
		{"", "127.0.0.1:5000", ""},
		{"", "localhost:0", ""},
	} {
		if err := writeCookie(path, "stale"); err != nil {
			t.Fatal(err)
		}
		tok, cookie, err := apiToken(dir, c.given, c.addr)
		if err != nil || tok != c.want || cookie != "" {
			t.Errorf("apiToken(%q, %q) = %q, %q, %v; want %q and no cookie", c.given, c.addr, tok, cookie, err, c.want)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("apiToken(%q, %q) left the stale cookie: %v", c.given, c.addr, err)
		}
	}
}

// gossipchain health sends the token: from --http-token or its variable,
// else from the cookie file in --data-dir / GOSSIPCHAIN_DATA_DIR.
func TestHealthSendsToken(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != "Bearer cookie-token-0123456789" && r.Header.Get("Authorization") != "Bearer env-token-0123456789" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"status":"ok","index":3}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	if err := writeCookie(filepath.Join(dir, api.CookieFile), "cookie-token-0123456789"); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	var out, errb bytes.Buffer
	env := envMap("GOSSIPCHAIN_DATA_DIR", dir)
	if code := runHealth([]string{"--http", addr}, env, &out, &errb); code != 0 {
		t.Errorf("health with the cookie by GOSSIPCHAIN_DATA_DIR: exit %d, %s", code, errb.String())
	}
	env = envMap("GOSSIPCHAIN_DATA_DIR", t.TempDir(), "GOSSIPCHAIN_HTTP_TOKEN", "env-token-0123456789")
	if code := runHealth([]string{"--http", addr}, env, &out, &errb); code != 0 {
		t.Errorf("health with GOSSIPCHAIN_HTTP_TOKEN: exit %d, %s", code, errb.String())
	}
	if code := runHealth([]string{"--http", addr, "--data-dir", t.TempDir()}, envMap(), &out, &errb); code != 1 {
		t.Errorf("health without a token against a server that wants one: exit %d, want 1", code)
	}
	want := []string{"Bearer cookie-token-0123456789", "Bearer env-token-0123456789", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Authorization sent: %q, want %q", got, want)
	}
}

// TestBinaryTokenAndVHosts: the binary with GOSSIPCHAIN_HTTP_TOKEN and
// GOSSIPCHAIN_HTTP_VHOSTS, as docker-compose runs it (on loopback here:
// the tests talk to loopback only; the token is required wherever given).
func TestBinaryTokenAndVHosts(t *testing.T) {
	dir := t.TempDir()
	const token = "binary-token-0123456789"
	p := startProc(t, "token node", dir, []string{"GOSSIPCHAIN_HTTP_TOKEN=" + token, "GOSSIPCHAIN_HTTP_VHOSTS=node1"}, nil, nodeArgs(dir)...)
	get := func(path string, hdr map[string]string) int {
		req, _ := http.NewRequest("GET", p.url()+path, nil)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer := "Bearer " + token
	for _, c := range []struct {
		path string
		hdr  map[string]string
		want int
	}{
		{"/chain", nil, 401},
		{"/chain", map[string]string{"Authorization": bearer}, 200},
		{"/status", nil, 200},
		{"/chain", map[string]string{"Authorization": bearer, "Host": "node1:5000"}, 200},
		{"/chain", map[string]string{"Authorization": bearer, "Host": "evil.example:5000"}, 403},
		{"/mine", map[string]string{"Authorization": bearer, "Origin": "http://evil.example"}, 403},
	} {
		if got := get(c.path, c.hdr); got != c.want {
			t.Errorf("GET %s %v: %d, want %d", c.path, c.hdr, got, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, api.CookieFile)); !os.IsNotExist(err) {
		t.Errorf("a cookie file was written although a token was given: %v", err)
	}
	if code, _, errOut := runCmd(t, []string{"GOSSIPCHAIN_HTTP_TOKEN=" + token}, "health", "--http", p.get("http")); code != 0 {
		t.Errorf("health with the token: exit %d, %s", code, errOut)
	}
}
