package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/api"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// newNode runs a real node on loopback with the easy test network and its
// API on an httptest server.
func newNode(t *testing.T) (*node.Node, *Client) {
	t.Helper()
	n, err := node.New(context.Background(), node.Config{
		DataDir:      t.TempDir(),
		Params:       chain.TestParams(),
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0"},
		MinerWorkers: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	srv := httptest.NewServer(api.New(n, api.Options{}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return n, c
}

func TestClientAgainstNode(t *testing.T) {
	n, c := newNode(t)
	ctx := context.Background()
	if _, err := n.MineBlock(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Index != 2 || st.Address != n.Address().String() || st.Genesis != n.Chain().Tip().Genesis.String() {
		t.Errorf("status %+v", st)
	}
	network, err := c.Network(ctx)
	if err != nil || network != chain.NetworkID(chain.TestParams()) {
		t.Fatalf("network %s, %v", network, err)
	}

	// A key that is not the node's: signed here, submitted, mined.
	alice := chain.NewWallet()
	if _, err := n.Send(ctx, alice.Address(), 20, 0); err != nil {
		t.Fatal(err)
	}
	pending, err := c.Pending(ctx)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending %v, %v", pending, err)
	}
	if _, err := n.MineBlock(ctx); err != nil {
		t.Fatal(err)
	}
	bal, err := c.Balance(ctx, alice.Address())
	if err != nil || bal.Balance != 20 || bal.Nonce != 0 {
		t.Fatalf("balance %+v, %v", bal, err)
	}
	bob := chain.NewWallet().Address()
	tx := alice.NewTx(network, bob, 5, 1, bal.Nonce)
	before, _ := c.Status(ctx)
	r, err := c.SubmitTx(ctx, tx)
	if err != nil || r.ID != tx.ID().String() || !strings.Contains(r.Message, "Block") {
		t.Fatalf("submit: %+v, %v", r, err)
	}
	// The same again: 409, with the API's message.
	_, err = c.SubmitTx(ctx, tx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.Message == "" || !IsStatus(err, 409) {
		t.Errorf("resubmit: %v", err)
	}
	if b, err := c.Balance(ctx, alice.Address()); err != nil || b.Nonce != 1 {
		t.Errorf("next nonce %+v, %v; want 1 counting pending", b, err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(100 * time.Millisecond)
		n.MineBlock(ctx)
	}()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	blk, err := c.WaitTx(wctx, tx.ID(), before.Index, 20*time.Millisecond)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if blk.Index != 4 || !blk.MainChain || blk.Hash != n.Chain().Tip().Hash.String() {
		t.Errorf("block %d %s main %v", blk.Index, blk.Hash, blk.MainChain)
	}
	byHash, err := c.BlockByHash(ctx, n.Chain().Tip().Hash)
	if err != nil || byHash.Index != 4 {
		t.Errorf("by hash: %+v, %v", byHash, err)
	}
	if _, err := c.Block(ctx, 99); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("block 99: %v, want 404", err)
	}

	// A transaction signed for another network: 400 with the node's reason.
	bad := alice.NewTx(chain.Hash{1}, bob, 1, 0, 1)
	if _, err := c.SubmitTx(ctx, bad); !IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "signature") {
		t.Errorf("foreign-network tx: %v", err)
	}

	// Waiting for something that never comes ends at the deadline.
	sctx, scancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer scancel()
	if _, err := c.WaitTx(sctx, chain.Hash{9}, 0, 20*time.Millisecond); !errors.Is(err, ErrNotConfirmed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait for nothing: %v", err)
	}
}

// TestHeadersAndErrors: the token and content type are sent; a non-JSON
// error reply still gives its status.
func TestHeadersAndErrors(t *testing.T) {
	var gotAuth, gotType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotType = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		switch r.URL.Path {
		case "/transactions/new":
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"this API needs a token"}`)
		default:
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(w, "<html>proxy error</html>")
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/", WithToken(" s3cret\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SubmitTxJSON(context.Background(), chain.TxJSON{Recipient: "x"})
	if gotAuth != "Bearer s3cret" || gotType != "application/json" {
		t.Errorf("headers: Authorization %q, Content-Type %q", gotAuth, gotType)
	}
	if !IsStatus(err, 401) || !strings.Contains(err.Error(), "this API needs a token") || !strings.Contains(err.Error(), "--token") {
		t.Errorf("401: %v", err)
	}
	_, err = c.Status(context.Background())
	if !IsStatus(err, 502) || !strings.Contains(err.Error(), "proxy error") {
		t.Errorf("502: %v", err)
	}
	// Without a token, no header.
	c2, _ := New(srv.URL)
	c2.Status(context.Background())
	if gotAuth != "" {
		t.Errorf("Authorization %q without a token", gotAuth)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(addr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "http://"+addr) || !strings.Contains(err.Error(), "--http") {
		t.Errorf("closed port: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:5000":  "http://127.0.0.1:5000",
		"127.0.0.1:5001":         "http://127.0.0.1:5001",
		":5002":                  "http://127.0.0.1:5002",
		"0.0.0.0:5003":           "http://127.0.0.1:5003",
		"https://node.example/":  "https://node.example",
		"http://h:1/prefix/?q=1": "http://h:1/prefix",
	} {
		u, err := ParseURL(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, in := range []string{"", "localhost", "ftp://x:1", "http://"} {
		if _, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q): no error", in)
		}
	}
}
