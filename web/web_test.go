package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, url string, hdr map[string]string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if h := hdr["Host"]; h != "" {
		req.Host = h
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func post(t *testing.T, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPagesAndGuard checks, without a browser, what curl and a page see.
func TestPagesAndGuard(t *testing.T) {
	a := testNode(t)
	base := serve(t, a, nil)
	b := mine(t, a, 1)

	// curl keeps the JSON index; a browser gets the page.
	if code, body, _ := get(t, base+"/", nil); code != 200 || !strings.HasPrefix(body, `{"name":"gossipchain"`) {
		t.Fatalf("curl /: %d %.80s", code, body)
	}
	code, page, hdr := get(t, base+"/", map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
	if code != 200 || !strings.Contains(page, "<title>gossipchain node</title>") || !strings.Contains(hdr.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("browser /: %d %v %.200s", code, hdr, page)
	}
	m := regexp.MustCompile(`name="csrf-token" content="([0-9a-f]{64})"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token in the page")
	}
	csrf := m[1]

	// The explorer pages.
	for _, path := range []string{"/web/block/" + b.Hash().String(), "/web/block/2", "/web/tx/" + b.Txs[0].ID().String(), "/web/address/" + a.Address().String()} {
		if code, body, _ := get(t, base+path, nil); code != 200 || !strings.Contains(body, b.Hash().String()[:8]) && !strings.Contains(body, a.Address().String()) {
			t.Errorf("%s: %d %.200s", path, code, body)
		}
	}
	if code, _, _ := get(t, base+"/web/block/"+strings.Repeat("ab", 32), nil); code != 404 {
		t.Errorf("unknown block: %d", code)
	}
	var snap struct {
		Head struct{ Index uint64 } `json:"head"`
		Tree []struct{ Main bool }  `json:"tree"`
	}
	_, body, _ := get(t, base+"/web/snapshot", nil)
	if err := json.Unmarshal([]byte(body), &snap); err != nil || snap.Head.Index != 2 || len(snap.Tree) != 2 {
		t.Fatalf("snapshot: %v %+v", err, snap)
	}

	// Actions: the CSRF token, same origin, JSON only.
	if code, body := post(t, base+"/web/action/mining", `{"on":false}`, nil); code != 403 || !strings.Contains(body, "X-CSRF-Token") {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, _ := post(t, base+"/web/action/mining", `{"on":false}`, map[string]string{"X-CSRF-Token": csrf, "Origin": "http://evil.example"}); code != 403 {
		t.Errorf("foreign origin: %d", code)
	}
	if code, _ := post(t, base+"/web/action/mining", `{"on":false}`, map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}); code != 403 {
		t.Errorf("cross-site: %d", code)
	}
	if code, _ := post(t, base+"/web/action/mining", `{"on":false}`, map[string]string{"X-CSRF-Token": csrf, "Content-Type": "text/plain"}); code != 415 {
		t.Errorf("text/plain: %d", code)
	}
	if code, _, _ := get(t, base+"/", map[string]string{"Accept": "text/html", "Host": "evil.example"}); code != 403 {
		t.Errorf("rebinding: %d", code)
	}
	if code, body := post(t, base+"/web/action/send", `{"recipient":"`+a.Address().String()+`","amount":3,"fee":1}`, map[string]string{"X-CSRF-Token": csrf, "Origin": base}); code != 201 {
		t.Errorf("send: %d %s", code, body)
	}
	if code, body := post(t, base+"/web/action/mine", ``, map[string]string{"X-CSRF-Token": csrf}); code != 200 || a.Chain().Tip().Index != 3 {
		t.Errorf("mine: %d %s", code, body)
	}
}
