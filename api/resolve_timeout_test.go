package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/api/apitest"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	"github.com/libp2p/go-libp2p/core/network"
)

// TestResolveAnswersWithSilentPeer: a peer that accepts the sync stream and
// never answers does not hold /nodes/resolve past its own timeout; the
// answer is the authoritative chain with the peer's failure listed.
func TestResolveAnswersWithSilentPeer(t *testing.T) {
	n, err := node.New(context.Background(), node.Config{
		DataDir:      t.TempDir(),
		Params:       chain.TestParams(),
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0"},
		MinerWorkers: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(n, Options{ResolveTimeout: 2 * time.Second}))
	defer n.Close()
	defer srv.Close()

	silent, err := node.NewHost(node.HostConfig{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	done := make(chan struct{})
	defer close(done)
	silent.SetStreamHandler(node.SyncProtocol, func(s network.Stream) {
		defer s.Reset()
		io.ReadAll(s) // the request, up to the client's CloseWrite
		<-done
	})
	if _, err := n.Connect(context.Background(), node.FullAddrs(silent)[0]); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	type reply struct {
		code int
		data []byte
		err  error
	}
	finished := make(chan reply, 1)
	go func() {
		resp, err := apitest.Client.Get(srv.URL + "/nodes/resolve")
		if err != nil {
			finished <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		finished <- reply{resp.StatusCode, data, err}
	}()
	var got reply
	select {
	case got = <-finished:
	case <-time.After(4 * time.Second):
		t.Fatal("/nodes/resolve with a 2 s timeout still running after 4 s")
	}
	if got.err != nil || got.code != 200 {
		t.Fatalf("/nodes/resolve: %d %s %v", got.code, got.data, got.err)
	}
	var r resolveReply
	if err := json.Unmarshal(got.data, &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("answered after %v: %s, errors %q", time.Since(start).Round(time.Millisecond), r.Message, r.Errors)
	if r.Message != "Our chain is authoritative" || len(r.Errors) != 1 {
		t.Fatalf("resolve: %+v", r)
	}
}
