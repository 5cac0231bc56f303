package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/api/apitest"
	"github.com/gossipchain/gossipchain/chain"
)

// Replies of the API, as a client reads them.
type (
	mineReply struct {
		Message      string         `json:"message"`
		Index        uint64         `json:"index"`
		Transactions []chain.TxJSON `json:"transactions"`
		Proof        uint64         `json:"proof"`
		PreviousHash string         `json:"previous_hash"`
		Hash         string         `json:"hash"`
	}
	txReply struct {
		Message string `json:"message"`
		ID      string `json:"id"`
	}
	chainReply struct {
		Chain  []chain.BlockJSON `json:"chain"`
		Length int               `json:"length"`
	}
	balanceReply struct {
		Address string `json:"address"`
		Balance uint64 `json:"balance"`
		Nonce   uint64 `json:"nonce"`
	}
	statusReply struct {
		PeerID          string   `json:"peer_id"`
		Addrs           []string `json:"addrs"`
		Address         string   `json:"address"`
		Index           uint64   `json:"index"`
		Head            string   `json:"head"`
		Peers           int      `json:"peers"`
		LeadingZeroBits int      `json:"leading_zero_bits"`
		Genesis         string   `json:"genesis"`
	}
	registerReply struct {
		Message    string   `json:"message"`
		TotalNodes []string `json:"total_nodes"`
	}
	resolveReply struct {
		Message  string            `json:"message"`
		NewChain []chain.BlockJSON `json:"new_chain"`
		Chain    []chain.BlockJSON `json:"chain"`
		Errors   []string          `json:"errors"`
	}
)

func mine(t *testing.T, p *proc) mineReply {
	t.Helper()
	return apitest.MustJSON[mineReply](t, 200, "GET", p.url()+"/mine", nil)
}

func status(t *testing.T, p *proc) statusReply {
	t.Helper()
	return apitest.MustJSON[statusReply](t, 200, "GET", p.url()+"/status", nil)
}

// TestTutorialWalkthrough is the tutorial's curl session against the
// binary: mine, send to another address, mine; the chain shows the
// transaction and the balances add up.
func TestTutorialWalkthrough(t *testing.T) {
	p := startNode(t, "node", t.TempDir())
	me := p.get("wallet")
	reward := chain.DefaultParams().BlockReward

	st := status(t, p)
	if st.PeerID != p.get("peer_id") || st.Address != me || st.Index != 1 || st.LeadingZeroBits != 8 ||
		st.Genesis != p.get("genesis") || !slices.Equal(st.Addrs, p.addrs()) {
		t.Fatalf("/status %+v does not match the start-up lines:\n%s", st, p.stdout())
	}

	m1 := mine(t, p)
	if m1.Message != "New Block Forged" || m1.Index != 2 || m1.PreviousHash != p.get("genesis") ||
		len(m1.Transactions) != 1 || m1.Transactions[0].Sender != "0" || m1.Transactions[0].Recipient != me {
		t.Fatalf("first /mine: %+v", m1)
	}
	other := apitest.Wallet(7).Address().String()
	sent := apitest.MustJSON[txReply](t, 201, "POST", p.url()+"/transactions/new",
		fmt.Sprintf(`{"sender":%q,"recipient":%q,"amount":5}`, me, other))
	if sent.Message != "Transaction will be added to Block 3" {
		t.Errorf("/transactions/new: %+v", sent)
	}
	m2 := mine(t, p)
	if m2.Index != 3 || len(m2.Transactions) != 2 || m2.Transactions[1].ID != sent.ID {
		t.Fatalf("second /mine: %+v", m2)
	}

	ch := apitest.MustJSON[chainReply](t, 200, "GET", p.url()+"/chain", nil)
	if ch.Length != 3 || len(ch.Chain) != 3 || ch.Chain[2].Hash != m2.Hash || ch.Chain[1].Hash != m1.Hash {
		t.Fatalf("/chain: %+v", ch)
	}
	found := false
	for _, tx := range ch.Chain[2].Transactions {
		if tx.ID == sent.ID && tx.Sender == me && tx.Recipient == other && tx.Amount == 5 {
			found = true
		}
	}
	if !found {
		t.Errorf("block 3 does not hold the transaction %s: %+v", sent.ID, ch.Chain[2].Transactions)
	}
	mineBal := apitest.MustJSON[balanceReply](t, 200, "GET", p.url()+"/balance/"+me, nil)
	theirs := apitest.MustJSON[balanceReply](t, 200, "GET", p.url()+"/balance/"+other, nil)
	if theirs.Balance != 5 || mineBal.Balance != 2*reward-5 || mineBal.Nonce != 1 {
		t.Errorf("balances: mine %+v, theirs %+v", mineBal, theirs)
	}
	if mineBal.Balance+theirs.Balance != 2*reward {
		t.Errorf("balances %d + %d do not add up to the %d mined", mineBal.Balance, theirs.Balance, 2*reward)
	}
	code, data := apitest.Call(t, "GET", p.url()+"/metrics", nil)
	if code != 200 || !strings.Contains(string(data), "gossipchain_chain_index 3") || !strings.Contains(string(data), "gossipchain_mine_block_seconds_count 2") {
		t.Errorf("/metrics: %d\n%s", code, tail(string(data), 2000))
	}
}

