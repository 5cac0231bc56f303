package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/api/apitest"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

type blockReply struct {
	chain.BlockJSON
	MainChain bool `json:"main_chain"`
}

type chainReply struct {
	Chain  []chain.BlockJSON `json:"chain"`
	Length int               `json:"length"`
}

type txReply struct {
	Message string `json:"message"`
	ID      string `json:"id"`
	Sender  string `json:"sender"`
	Nonce   uint64 `json:"nonce"`
}

type balanceReply struct {
	Address string `json:"address"`
	Balance uint64 `json:"balance"`
	Nonce   uint64 `json:"nonce"`
}

// TestWalkthrough is the tutorial's session: mine, send, mine, and the
// chain shows the transaction; balances add up.
func TestWalkthrough(t *testing.T) {
	tn := newTestNode(t)
	me := tn.n.Address().String()
	reward := chain.TestParams().BlockReward
	genesis := tn.n.Chain().GenesisHash().String()

	mined := mustJSON[mineResponse](t, 200, "GET", tn.url+"/mine", nil)
	if mined.Message != "New Block Forged" || mined.Index != 2 || mined.PreviousHash != genesis || len(mined.Hash) != 64 {
		t.Fatalf("first /mine: %+v", mined)
	}
	if len(mined.Transactions) != 1 || mined.Transactions[0].Sender != "0" || mined.Transactions[0].Recipient != me || mined.Transactions[0].Amount != reward {
		t.Fatalf("first block's coinbase: %+v", mined.Transactions)
	}

	other := seedWallet(1).Address().String()
	// The tutorial's body, with this node's address as the sender, plus a fee.
	sent := mustJSON[txReply](t, 201, "POST", tn.url+"/transactions/new",
		fmt.Sprintf(`{"sender":%q,"recipient":%q,"amount":7,"fee":1}`, me, other))
	if sent.Message != "Transaction will be added to Block 3" || len(sent.ID) != 64 || sent.Sender != me || sent.Nonce != 0 {
		t.Fatalf("/transactions/new: %+v", sent)
	}
	pending := mustJSON[pendingResponse](t, 200, "GET", tn.url+"/transactions/pending", nil)
	if pending.Count != 1 || pending.Transactions[0].ID != sent.ID {
		t.Fatalf("pending: %+v", pending)
	}
	// Without a sender it is sent from the node's wallet too.
	sent2 := mustJSON[txReply](t, 201, "POST", tn.url+"/transactions/new", fmt.Sprintf(`{"recipient":%q,"amount":2}`, other))
	if sent2.Sender != me || sent2.Nonce != 1 {
		t.Fatalf("second transfer: sender %s nonce %d, want %s and 1", sent2.Sender, sent2.Nonce, me)
	}

	mined = mustJSON[mineResponse](t, 200, "POST", tn.url+"/mine", nil)
	if mined.Index != 3 || len(mined.Transactions) != 3 {
		t.Fatalf("second /mine: %+v", mined)
	}
	if mined.Transactions[0].Amount != reward+1 {
		t.Errorf("coinbase %d, want reward %d plus fee 1", mined.Transactions[0].Amount, reward)
	}

	ch := mustJSON[chainReply](t, 200, "GET", tn.url+"/chain", nil)
	if ch.Length != 3 || len(ch.Chain) != 3 {
		t.Fatalf("/chain: length %d, %d blocks", ch.Length, len(ch.Chain))
	}
	for i, b := range ch.Chain {
		if b.Index != uint64(i+1) {
			t.Errorf("chain[%d].index = %d", i, b.Index)
		}
		if i > 0 && b.PreviousHash != ch.Chain[i-1].Hash {
			t.Errorf("chain[%d] does not link to chain[%d]", i, i-1)
		}
	}
	var ids []string
	for _, tx := range ch.Chain[2].Transactions {
		ids = append(ids, tx.ID)
	}
	if !slices.Contains(ids, sent.ID) || !slices.Contains(ids, sent2.ID) {
		t.Errorf("block 3 holds %v, want %s and %s", ids, sent.ID, sent2.ID)
	}

	mine := mustJSON[balanceReply](t, 200, "GET", tn.url+"/balance/"+me, nil)
	theirs := mustJSON[balanceReply](t, 200, "GET", tn.url+"/balance/"+other, nil)
	if theirs.Balance != 9 || theirs.Nonce != 0 {
		t.Errorf("recipient: %+v, want balance 9", theirs)
	}
	if mine.Balance != 2*reward-9 || mine.Nonce != 2 {
		t.Errorf("miner: %+v, want balance %d nonce 2", mine, 2*reward-9)
	}
	if mine.Balance+theirs.Balance != 2*reward {
		t.Errorf("balances %d + %d do not add up to the %d mined", mine.Balance, theirs.Balance, 2*reward)
	}

	// The same block by index and by hash.
	byIndex := mustJSON[blockReply](t, 200, "GET", tn.url+"/blocks/3", nil)
	byHash := mustJSON[blockReply](t, 200, "GET", tn.url+"/blocks/"+byIndex.Hash, nil)
	if byIndex.Hash != mined.Hash || byHash.Index != 3 || !byHash.MainChain {
		t.Errorf("/blocks: by index %+v, by hash %+v", byIndex, byHash)
	}

	st := mustJSON[statusResponse](t, 200, "GET", tn.url+"/status", nil)
	if st.Index != 3 || st.Head != mined.Hash || st.Address != me || st.PeerID != tn.n.ID().String() ||
		len(st.Addrs) == 0 || st.Mempool != 0 || st.LeadingZeroBits != 4 || st.Difficulty != chain.TestParams().InitialBits ||
		st.Genesis != genesis || st.Network != "gossipchain-test" {
		t.Errorf("/status: %+v", st)
	}
	h := mustJSON[healthResponse](t, 200, "GET", tn.url+"/health", nil)
	if h.Status != "ok" || h.Index != 3 {
		t.Errorf("/health: %+v", h)
	}
}

