package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gossipchain/gossipchain/api"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// startNode starts an in-process node on dataDir, listening on loopback
// TCP only, with a one-worker miner.
func startNode(dataDir string, p chain.Params, mutate ...func(*node.Config)) (*node.Node, error) {
	cfg := node.Config{
		DataDir:      dataDir,
		Params:       p,
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0"},
		MinerWorkers: 1,
		Logger:       slog.New(slog.DiscardHandler),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	return node.New(context.Background(), cfg)
}

// serveAPI serves the node's HTTP API on a loopback listener (addr
// "127.0.0.1:0" for any port) and returns its base URL and a stop function.
func serveAPI(n *node.Node, addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := api.NewHTTPServer(api.New(n, api.Options{ListenAddr: addr}), nil)
	go srv.Serve(ln)
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// waitHealthy polls base/health until it answers 200.
func waitHealthy(ctx context.Context, client *http.Client, base string, every time.Duration) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/health: %w", base, ctx.Err())
		case <-time.After(every):
		}
	}
}