// TestBadRequests sends every 400 case of /transactions/new and
// /nodes/register to the binary.
func TestBadRequests(t *testing.T) {
	p := startNode(t, "node", t.TempDir())
	t.Run("transactions/new", func(t *testing.T) { apitest.TxBadRequests(t, p.url()) })
	t.Run("nodes/register", func(t *testing.T) { apitest.RegisterBadRequests(t, p.url(), p.get("peer_id")) })
	code, data := apitest.Call(t, "POST", p.url()+"/transactions/new", `{"recipient":"`+strings.Repeat("a", 70<<10)+`","amount":1}`)
	apitest.WantError(t, code, data, 413, "limit")
}

// wantReplaced checks the first resolve after connecting to a node with a
// longer chain: our chain is replaced by want's blocks.
func wantReplaced(t *testing.T, r resolveReply, want []chain.BlockJSON) {
	t.Helper()
	got := r.NewChain
	switch r.Message {
	case "Our chain was replaced":
	case "Our chain is authoritative":
		// A node also syncs from a peer with more work as soon as it
		// connects; if that finished before the resolve began, nothing
		// was left to replace. The chain must be the same.
		got = r.Chain
		t.Logf("the sync on connect replaced the chain before /nodes/resolve (errors %q)", r.Errors)
	default:
		t.Fatalf("resolve: %+v", r)
	}
	if len(got) != len(want) || got[len(got)-1].Hash != want[len(want)-1].Hash {
		t.Fatalf("after resolve: %d blocks ending %s, want %d ending %s (errors %q)",
			len(got), got[len(got)-1].Hash, len(want), want[len(want)-1].Hash, r.Errors)
	}
}

