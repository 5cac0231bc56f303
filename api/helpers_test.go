package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/api/apitest"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// testNode is a real node on loopback with the API in front of it.
type testNode struct {
	n       *node.Node
	metrics *Metrics
	srv     *httptest.Server
	url     string
}

func newTestNode(t *testing.T) *testNode {
	t.Helper()
	return newTestNodeOpts(t, Options{})
}

// newTestNodeOpts is newTestNode with API options (Metrics is set here).
func newTestNodeOpts(t *testing.T, opts Options, mutate ...func(*node.Config)) *testNode {
	t.Helper()
	m := NewMetrics()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("API_TEST_LOG") != "" { // debug logs of the nodes, to see a failure's story

		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", t.Name()+fmt.Sprint(time.Now().UnixNano()%1000))
	}
	cfg := node.Config{
		Logger:       logger,
		DataDir:      t.TempDir(),
		Params:       chain.TestParams(),
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0"},
		MDNS:         false,
		MinerWorkers: 1,
		Observe:      m.Observe,
	}
	for _, f := range mutate {
		f(&cfg)
	}
	n, err := node.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Metrics = m
	srv := httptest.NewServer(New(n, opts))
	t.Cleanup(func() {
		srv.Close()
		if err := n.Close(); err != nil {
			t.Errorf("close node: %v", err)
		}
	})
	return &testNode{n: n, metrics: m, srv: srv, url: srv.URL}
}

func call(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	return apitest.Call(t, method, url, body)
}

func mustJSON[T any](t *testing.T, want int, method, url string, body any) T {
	t.Helper()
	return apitest.MustJSON[T](t, want, method, url, body)
}

func wantError(t *testing.T, code int, data []byte, wantCode int, substr string) {
	t.Helper()
	apitest.WantError(t, code, data, wantCode, substr)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var seedWallet = apitest.Wallet