// TestNewTxBadRequests covers every 400 of /transactions/new, then the
// signed path's 201 and 409.
func TestNewTxBadRequests(t *testing.T) {
	tn := newTestNode(t)
	apitest.TxBadRequests(t, tn.url) // funds apitest.Wallet(200) with 20
	other := apitest.Wallet(200)
	to := seedWallet(3).Address()
	url := tn.url + "/transactions/new"

	// A signed transaction from another wallet is accepted once; again is 409.
	j := other.NewTx(tn.n.Chain().GenesisHash(), to, 5, 1, 0).JSON()
	ok := map[string]any{"sender": j.Sender, "recipient": j.Recipient, "amount": j.Amount, "fee": j.Fee, "nonce": j.Nonce, "signature": j.Signature, "id": j.ID}
	r := mustJSON[txReply](t, 201, "POST", url, ok)
	if r.Message != "Transaction will be added to Block 4" || r.ID != j.ID {
		t.Errorf("signed tx: %+v", r)
	}
	code, data := call(t, "POST", url, ok)
	wantError(t, code, data, 409, "already known")
	// An unknown field is refused, naming it: a misspelt "fees" must not
	// silently mean fee 0, and nothing is created.
	code, data = call(t, "POST", url, fmt.Sprintf(`{"recipient":%q,"amount":1,"fees":5}`, to))
	wantError(t, code, data, 400, `unknown field "fees"`)
	if !strings.Contains(string(data), `\"fee\"`) {
		t.Errorf("the error does not list the accepted fields: %s", data)
	}
	// A transaction as GET /transactions/pending shows it (every field) is accepted.
	pending := mustJSON[pendingResponse](t, 200, "GET", tn.url+"/transactions/pending", nil)
	if pending.Count != 1 {
		t.Fatalf("pending after a refused unknown field: %+v", pending)
	}
	full, err := json.Marshal(other.NewTx(tn.n.Chain().GenesisHash(), to, 1, 0, 1).JSON())
	if err != nil {
		t.Fatal(err)
	}
	mustJSON[txReply](t, 201, "POST", url, full)
	bal := mustJSON[balanceReply](t, 200, "GET", tn.url+"/balance/"+other.Address().String(), nil)
	if bal.Balance != 20 || bal.Nonce != 2 {
		t.Errorf("other wallet: %+v, want balance 20 (until mined) and next nonce 2", bal)
	}
}