// TestTwoNodesResolve: nodes on loopback registered with /nodes/register
// (multiaddr form, then the tutorial's http://host:port form); the one that
// mined more wins /nodes/resolve, and a second resolve is authoritative.
func TestTwoNodesResolve(t *testing.T) {
	a := startNode(t, "a", t.TempDir())
	b := startNode(t, "b", t.TempDir())
	if a.get("genesis") != b.get("genesis") {
		t.Fatalf("genesis differs: %s, %s", a.get("genesis"), b.get("genesis"))
	}
	// Apart, a mines one block and b three: b's chain is longer.
	mine(t, a)
	for range 3 {
		mine(t, b)
	}
	bChain := apitest.MustJSON[chainReply](t, 200, "GET", b.url()+"/chain", nil).Chain

	reg := apitest.MustJSON[registerReply](t, 201, "POST", a.url()+"/nodes/register", map[string]any{"nodes": []string{b.addrs()[0]}})
	if reg.Message != "New nodes have been added" || !slices.Equal(reg.TotalNodes, []string{b.get("peer_id")}) {
		t.Fatalf("register by multiaddr: %+v", reg)
	}
	r := apitest.MustJSON[resolveReply](t, 200, "GET", a.url()+"/nodes/resolve", nil)
	wantReplaced(t, r, bChain)
	r = apitest.MustJSON[resolveReply](t, 200, "GET", a.url()+"/nodes/resolve", nil)
	if r.Message != "Our chain is authoritative" || len(r.Chain) != len(bChain) || r.Errors != nil {
		t.Fatalf("second resolve on a: %s, %d blocks, errors %q", r.Message, len(r.Chain), r.Errors)
	}

	// c registers b the tutorial's way, by its API's URL.
	c := startNode(t, "c", t.TempDir())
	mine(t, c)
	reg = apitest.MustJSON[registerReply](t, 201, "POST", c.url()+"/nodes/register", map[string]any{"nodes": []string{b.url()}})
	if !slices.Equal(reg.TotalNodes, []string{b.get("peer_id")}) {
		t.Fatalf("register by URL: %+v", reg)
	}
	r = apitest.MustJSON[resolveReply](t, 200, "GET", c.url()+"/nodes/resolve", nil)
	wantReplaced(t, r, bChain)
	r = apitest.MustJSON[resolveReply](t, 200, "GET", c.url()+"/nodes/resolve", nil)
	if r.Message != "Our chain is authoritative" || r.Errors != nil {
		t.Fatalf("second resolve on c: %s, errors %q", r.Message, r.Errors)
	}

	// Connected, a block mined on b reaches a and c by gossip.
	m := mine(t, b)
	for _, p := range []*proc{a, c} {
		waitFor(t, p.name+" to receive b's block "+m.Hash, 20*time.Second, func() bool { return status(t, p).Head == m.Hash })
	}
	if st := status(t, b); st.Peers != 2 {
		t.Errorf("b has %d peers, want a and c", st.Peers)
	}
}

// TestRestartAfterSIGKILL: a node killed without warning and restarted on
// the same data directory keeps its chain, peer ID and wallet.
func TestRestartAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	p := startNode(t, "first run", dir)
	for range 3 {
		mine(t, p)
	}
	apitest.MustJSON[txReply](t, 201, "POST", p.url()+"/transactions/new", fmt.Sprintf(`{"recipient":%q,"amount":3}`, apitest.Wallet(9).Address()))
	last := mine(t, p)
	before := status(t, p)
	if code := p.signal(syscall.SIGKILL); code != -1 {
		t.Fatalf("exit code %d after SIGKILL", code)
	}

	q := startNode(t, "second run", dir)
	after := status(t, q)
	if after.Head != last.Hash || after.Index != before.Index || after.Index != 5 {
		t.Errorf("head after restart %d %s, want %d %s", after.Index, after.Head, before.Index, last.Hash)
	}
	if q.get("peer_id") != p.get("peer_id") || after.PeerID != before.PeerID {
		t.Errorf("peer ID %s after restart, was %s", q.get("peer_id"), p.get("peer_id"))
	}
	if q.get("wallet") != p.get("wallet") || after.Address != before.Address {
		t.Errorf("wallet %s after restart, was %s", q.get("wallet"), p.get("wallet"))
	}
	if q.get("head") != fmt.Sprintf("5 %s", last.Hash) {
		t.Errorf("head line %q", q.get("head"))
	}
	bal := apitest.MustJSON[balanceReply](t, 200, "GET", q.url()+"/balance/"+apitest.Wallet(9).Address().String(), nil)
	if bal.Balance != 3 {
		t.Errorf("recipient's balance after restart: %+v", bal)
	}
	// The wallet subcommand reads the same key (the node is running: the
	// key file is read, not locked).
	_, out, _ := runCmd(t, nil, "wallet", "--data-dir", dir)
	if m := addrLine.FindStringSubmatch(out); m == nil || m[1] != p.get("wallet") || strings.Contains(out, "created") {
		t.Errorf("wallet subcommand: %q, want address %s", out, p.get("wallet"))
	}
	// And the chain still grows.
	if m := mine(t, q); m.Index != 6 || m.PreviousHash != last.Hash {
		t.Errorf("mine after restart: %+v", m)
	}
}

