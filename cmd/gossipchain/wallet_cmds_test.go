package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/api/apitest"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	"github.com/gossipchain/gossipchain/wallet"
)

// The wallet package names the node's key file without importing node.
var _ = [1]struct{}{}[len(wallet.NodeWalletFile)-len(node.WalletFile)]

// field returns the value of the "key: value" line in out, or fails.
func field(t *testing.T, out, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `: (.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q line in output:\n%s", key, out)
	}
	return strings.TrimSpace(m[1])
}

// mustRun runs the binary and fails unless it exits 0.
func mustRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	code, out, errOut := runCmd(t, env, args...)
	if code != 0 {
		t.Fatalf("gossipchain %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// wantFail runs the binary and checks the exit code and a piece of stderr.
func wantFail(t *testing.T, env []string, code int, substr string, args ...string) {
	t.Helper()
	got, out, errOut := runCmd(t, env, args...)
	if got != code || !strings.Contains(errOut, substr) {
		t.Errorf("gossipchain %s: exit %d, stderr %q; want exit %d and %q (stdout %q)", strings.Join(args, " "), got, errOut, code, substr, out)
	}
}

func nodeKey(p *proc) string { return filepath.Join(p.dataDir, node.WalletFile) }

func balanceOf(t *testing.T, p *proc, a string) balanceReply {
	t.Helper()
	return apitest.MustJSON[balanceReply](t, 200, "GET", p.url()+"/balance/"+a, nil)
}

func TestWalletNewShow(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "keys", "alice.key")
	out := mustRun(t, nil, "wallet", "new", "--out", key)
	addr := field(t, out, "address")
	if !strings.Contains(out, "created: "+key) {
		t.Errorf("wallet new: %q", out)
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	before, _ := os.ReadFile(key)

	// Never over an existing file: not a key file, not anything.
	wantFail(t, nil, 1, "not overwriting", "wallet", "new", "--out", key)
	if after, _ := os.ReadFile(key); string(after) != string(before) {
		t.Fatal("wallet new changed an existing key file")
	}
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("mine"), 0o644)
	wantFail(t, []string{"GOSSIPCHAIN_OUT=" + other}, 1, "not overwriting", "wallet", "new")
	if data, _ := os.ReadFile(other); string(data) != "mine" {
		t.Fatal("wallet new replaced a file")
	}

	// show: by flag, by environment; it creates nothing.
	if got := field(t, mustRun(t, nil, "wallet", "show", "--wallet", key), "address"); got != addr {
		t.Errorf("show --wallet: %s, want %s", got, addr)
	}
	if got := field(t, mustRun(t, []string{"GOSSIPCHAIN_WALLET=" + key}, "wallet", "show"), "address"); got != addr {
		t.Errorf("show by GOSSIPCHAIN_WALLET: %s, want %s", got, addr)
	}
	data := filepath.Join(dir, "data")
	wantFail(t, nil, 1, "gossipchain wallet new", "wallet", "show", "--data-dir", data)
	if _, err := os.Stat(data); err == nil {
		t.Error("wallet show created the data directory")
	}
	// The bare command still makes the node's wallet; show then finds it.
	nodeAddr := addrLine.FindStringSubmatch(mustRun(t, nil, "wallet", "--data-dir", data))
	if nodeAddr == nil {
		t.Fatal("bare wallet printed no address")
	}
	if got := field(t, mustRun(t, nil, "wallet", "show", "--data-dir", data), "address"); got != nodeAddr[1] {
		t.Errorf("show --data-dir: %s, want the node's %s", got, nodeAddr[1])
	}
	if got := field(t, mustRun(t, []string{"GOSSIPCHAIN_DATA_DIR=" + data}, "wallet", "show"), "address"); got != nodeAddr[1] {
		t.Errorf("show by GOSSIPCHAIN_DATA_DIR: %s", got)
	}

	// Mistakes.
	wantFail(t, nil, 2, "either --wallet or --data-dir", "wallet", "show", "--wallet", key, "--data-dir", data)
	wantFail(t, nil, 2, "unknown wallet command", "wallet", "frobnicate")
	wantFail(t, nil, 2, "unexpected argument", "wallet", "show", "extra")
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("hello"), 0o600)
	wantFail(t, nil, 1, "not a gossipchain wallet key", "wallet", "show", "--wallet", bad)
	if out := mustRun(t, nil, "wallet", "-h"); !strings.Contains(out, "wallet new") || !strings.Contains(out, "wallet balance") {
		t.Errorf("wallet -h: %q", out)
	}
}

// TestSendWait: coins from the node's key to a new key file and back,
// with --wait: each send returns after the block that holds it.
func TestSendWait(t *testing.T) {
	p := startNode(t, "node", t.TempDir(), "--mine")
	waitFor(t, "the node's first coins", 60*time.Second, func() bool { return balanceOf(t, p, p.get("wallet")).Balance >= 50 })
	alice := filepath.Join(t.TempDir(), "alice.key")
	aliceAddr := field(t, mustRun(t, nil, "wallet", "new", "--out", alice), "address")

	out := mustRun(t, nil, "send", "--wallet", nodeKey(p), "--node", p.url(), "--to", aliceAddr, "--amount", "10", "--wait")
	checkInBlock(t, p, out)
	b := field(t, mustRun(t, nil, "wallet", "balance", "--wallet", alice, "--node", p.url()), "balance")
	if b != "10" {
		t.Errorf("alice's balance %s, want 10", b)
	}

	// Back, every flag from the environment; the node URL as host:port.
	env := []string{
		"GOSSIPCHAIN_WALLET=" + alice, "GOSSIPCHAIN_NODE=" + p.get("http"), "GOSSIPCHAIN_TO=" + p.get("wallet"),
		"GOSSIPCHAIN_AMOUNT=3", "GOSSIPCHAIN_FEE=1", "GOSSIPCHAIN_WAIT=true", "GOSSIPCHAIN_TIMEOUT=1m",
	}
	out = mustRun(t, env, "send")
	checkInBlock(t, p, out)
	out = mustRun(t, env, "wallet", "balance")
	if field(t, out, "balance") != "6" || field(t, out, "nonce") != "1" || field(t, out, "address") != aliceAddr {
		t.Errorf("alice after sending 3 + fee 1:\n%s", out)
	}
}

// checkInBlock checks send's output: the tx id, and a block that is on the
// main chain and holds it.
func checkInBlock(t *testing.T, p *proc, out string) {
	t.Helper()
	id := field(t, out, "tx")
	var index uint64
	var hash string
	if _, err := fmt.Sscanf(field(t, out, "block"), "%d %s", &index, &hash); err != nil {
		t.Fatalf("block line: %v\n%s", err, out)
	}
	b := apitest.MustJSON[blockReplyMain](t, 200, "GET", fmt.Sprintf("%s/blocks/%d", p.url(), index), nil)
	if b.Hash != hash || !b.MainChain {
		t.Fatalf("block %d: hash %s main %v, send printed %s", index, b.Hash, b.MainChain, hash)
	}
	for _, tx := range b.Transactions {
		if tx.ID == id {
			return
		}
	}
	t.Fatalf("block %d does not hold tx %s", index, id)
}

type blockReplyMain struct {
	chain.BlockJSON
	MainChain bool `json:"main_chain"`
}

func TestSendErrors(t *testing.T) {
	p := startNode(t, "node", t.TempDir()) // not mining
	mine(t, p)
	dir := t.TempDir()
	alice := filepath.Join(dir, "alice.key")
	aliceAddr := field(t, mustRun(t, nil, "wallet", "new", "--out", alice), "address")
	node := []string{"--node", p.url()}
	send := func(extra ...string) []string { return append(append([]string{"send"}, node...), extra...) }

	wantFail(t, nil, 2, "want 64 hex characters, get one with `gossipchain wallet show`", send("--to", "abc", "--amount", "1")...)
	wantFail(t, nil, 2, "--to is missing", send("--amount", "1")...)
	wantFail(t, nil, 2, "small-order", send("--to", "01"+strings.Repeat("0", 62), "--amount", "1")...)
	wantFail(t, nil, 2, "--amount is missing", send("--to", aliceAddr)...)
	wantFail(t, nil, 2, "--amount 0", send("--to", aliceAddr, "--amount", "0")...)
	wantFail(t, nil, 2, `"1.5" for flag -amount: want a whole number`, send("--to", aliceAddr, "--amount", "1.5")...)
	wantFail(t, []string{"GOSSIPCHAIN_FEE=-1"}, 2, "GOSSIPCHAIN_FEE", send("--to", aliceAddr, "--amount", "1")...)
	missing := filepath.Join(dir, "nobody.key")
	wantFail(t, nil, 1, "gossipchain wallet new --out "+missing, send("--to", aliceAddr, "--amount", "1", "--wallet", missing)...)
	closed := fmt.Sprintf("127.0.0.1:%d", apitest.ClosedPort(t))
	wantFail(t, nil, 1, "cannot reach a node at http://"+closed, "send", "--node", closed, "--to", aliceAddr, "--amount", "1", "--wallet", alice)
	wantFail(t, nil, 1, "--http", "wallet", "balance", "--node", closed, "--wallet", alice)
	// The node refuses: its {"error"} message and status are shown.
	wantFail(t, nil, 1, "400 Bad Request", send("--to", p.get("wallet"), "--amount", "1", "--wallet", alice)...)
	wantFail(t, nil, 1, "insufficient", send("--to", p.get("wallet"), "--amount", "1", "--wallet", alice)...)

	// Nobody mines: --wait ends at --timeout, having printed the tx.
	code, out, errOut := runCmd(t, nil, send("--to", aliceAddr, "--amount", "1", "--wallet", nodeKey(p), "--wait", "--timeout", "1s")...)
	if code != 1 || !strings.Contains(errOut, "not in a main-chain block after 1s") {
		t.Errorf("--wait without a miner: exit %d, stderr %q", code, errOut)
	}
	id := field(t, out, "tx")
	pending := apitest.MustJSON[struct {
		Transactions []chain.TxJSON `json:"transactions"`
	}](t, 200, "GET", p.url()+"/transactions/pending", nil)
	if len(pending.Transactions) != 1 || pending.Transactions[0].ID != id {
		t.Errorf("pending %+v, want tx %s", pending.Transactions, id)
	}
	// The next send counts the pending one for its nonce.
	out = mustRun(t, nil, send("--to", aliceAddr, "--amount", "2", "--wallet", nodeKey(p))...)
	if !strings.Contains(out, "nonce 1)") {
		t.Errorf("second pending send: %q, want nonce 1", out)
	}
	if r := mine(t, p); len(r.Transactions) != 3 {
		t.Errorf("mined %d transactions, want the coinbase and both sends", len(r.Transactions))
	}
	if b := balanceOf(t, p, aliceAddr); b.Balance != 3 {
		t.Errorf("alice %d, want 3", b.Balance)
	}
	if code, out, _ := runCmd(t, nil, "send", "-h"); code != 0 || !strings.Contains(out, "--wait") {
		t.Errorf("send -h: exit %d, %q", code, out)
	}
}

// TestTxSign: offline signatures the node accepts, with each source of the
// network id giving the same bytes.
func TestTxSign(t *testing.T) {
	p := startNode(t, "node", t.TempDir())
	mine(t, p)
	bob := chain.NewWallet().Address().String()
	base := []string{"tx", "sign", "--wallet", nodeKey(p), "--to", bob, "--amount", "5", "--fee", "1", "--nonce", "0"}
	byNode := mustRun(t, nil, append(base, "--node", p.url())...)
	byDifficulty := mustRun(t, nil, append(base, "--difficulty", "8")...) // the nodes' --difficulty
	byNetwork := mustRun(t, []string{"GOSSIPCHAIN_NETWORK=" + p.get("genesis")}, base...)
	if byNode != byDifficulty || byNode != byNetwork {
		t.Fatalf("different signatures:\n%s%s%s", byNode, byDifficulty, byNetwork)
	}
	var j chain.TxJSON
	if err := json.Unmarshal([]byte(byNode), &j); err != nil || j.Sender != p.get("wallet") || j.Recipient != bob || j.Amount != 5 || j.Fee != 1 {
		t.Fatalf("tx sign printed %q (%v)", byNode, err)
	}
	// The command line wins over the environment.
	if out := mustRun(t, []string{"GOSSIPCHAIN_NODE=http://127.0.0.1:1"}, append(base, "--difficulty", "8")...); out != byNode {
		t.Errorf("--difficulty with GOSSIPCHAIN_NODE set: %q", out)
	}

	// Another network's signature is refused; then the right one accepted.
	other := mustRun(t, nil, append(base, "--difficulty", "9")...)
	if code, body := apitest.Call(t, "POST", p.url()+"/transactions/new", other); code != 400 || !strings.Contains(string(body), "signature") {
		t.Errorf("tx for another network: %d %s", code, body)
	}
	reply := apitest.MustJSON[txReply](t, 201, "POST", p.url()+"/transactions/new", byNode)
	if reply.ID != j.ID {
		t.Errorf("node took tx %s, tx sign printed %s", reply.ID, j.ID)
	}
	mine(t, p)
	if b := balanceOf(t, p, bob); b.Balance != 5 {
		t.Errorf("bob %d, want 5", b.Balance)
	}

	wantFail(t, nil, 2, "which network?", base...)
	wantFail(t, nil, 2, "not several", append(base, "--difficulty", "8", "--network", p.get("genesis"))...)
	wantFail(t, []string{"GOSSIPCHAIN_NETWORK=" + p.get("genesis"), "GOSSIPCHAIN_DIFFICULTY=8"}, 2, "not several", base...)
	wantFail(t, nil, 2, "--network \"abc\"", append(base, "--network", "abc")...)
	wantFail(t, nil, 2, "--difficulty 65", append(base, "--difficulty", "65")...)
	wantFail(t, nil, 2, "--nonce is missing", "tx", "sign", "--wallet", nodeKey(p), "--to", bob, "--amount", "5", "--difficulty", "8")
	wantFail(t, nil, 2, "want 64 hex characters", "tx", "sign", "--to", "xyz", "--amount", "5", "--nonce", "0", "--difficulty", "8")
	wantFail(t, nil, 1, "cannot reach", append(base, "--node", fmt.Sprintf("127.0.0.1:%d", apitest.ClosedPort(t)))...)
	wantFail(t, nil, 2, "gossipchain tx sign", "tx", "frob")
}

// TestClientToken: the token goes out as a bearer header, from --token,
// GOSSIPCHAIN_HTTP_TOKEN or the data directory's cookie file (for a node
// on loopback only).
func TestClientToken(t *testing.T) {
	var mu sync.Mutex
	var auth, ctype []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth, ctype = append(auth, r.Header.Get("Authorization")), append(ctype, r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasPrefix(r.URL.Path, "/balance/"):
			fmt.Fprintf(w, `{"address":%q,"balance":7,"nonce":2}`, strings.TrimPrefix(r.URL.Path, "/balance/"))
		case r.URL.Path == "/status":
			fmt.Fprintf(w, `{"genesis":%q,"index":1}`, chain.NetworkID(chain.DefaultParams()))
		default:
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"this API needs a token"}`)
		}
	}))
	defer srv.Close()
	last := func() string {
		mu.Lock()
		defer mu.Unlock()
		return auth[len(auth)-1]
	}
	data := t.TempDir()
	mustRun(t, nil, "wallet", "--data-dir", data)
	args := []string{"wallet", "balance", "--data-dir", data, "--node", srv.URL}

	if out := mustRun(t, nil, args...); field(t, out, "balance") != "7" || field(t, out, "nonce") != "2" || last() != "" {
		t.Errorf("no token: %q, Authorization %q", out, last())
	}
	os.WriteFile(filepath.Join(data, cookieFile), []byte("from-cookie\n"), 0o600)
	if mustRun(t, nil, args...); last() != "Bearer from-cookie" {
		t.Errorf("cookie: Authorization %q", last())
	}
	if mustRun(t, []string{tokenEnv + "=from-env"}, args...); last() != "Bearer from-env" {
		t.Errorf("%s: Authorization %q", tokenEnv, last())
	}
	if mustRun(t, []string{tokenEnv + "=from-env"}, append(args, "--token", "from-flag")...); last() != "Bearer from-flag" {
		t.Errorf("--token: Authorization %q", last())
	}
	// A 401 says what to do; the POST carries the JSON content type.
	bob := chain.NewWallet().Address().String()
	wantFail(t, nil, 1, "--token", "send", "--data-dir", data, "--node", srv.URL, "--to", bob, "--amount", "1")
	mu.Lock()
	if ctype[len(ctype)-1] != "application/json" {
		t.Errorf("POST Content-Type %q", ctype[len(ctype)-1])
	}
	mu.Unlock()
}

// TestCookieOnlyForLoopback: the data directory's token goes to a node on
// this machine only.
func TestCookieOnlyForLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": true, "::1": true, "localhost": true, "LOCALHOST": true,
		"192.168.1.20": false, "node.example": false, "0.0.0.0": false, "": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}