func TestRegisterBadRequests(t *testing.T) {
	if apitest.MaxRegisterNodes != maxRegisterNodes {
		t.Fatalf("apitest.MaxRegisterNodes %d != maxRegisterNodes %d", apitest.MaxRegisterNodes, maxRegisterNodes)
	}
	tn := newTestNode(t)
	apitest.RegisterBadRequests(t, tn.url, randomPeerID(t))
	// An HTTP server that is not a gossipchain node.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer other.Close()
	code, data := call(t, "POST", tn.url+"/nodes/register", map[string]any{"nodes": []string{other.URL}})
	wantError(t, code, data, 502, "not a gossipchain node")
}

var closedPort = apitest.ClosedPort

type registerReply struct {
	Message    string          `json:"message"`
	TotalNodes []string        `json:"total_nodes"`
	Failed     []registerError `json:"failed"`
	Pending    []registerError `json:"pending"`
}

type resolveReply struct {
	Message  string            `json:"message"`
	NewChain []chain.BlockJSON `json:"new_chain"`
	Chain    []chain.BlockJSON `json:"chain"`
	Errors   []string          `json:"errors"`
}

// TestRegisterAndResolve connects nodes by both forms of /nodes/register
// and resolves a fork towards the longer chain.
func TestRegisterAndResolve(t *testing.T) {
	a, b, c := newTestNode(t), newTestNode(t), newTestNode(t)

	// Alone, a resolve keeps our chain.
	r := mustJSON[resolveReply](t, 200, "GET", a.url+"/nodes/resolve", nil)
	if r.Message != "Our chain is authoritative" || len(r.Chain) != 1 || r.NewChain != nil {
		t.Fatalf("resolve alone: %+v", r)
	}

	// a mines one block, b three: a fork.
	mustJSON[mineResponse](t, 200, "GET", a.url+"/mine", nil)
	for range 3 {
		mustJSON[mineResponse](t, 200, "GET", b.url+"/mine", nil)
	}
	bHead := b.n.Chain().Tip().Hash.String()

	// a registers b by multiaddr and resolves at once.
	reg := mustJSON[registerReply](t, 201, "POST", a.url+"/nodes/register", map[string]any{"nodes": []string{b.n.Addrs()[0]}})
	if reg.Message != "New nodes have been added" || !slices.Equal(reg.TotalNodes, []string{b.n.ID().String()}) || reg.Failed != nil {
		t.Fatalf("register: %+v", reg)
	}
	r = mustJSON[resolveReply](t, 200, "GET", a.url+"/nodes/resolve", nil)
	switch r.Message {
	case "Our chain was replaced":
		if len(r.NewChain) != 4 || r.NewChain[3].Hash != bHead {
			t.Fatalf("replaced by %d blocks, want b's 4 ending %s", len(r.NewChain), bHead)
		}
	case "Our chain is authoritative":
		// The node syncs from a peer with more work as soon as it
		// connects; if that finished before the resolve began, there was
		// nothing left to replace. The outcome must be the same.
		if len(r.Chain) != 4 || r.Chain[3].Hash != bHead {
			t.Fatalf("authoritative with %d blocks (errors %q), want b's 4 ending %s", len(r.Chain), r.Errors, bHead)
		}
		t.Logf("the sync on connect replaced the chain before /nodes/resolve did")
	default:
		t.Fatalf("resolve: %+v", r)
	}
	r = mustJSON[resolveReply](t, 200, "GET", a.url+"/nodes/resolve", nil)
	if r.Message != "Our chain is authoritative" || len(r.Chain) != 4 || r.Errors != nil {
		t.Fatalf("second resolve: %s with %d blocks, errors %q", r.Message, len(r.Chain), r.Errors)
	}

	// c registers a by the tutorial's http form; an unreachable entry
	// beside it is listed as pending (kept and retried), not failed.
	closed := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	reg = mustJSON[registerReply](t, 201, "POST", c.url+"/nodes/register", map[string]any{"nodes": []string{a.url, closed}})
	if !slices.Equal(reg.TotalNodes, []string{a.n.ID().String()}) || len(reg.Failed) != 0 || len(reg.Pending) != 1 || reg.Pending[0].Node != closed {
		t.Fatalf("register by URL: %+v", reg)
	}
	r = mustJSON[resolveReply](t, 200, "GET", c.url+"/nodes/resolve", nil)
	last := r.Chain
	if r.NewChain != nil {
		last = r.NewChain
	}
	if len(last) != 4 || last[3].Hash != bHead {
		t.Fatalf("c after resolve: %s, %d blocks, errors %q", r.Message, len(last), r.Errors)
	}

	// Nobody was penalised: a is still connected to b and c.
	peers := mustJSON[peersResponse](t, 200, "GET", a.url+"/peers", nil)
	if peers.Total != 2 {
		t.Errorf("a's /peers: %+v, want b and c", peers)
	}
}