// TestSIGINT: Ctrl-C stops the node cleanly with exit code 0.
func TestSIGINT(t *testing.T) {
	p := startNode(t, "node", t.TempDir(), "--mine")
	if p.get("mining") != "on" {
		t.Errorf("--mine: no \"mining: on\" line")
	}
	waitFor(t, "a block mined by --mine", 30*time.Second, func() bool { return status(t, p).Index >= 2 })
	if code := p.signal(syscall.SIGINT); code != 0 {
		t.Errorf("exit code %d after SIGINT, want 0; stderr tail:\n%s", code, tail(p.stderr.String(), 3000))
	}
	if !strings.Contains(p.stderr.String(), "shutting down") {
		t.Errorf("no shutdown log line")
	}
}

// TestEnvironment: a node configured by GOSSIPCHAIN_* variables only, as
// docker-compose does, with the HTTP API off.
func TestEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := startProc(t, "env node", dir, []string{
		"GOSSIPCHAIN_DATA_DIR=" + dir,
		"GOSSIPCHAIN_MDNS=false",
		"GOSSIPCHAIN_LISTEN=/ip4/127.0.0.1/tcp/0",
		"GOSSIPCHAIN_DIFFICULTY=6",
		"GOSSIPCHAIN_HTTP=off",
		"GOSSIPCHAIN_CONSOLE=false",
		"GOSSIPCHAIN_LOG_FORMAT=json",
		"GOSSIPCHAIN_LOG_LEVEL=debug",
	}, nil)
	if p.get("http") != "off" || p.get("data_dir") != dir || !strings.Contains(p.get("network"), "difficulty 6") {
		t.Errorf("start-up lines:\n%s", p.stdout())
	}
	waitFor(t, "a JSON log line", 10*time.Second, func() bool { return strings.Contains(p.stderr.String(), `"msg":"node started"`) })
}

// TestConsoleFromPipe: with --console and commands on stdin, the console
// runs them and, at the end of input, the node shuts down with exit 0.
func TestConsoleFromPipe(t *testing.T) {
	dir := t.TempDir()
	args := append(nodeArgs(dir), "--console=true")
	p := startProc(t, "console node", dir, nil, strings.NewReader("mine\nstatus\n"), args...)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the node did not stop at the end of the console's input; stdout:\n%s", p.stdout())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d, want 0; stderr tail:\n%s", code, tail(p.stderr.String(), 3000))
	}
	// What the console printed, after the start-up lines: its status
	// names the node.
	_, consoleOut, _ := strings.Cut(p.stdout(), "http: "+p.get("http")+"\n")
	if !strings.Contains(consoleOut, p.get("peer_id")) {
		t.Errorf("console output does not look like status:\n%s", consoleOut)
	}
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

// TestDataDirInUse: a second node on a running node's data directory exits
// 1 with a clear message rather than hanging or corrupting the store.
func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	startNode(t, "first", dir)
	code, out, errOut := runCmd(t, nil, nodeArgs(dir)...)
	if code != 1 || !strings.Contains(errOut, "locked by another process") {
		t.Errorf("second node on the same data dir: exit %d, stderr %q", code, tail(errOut, 2000))
	}
	if strings.Contains(out, "http:") {
		t.Errorf("the second node printed start-up lines:\n%s", out)
	}
}
