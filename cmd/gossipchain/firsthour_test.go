package main

// The first hour with a fresh clone (issue 10): each test runs the real
// binary the way a newcomer does and checks what they are told.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/api/apitest"
)

// apiError decodes {"error": ...}.
func apiError(t *testing.T, data []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
		t.Fatalf("not an error reply: %s", data)
	}
	return e.Error
}

// TestTutorialTransactionBody: the tutorial's own body is a 400 that says
// how to succeed.
func TestTutorialTransactionBody(t *testing.T) {
	p := startNode(t, "node", t.TempDir())
	body := `{"sender": "d4ee26eee15148ee92c6cd394edd974e", "recipient": "someone-other-address", "amount": 5}`
	code, data := apitest.Call(t, "POST", p.url()+"/transactions/new", body)
	if code != 400 {
		t.Fatalf("status %d, want 400: %s", code, data)
	}
	msg := apiError(t, data)
	for _, want := range []string{
		`leave "sender" out`, "64 hex", "public key", "gossipchain wallet show", "GET /status", `"address"`,
		p.get("wallet"), // this node's wallet, named
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	// `gossipchain wallet show`, as the message says, works.
	dir := t.TempDir()
	runCmd(t, nil, "wallet", "--data-dir", dir) // makes the node's key
	code, out, errOut := runCmd(t, nil, "wallet", "show", "--data-dir", dir)
	if code != 0 || !addrLine.MatchString(out) {
		t.Errorf("wallet show: exit %d, %q %q", code, out, errOut)
	}
}

// TestFormBody: a form-encoded body, with or without a JSON Content-Type,
// is told to send JSON with Content-Type: application/json.
func TestFormBody(t *testing.T) {
	p := startNode(t, "node", t.TempDir())
	for _, path := range []string{"/transactions/new", "/nodes/register"} {
		for _, ct := range []string{"application/x-www-form-urlencoded", "application/json"} {
			resp, err := http.Post(p.url()+path, ct, strings.NewReader("recipient=abc&amount=5"))
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			code := resp.StatusCode
			if code != 400 && code != 415 {
				t.Errorf("%s with %s: status %d: %s", path, ct, code, data)
				continue
			}
			if msg := apiError(t, data); !strings.Contains(msg, "send JSON with Content-Type: application/json") && !strings.Contains(msg, "send a JSON object with Content-Type: application/json") {
				t.Errorf("%s with %s: %q does not say to send JSON with Content-Type: application/json", path, ct, msg)
			}
		}
	}
}

// TestRegisterNotUpYet: the tutorial stores a node that is not up yet; so
// do we (201), dialling it until it comes up. Errors keep < and > as is.
func TestRegisterNotUpYet(t *testing.T) {
	a := startNode(t, "a", t.TempDir())
	// b's address, known before b runs: a fixed identity and port.
	port := apitest.ClosedPort(t)
	seedArgs := []string{"--identity-seed", "first-hour-b"}
	b0 := startNode(t, "b-probe", t.TempDir(), seedArgs...)
	bID := b0.get("peer_id")
	b0.stop()
	bAddr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, bID)

	code, data := apitest.Call(t, "POST", a.url()+"/nodes/register", map[string]any{"nodes": []string{bAddr}})
	if code != 201 || !strings.Contains(string(data), "keeps dialling") {
		t.Fatalf("register of a node not up yet: %d %s, want 201 saying it keeps dialling it", code, data)
	}
	// b comes up on that address: a connects by itself.
	b := startProc(t, "b", t.TempDir(), nil, nil, append(nodeArgs(t.TempDir()), append(seedArgs, "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))...)...)
	_ = b
	waitFor(t, "a to connect to b once it is up", 30*time.Second, func() bool {
		var st struct {
			Peers     int `json:"peers"`
			Bootstrap []struct {
				Peer  string `json:"peer"`
				State string `json:"state"`
			} `json:"bootstrap"`
		}
		_, data := apitest.Call(t, "GET", a.url()+"/status", nil)
		json.Unmarshal(data, &st)
		return st.Peers == 1 && len(st.Bootstrap) == 1 && st.Bootstrap[0].Peer == bID && st.Bootstrap[0].State == "connected"
	})

	// An error with <peer-id> in it reads so, not \u003cpeer-id\u003e.
	code, data = apitest.Call(t, "POST", a.url()+"/nodes/register", `{"nodes":["/ip4/127.0.0.1/tcp/4001"]}`)
	if code != 400 || !strings.Contains(string(data), "<peer-id>") {
		t.Errorf("error reply %d %s: want 400 with <peer-id> unescaped", code, data)
	}
}

// TestBootstrapUnreachable: an unreachable --bootstrap is a warning with
// the next retry, and GET /status shows its state.
func TestBootstrapUnreachable(t *testing.T) {
	port := apitest.ClosedPort(t)
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/12D3KooWQaLpHhbFoTgLwcqeo5WkFdLSKByEf91XJ2QjWSwuA1pW", port)
	dir := t.TempDir()
	args := nodeArgs(dir)
	for i, a := range args {
		if a == "debug" {
			args[i] = "info" // the default: the warning must show without --log-level debug
		}
	}
	p := startProc(t, "node", dir, nil, nil, append(args, "--bootstrap", addr)...)
	waitFor(t, "a warning about the unreachable bootstrap peer", 20*time.Second, func() bool {
		s := p.stderr.String()
		return strings.Contains(s, "level=WARN") && strings.Contains(s, "bootstrap peer unreachable") && strings.Contains(s, "next_retry")
	})
	var st struct {
		Bootstrap []struct {
			Peer      string `json:"peer"`
			State     string `json:"state"`
			LastError string `json:"last_error"`
			NextRetry string `json:"next_retry"`
		} `json:"bootstrap"`
	}
	_, data := apitest.Call(t, "GET", p.url()+"/status", nil)
	if err := json.Unmarshal(data, &st); err != nil || len(st.Bootstrap) != 1 {
		t.Fatalf("status has no bootstrap entry: %s", data)
	}
	b := st.Bootstrap[0]
	if b.State != "retrying" && b.State != "connecting" || b.LastError == "" {
		t.Errorf("bootstrap state %+v, want retrying with the last error", b)
	}
}

// TestOtherDifficulty: restarting a data dir with another --difficulty says
// which difficulty the store was made with and how to start a new network.
func TestOtherDifficulty(t *testing.T) {
	dir := t.TempDir()
	startNode(t, "first", dir).stop() // --difficulty 8
	args := nodeArgs(dir)
	for i, a := range args {
		if a == "8" && args[i-1] == "--difficulty" {
			args[i] = "12"
		}
	}
	code, _, errOut := runCmd(t, nil, args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, errOut)
	}
	for _, want := range []string{"made with --difficulty 8", "--difficulty 12", "Start it with --difficulty 8", "another --data-dir"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
}

// TestSecondNodeSamePorts: a second node with the default ports gets one
// line naming --listen and --http, and no fx noise.
func TestSecondNodeSamePorts(t *testing.T) {
	first := startNode(t, "first", t.TempDir())
	listen := first.addrs()[0] // /ip4/127.0.0.1/tcp/N/p2p/…
	listen = listen[:strings.Index(listen, "/p2p/")]
	dir := t.TempDir()
	args := nodeArgs(dir)
	for i := range args {
		switch args[i] {
		case "/ip4/127.0.0.1/tcp/0":
			args[i] = listen
		case "127.0.0.1:0":
			args[i] = first.get("http")
		}
	}
	code, out, errOut := runCmd(t, nil, args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout %s stderr %s", code, out, errOut)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !strings.Contains(l, "level=DEBUG") && !strings.Contains(l, "level=INFO") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Errorf("want one line, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, want := range []string{"--listen " + listen, "--listen /ip4/0.0.0.0/tcp/0", "--http " + first.get("http"), "in use"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "fx") {
		t.Errorf("fx's logger still prints:\n%s", errOut)
	}
}

// TestEnvErrors: a bad environment variable is named, with what it takes.
func TestEnvErrors(t *testing.T) {
	for _, c := range []struct{ env, want string }{
		{"GOSSIPCHAIN_MDNS=maybe", `GOSSIPCHAIN_MDNS="maybe": want true or false`},
		{"GOSSIPCHAIN_MINER_WORKERS=many", "GOSSIPCHAIN_MINER_WORKERS=\"many\": want a whole number"},
		{"GOSSIPCHAIN_DIFFICULTY=0", "GOSSIPCHAIN_DIFFICULTY 0: must be between 1 and 64"},
		{"GOSSIPCHAIN_LOG_LEVEL=loud", `GOSSIPCHAIN_LOG_LEVEL "loud": want debug, info, warn or error`},
	} {
		code, _, errOut := runCmd(t, []string{c.env}, "--data-dir", t.TempDir())
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", c.env, code, errOut, c.want)
		}
	}
}

// TestConsoleStatusBootstrap: the console's status shows bootstrap peers.
func TestConsoleStatusBootstrap(t *testing.T) {
	port := apitest.ClosedPort(t)
	id := "12D3KooWQaLpHhbFoTgLwcqeo5WkFdLSKByEf91XJ2QjWSwuA1pW"
	dir := t.TempDir()
	args := nodeArgs(dir)
	for i, a := range args {
		if a == "--console=false" {
			args[i] = "--console"
		}
	}
	args = append(args, "--bootstrap", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, id))
	cmd := exec.Command(binPath, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader("status\n")
	outb, err := cmd.Output()
	out := string(outb)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !regexp.MustCompile(`(?m)^bootstrap +` + id + ` (connecting|retrying)`).MatchString(out) {
		t.Errorf("console status does not show the bootstrap peer:\n%s", out)
	}
}