func TestBlocksBalanceErrors(t *testing.T) {
	tn := newTestNode(t)
	for _, c := range []struct {
		path   string
		code   int
		substr string
	}{
		{"/blocks/2", 404, "not found"},
		{"/blocks/0", 404, "not found"},
		{"/blocks/" + strings.Repeat("ab", 32), 404, "not found"},
		{"/blocks/" + strings.Repeat("zz", 32), 400, "hash"},
		{"/blocks/abc", 400, "index"},
		{"/blocks/-1", 400, "index"},
		{"/blocks/1.5", 400, "index"},
		{"/blocks/99999999999999999999999", 400, "out of range"},
		{"/balance/xyz", 400, "address"},
		{"/balance/" + strings.Repeat("a", 63), 400, "address"},
		{"/nope", 404, "no such endpoint"},
		{"/chain/", 404, "no such endpoint"},
	} {
		code, data := call(t, "GET", tn.url+c.path, nil)
		wantError(t, code, data, c.code, c.substr)
	}
	g := mustJSON[blockReply](t, 200, "GET", tn.url+"/blocks/1", nil)
	if g.Index != 1 || g.Hash != tn.n.Chain().GenesisHash().String() || g.PreviousHash != strings.Repeat("0", 64) || !g.MainChain {
		t.Errorf("genesis: %+v", g)
	}
	b := mustJSON[balanceReply](t, 200, "GET", tn.url+"/balance/"+seedWallet(9).Address().String(), nil)
	if b.Balance != 0 || b.Nonce != 0 {
		t.Errorf("empty account: %+v", b)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	tn := newTestNode(t)
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/chain"},
		{"GET", "/transactions/new"},
		{"POST", "/chain"},
		{"PUT", "/mine"},
		{"GET", "/nodes/register"},
		{"POST", "/mining/start/"},
	} {
		code, data := call(t, c.method, tn.url+c.path, nil)
		if c.path == "/mining/start/" {
			wantError(t, code, data, 404, "no such endpoint")
			continue
		}
		wantError(t, code, data, 405, "not allowed")
	}
}

func TestBodyTooLarge(t *testing.T) {
	tn := newTestNode(t)
	big := `{"recipient":"` + strings.Repeat("a", 70<<10) + `","amount":1}`
	code, data := call(t, "POST", tn.url+"/transactions/new", big)
	wantError(t, code, data, 413, "limit")

	// Without a Content-Length (chunked), the reader's limit catches it.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(big))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", tn.url+"/nodes/register", pr)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, resp.StatusCode, data, 413, "limit")
}

func TestMetrics(t *testing.T) {
	tn := newTestNode(t)
	mustJSON[mineResponse](t, 200, "GET", tn.url+"/mine", nil)
	code, data := call(t, "GET", tn.url+"/metrics", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, data)
	}
	text := string(data)
	for _, name := range []string{
		"gossipchain_chain_index 2",
		"gossipchain_peers 0",
		"gossipchain_mempool_transactions 0",
		"gossipchain_hashrate_hashes_per_second",
		"gossipchain_mining 0",
		"gossipchain_difficulty_leading_zero_bits 4",
		"gossipchain_blocks_received_total",
		"gossipchain_blocks_rejected_total",
		"gossipchain_blocks_synced_total",
		"gossipchain_blocks_mined_total 1",
		"gossipchain_txs_received_total",
		"gossipchain_txs_rejected_total",
		"gossipchain_txs_accepted_total",
		"gossipchain_reorgs_total",
		"gossipchain_peers_penalised_total",
		"gossipchain_mine_block_seconds_count 1",
		"gossipchain_gossip_block_validation_seconds_bucket",
		"gossipchain_gossip_tx_validation_seconds_bucket",
		"gossipchain_sync_seconds_bucket",
		`gossipchain_http_requests_total{code="200",route="GET /mine"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(text, name) {
			t.Errorf("/metrics lacks %q", name)
		}
	}
	tn.metrics.Observe("something_new", 0.5)
	_, data = call(t, "GET", tn.url+"/metrics", nil)
	if !strings.Contains(string(data), `gossipchain_timing_seconds_count{name="something_new"} 1`) {
		t.Errorf("an unknown timing is not exported")
	}
}

func TestMiningStartStop(t *testing.T) {
	tn := newTestNode(t)
	r := mustJSON[miningResponse](t, 200, "POST", tn.url+"/mining/start", nil)
	if !r.Mining {
		t.Fatalf("start: %+v", r)
	}
	waitFor(t, "a mined block", 20*time.Second, func() bool {
		return mustJSON[statusResponse](t, 200, "GET", tn.url+"/status", nil).Index >= 3
	})
	if st := mustJSON[statusResponse](t, 200, "GET", tn.url+"/status", nil); !st.Mining {
		t.Errorf("status while mining: %+v", st)
	}
	r = mustJSON[miningResponse](t, 200, "POST", tn.url+"/mining/stop", nil)
	if r.Mining {
		t.Fatalf("stop: %+v", r)
	}
	// /mine still works while not mining continuously, and after.
	mustJSON[mineResponse](t, 200, "GET", tn.url+"/mine", nil)
}

func TestIndexLists(t *testing.T) {
	tn := newTestNode(t)
	idx := mustJSON[indexResponse](t, 200, "GET", tn.url+"/", nil)
	if !slices.Contains(idx.Endpoints, "POST /transactions/new") || !slices.Contains(idx.Endpoints, "GET /metrics") {
		t.Errorf("index: %+v", idx)
	}
}

func TestStatusFor(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("tx x: %w", chain.ErrBadNonce), 400},
		{fmt.Errorf("tx x: %w", chain.ErrInsufficientBalance), 400},
		{fmt.Errorf("tx x: %w", chain.ErrBadSignature), 400},
		{fmt.Errorf("x: %w", chain.ErrKnownTx), 409},
		{fmt.Errorf("x: %w", chain.ErrMempoolFull), 503},
		{fmt.Errorf("x: %w", chain.ErrNotFound), 404},
		{fmt.Errorf("x: %w", node.ErrNoPeerID), 400},
		{badf("amount"), 400},
		{errChainChanging, 503},
		{fmt.Errorf("disk on fire"), 500},
	} {
		if got := statusFor(c.err); got != c.want {
			t.Errorf("statusFor(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestParseUint(t *testing.T) {
	for _, c := range []struct {
		in       string
		positive bool
		want     uint64
		ok       bool
	}{
		{"1", true, 1, true},
		{"18446744073709551615", true, 1<<64 - 1, true},
		{"0", false, 0, true},
		{"0", true, 0, false},
		{"-0", false, 0, false},
		{"1.0", true, 0, false},
		{"1e2", true, 0, false},
		{`"1"`, true, 0, false},
		{"[1]", true, 0, false},
		{"18446744073709551616", true, 0, false},
	} {
		got, err := parseUint("x", json.RawMessage(c.in), c.positive)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseUint(%s) = %d, %v", c.in, got, err)
		}
	}
}

func TestParseRegisterEntry(t *testing.T) {
	for _, c := range []struct {
		in, url string
		ok      bool
	}{
		{"http://127.0.0.1:5001", "http://127.0.0.1:5001", true},
		{"http://node1:5000/", "http://node1:5000", true},
		{"https://example.org", "https://example.org", true},
		{"192.168.0.5:5000", "http://192.168.0.5:5000", true},
		{"[::1]:5000", "http://[::1]:5000", true},
		{"localhost", "", false},
		{"http://user:pw@host:1", "", false},
		{"mailto:x@y", "", false},
	} {
		e, err := parseRegisterEntry(c.in)
		if (err == nil) != c.ok || (c.ok && e.url.String() != c.url) {
			t.Errorf("parseRegisterEntry(%q) = %+v, %v", c.in, e, err)
		}
	}
	if e, err := parseRegisterEntry("/ip4/127.0.0.1/tcp/1/p2p/" + randomPeerID(t)); err != nil || e.addr == "" {
		t.Errorf("multiaddr entry: %+v, %v", e, err)
	}
}

// randomPeerID is a valid peer ID that no node has.
func randomPeerID(t *testing.T) string {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// A transfer from the node's wallet that waits behind the wallet's own
// parked transfer (evicted from a full pool) is acknowledged, but its 201
// says it is not pending yet instead of naming the next block.
func TestNewTxBehindParkedSaysSo(t *testing.T) {
	tn := newTestNodeOpts(t, Options{}, func(c *node.Config) { c.MempoolMaxTxs = 2 })
	ctx := context.Background()
	bob, carol := seedWallet(1), seedWallet(2)
	for range 2 {
		if _, err := tn.n.MineBlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range []*chain.Wallet{bob, carol} {
		if _, err := tn.n.Send(ctx, w.Address(), 10, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tn.n.MineBlock(ctx); err != nil {
		t.Fatal(err)
	}
	to := seedWallet(3).Address().String()
	first := mustJSON[txReply](t, 201, "POST", tn.url+"/transactions/new", fmt.Sprintf(`{"recipient":%q,"amount":1,"fee":1}`, to))
	if !strings.HasPrefix(first.Message, "Transaction will be added to Block") {
		t.Fatalf("first transfer: %q", first.Message)
	}
	g, recipient := tn.n.Chain().GenesisHash(), seedWallet(3).Address()
	for _, tx := range []*chain.Tx{bob.NewTx(g, recipient, 1, 5, 0), carol.NewTx(g, recipient, 1, 6, 0)} {
		if err := tn.n.Chain().SubmitTx(tx); err != nil { // better fees: the pool evicts ours
			t.Fatal(err)
		}
	}
	if len(tn.n.ParkedTxs()) != 1 {
		t.Fatalf("setup: %d parked, want the node's first transfer", len(tn.n.ParkedTxs()))
	}
	second := mustJSON[txReply](t, 201, "POST", tn.url+"/transactions/new", fmt.Sprintf(`{"recipient":%q,"amount":1,"fee":1}`, to))
	if second.Nonce != first.Nonce+1 || !strings.Contains(second.Message, "not pending yet") || strings.Contains(second.Message, "Block") {
		t.Fatalf("transfer behind a parked one: nonce %d, message %q", second.Nonce, second.Message)
	}
}
