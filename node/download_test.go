package node

import (
	"bufio"
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// downloadChain is a chain of k coinbase blocks on the test genesis, built
// once for the tests of this file.
var downloadChainCache []*chain.Block

func downloadChain(p chain.Params, k int) []*chain.Block {
	if len(downloadChainCache) < k {
		downloadChainCache = weakBranch(p, chain.Genesis(p), k)
	}
	return downloadChainCache[:k]
}

// servingNode is a node holding blocks, not syncing by itself.
func servingNode(t *testing.T, blocks []*chain.Block, mutate ...func(*Config)) *Node {
	t.Helper()
	n := testNode(t, "", append([]func(*Config){func(c *Config) { c.NoAutoSync = true }}, mutate...)...)
	for i := 0; i < len(blocks); i += 500 {
		if k, _, err := n.Chain().AddBlocks(blocks[i:min(len(blocks), i+500)]); err != nil {
			t.Fatalf("add blocks: %d, %v", k, err)
		}
	}
	return n
}

// stallBlocks makes n answer blocks-by-hash requests with one block and
// then nothing, the stream held open until the asker resets it; every
// other request is served as usual. The channel it returns is closed at
// the first blocks request: then the staller holds work.
func stallBlocks(t *testing.T, n *Node) <-chan struct{} {
	hold, asked := make(chan struct{}), make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { close(hold) })
	n.host.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		r := bufio.NewReader(s)
		req, err := readFrame(r, maxRequestBytes)
		if err != nil || len(req) == 0 {
			s.Reset()
			return
		}
		if req[0] != reqBlocksByHash {
			n.serveSyncRequest(s, req)
			return
		}
		once.Do(func() { close(asked) })
		hs, _, err := decodeHashesRequest(req[1:])
		if err != nil {
			s.Reset()
			return
		}
		blocks, _ := n.chain.BlocksByHash(hs[:1])
		w := bufio.NewWriter(s)
		writeFrame(w, encodeBatch(blocks))
		w.Flush()
		n.metrics.BlocksServed.Add(uint64(len(blocks)))
		<-hold // the stream stays open, silent, until the test ends
	})
	return asked
}

// gateBlocks makes n hold its answers to blocks-by-hash requests until
// open is closed (at most 10 s), so that a test's staller gets its share
// of the work before the good peers have served it all (a 2,000-block
// sync from two fast peers could end before the staller's status answer
// came in).
func gateBlocks(t *testing.T, n *Node, open <-chan struct{}) {
	n.host.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		r := bufio.NewReader(s)
		req, err := readFrame(r, maxRequestBytes)
		if err != nil || len(req) == 0 {
			s.Reset()
			return
		}
		if req[0] == reqBlocksByHash {
			select {
			case <-open:
			case <-time.After(10 * time.Second):
				t.Errorf("the staller got no block request within 10 s")
			}
		}
		n.serveSyncRequest(s, req)
	})
}

// TestParallelDownloadSpreadsWork: a fresh node syncs 4,000 blocks from
// three peers that hold them; each serves a share, and the served counts
// add up to the chain.
func TestParallelDownloadSpreadsWork(t *testing.T) {
	p := chain.TestParams()
	blocks := downloadChain(p, 4000)
	servers := []*Node{servingNode(t, blocks), servingNode(t, blocks), servingNode(t, blocks)}
	d := testNode(t, "", func(c *Config) { c.NoAutoSync = true })
	for _, s := range servers {
		connectNodes(t, d, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := d.syncParallel(ctx, servers[0].host.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Chain().Tip().Hash; got != blocks[len(blocks)-1].Hash() {
		t.Fatalf("head %s at %d, want the chain's last block", got, d.Chain().Tip().Index)
	}
	total := 0
	for i, s := range servers {
		served := int(s.Metrics().BlocksServed.Load())
		t.Logf("peer %d served %d blocks (the downloader counted %d)", i, served, st.Served[s.host.ID()])
		if served < dlUnit {
			t.Errorf("peer %d served %d blocks, want at least a request's worth (%d)", i, served, dlUnit)
		}
		total += st.Served[s.host.ID()]
	}
	if total != len(blocks) {
		t.Errorf("the downloader counted %d blocks delivered, want %d", total, len(blocks))
	}
	if len(st.Stalled) != 0 {
		t.Errorf("peers dropped as stalled: %v", st.Stalled)
	}
}

// TestParallelDownloadStalledPeer: one of three peers accepts block
// requests and stops sending. The sync finishes from the others within a
// deadline, and the staller is dropped from the download. The staller is
// tried as the peer the headers come from and as one of the others.
func TestParallelDownloadStalledPeer(t *testing.T) {
	p := chain.TestParams()
	blocks := downloadChain(p, 2000)
	for _, primary := range []bool{false, true} {
		t.Run(map[bool]string{false: "other peer stalls", true: "header peer stalls"}[primary], func(t *testing.T) {
			good1, good2, staller := servingNode(t, blocks), servingNode(t, blocks), servingNode(t, blocks)
			stallerAsked := stallBlocks(t, staller)
			gateBlocks(t, good1, stallerAsked)
			gateBlocks(t, good2, stallerAsked)
			d := testNode(t, "", func(c *Config) {
				c.NoAutoSync = true
				c.SyncStallTimeout = time.Second
			})
			for _, s := range []*Node{good1, good2, staller} {
				connectNodes(t, d, s)
			}
			from := good1.host.ID()
			if primary {
				from = staller.host.ID()
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := d.syncParallel(ctx, from)
			if err != nil {
				t.Fatalf("sync: %v after %v", err, time.Since(start))
			}
			t.Logf("synced in %v; served %v; stalled %v", time.Since(start), st.Served, st.Stalled)
			if d.Chain().Tip().Hash != blocks[len(blocks)-1].Hash() {
				t.Fatalf("head at %d, want %d", d.Chain().Tip().Index, blocks[len(blocks)-1].Index)
			}
			if took := time.Since(start); took < time.Second {
				t.Errorf("synced in %v, before the stall timeout: the staller never held work", took)
			}
			if !slices.Contains(st.Stalled, staller.host.ID()) {
				t.Errorf("the staller was not dropped (stalled: %v)", st.Stalled)
			}
			if d.Penalty(staller.host.ID()) != 0 {
				t.Errorf("the staller was penalised: slow is not malicious")
			}
		})
	}
}

// TestParallelDownloadWrongBlock: a peer that sends a block other than the
// one asked for is penalised and the blocks come from the others.
func TestParallelDownloadWrongBlock(t *testing.T) {
	p := chain.TestParams()
	blocks := downloadChain(p, 1000)
	good, liar := servingNode(t, blocks), servingNode(t, blocks)
	liar.host.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		req, err := readFrame(bufio.NewReader(s), maxRequestBytes)
		if err != nil || len(req) == 0 {
			s.Reset()
			return
		}
		if req[0] != reqBlocksByHash {
			liar.serveSyncRequest(s, req)
			return
		}
		w := bufio.NewWriter(s)
		writeFrame(w, encodeBatch(blocks[len(blocks)-1:])) // the last block, whatever was asked
		writeFrame(w, encodeBatch(nil))
		w.Flush()
	})
	d := testNode(t, "", func(c *Config) { c.NoAutoSync = true })
	connectNodes(t, d, good)
	connectNodes(t, d, liar)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The liar is the header peer, so it gets the first unit at once. Once
	// the blocks are in, the sync's next round asks the liar (banned by
	// then) for its status, which fails: only the head matters here.
	_, err := d.syncParallel(ctx, liar.host.ID())
	t.Logf("sync: %v", err)
	if d.Chain().Tip().Hash != blocks[len(blocks)-1].Hash() {
		t.Fatalf("head at %d", d.Chain().Tip().Index)
	}
	waitFor(t, 5*time.Second, "the liar penalised", func() bool { return d.Penalty(liar.host.ID()) > 0 || d.bans.banned(liar.host.ID()) })
}

// The blocks-by-hash request round-trips, and the decoder refuses what it
// must.
func TestHashesRequestWire(t *testing.T) {
	hs := []chain.Hash{{1}, {2}, {3}}
	req := encodeHashesRequest(hs, 12345)
	got, budget, err := decodeHashesRequest(req[1:])
	if err != nil || !slices.Equal(got, hs) || budget != 12345 {
		t.Fatalf("round trip: %v %d %v", got, budget, err)
	}
	for name, b := range map[string][]byte{
		"empty":        {},
		"no hashes":    encodeHashesRequest(nil, 1)[1:],
		"too many":     encodeHashesRequest(make([]chain.Hash, maxHashesPerRequest+1), 1)[1:],
		"short":        req[1 : len(req)-5],
		"trailing":     append(bytes.Clone(req[1:]), 0),
		"zero budget":  encodeHashesRequest(hs, 0)[1:],
		"no budget":    req[1 : 1+1+3*32],
		"count lies":   append([]byte{9}, req[2:]...),
		"huge count":   {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"huge budget ": append(bytes.Clone(req[1:1+1+3*32]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	} {
		_, b2, err := decodeHashesRequest(b)
		if name == "huge budget " {
			if err != nil || b2 != maxReplyBytes {
				t.Errorf("%s: %d, %v; want capped at %d", name, b2, err, maxReplyBytes)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzDecodeHashesRequest: the decoder never panics, bounds what it
// returns, and what it accepts re-encodes to the input (a capped budget
// aside).
func FuzzDecodeHashesRequest(f *testing.F) {
	f.Add(encodeHashesRequest([]chain.Hash{{1}, {2}}, 100)[1:])
	f.Add(encodeHashesRequest(make([]chain.Hash, maxHashesPerRequest), dlReplyBytes)[1:])
	f.Add([]byte{0x80, 0x00})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		hs, budget, err := decodeHashesRequest(b)
		if err != nil {
			return
		}
		if len(hs) == 0 || len(hs) > maxHashesPerRequest || budget <= 0 || budget > maxReplyBytes {
			t.Fatalf("accepted %d hashes, budget %d", len(hs), budget)
		}
		// What was accepted re-encodes to a request that decodes the same
		// (the input may differ only by a non-minimal uvarint or a budget
		// over the cap), and its hashes are the input's bytes.
		hs2, budget2, err := decodeHashesRequest(encodeHashesRequest(hs, budget)[1:])
		if err != nil || !slices.Equal(hs, hs2) || budget2 != budget {
			t.Fatalf("re-encoded: %v, %d hashes, budget %d", err, len(hs2), budget2)
		}
		if len(b) < len(hs)*32+2 || !bytes.Contains(b, hs[len(hs)-1][:]) {
			t.Fatalf("accepted %x", b)
		}
	})
}

var _ = peer.ID("")

// TestParallelDownloadSlowPeer: a peer that answers block requests, but a
// block every 200 ms (never silent long enough to look stalled), does not
// hold the sync up: once it has held the next block to store for the stall
// timeout while another peer is free, its blocks move.
func TestParallelDownloadSlowPeer(t *testing.T) {
	p := chain.TestParams()
	blocks := downloadChain(p, 2000)
	good, slow := servingNode(t, blocks), servingNode(t, blocks)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	slow.host.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		req, err := readFrame(bufio.NewReader(s), maxRequestBytes)
		if err != nil || len(req) == 0 {
			s.Reset()
			return
		}
		if req[0] != reqBlocksByHash {
			slow.serveSyncRequest(s, req)
			return
		}
		hs, _, err := decodeHashesRequest(req[1:])
		if err != nil {
			s.Reset()
			return
		}
		w := bufio.NewWriter(s)
		for _, h := range hs {
			b, err := slow.chain.BlockByHash(h)
			if err != nil {
				break
			}
			if writeFrame(w, encodeBatch([]*chain.Block{b})) != nil || w.Flush() != nil {
				return // reset by the asker
			}
			select {
			case <-time.After(200 * time.Millisecond):
			case <-hold:
				return
			}
		}
		writeFrame(w, encodeBatch(nil))
		w.Flush()
	})
	d := testNode(t, "", func(c *Config) {
		c.NoAutoSync = true
		c.SyncStallTimeout = time.Second
	})
	connectNodes(t, d, good)
	connectNodes(t, d, slow)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The slow peer's headers: it holds the first unit, so it holds up
	// the commits from the start.
	st, err := d.syncParallel(ctx, slow.host.ID())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	took := time.Since(start)
	t.Logf("synced in %v; served %v; stalled %v", took, st.Served, st.Stalled)
	if d.Chain().Tip().Hash != blocks[len(blocks)-1].Hash() {
		t.Fatalf("head at %d", d.Chain().Tip().Index)
	}
	if !slices.Contains(st.Stalled, slow.host.ID()) {
		t.Errorf("the slow peer kept its work (stalled: %v)", st.Stalled)
	}
	// At 5 blocks/s, the slow peer's two units alone would take 100 s.
	if took > 15*time.Second {
		t.Errorf("sync took %v", took)
	}
}

// holdAfterFirstUnit makes n serve the blocks-by-hash request for the
// first unit (its first hash is first) and hold every other one open and
// silent until the test ends; other requests are served as usual.
func holdAfterFirstUnit(t *testing.T, n *Node, first chain.Hash) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	n.host.SetStreamHandler(SyncProtocol, func(s network.Stream) {
		defer s.Close()
		req, err := readFrame(bufio.NewReader(s), maxRequestBytes)
		if err != nil || len(req) == 0 {
			s.Reset()
			return
		}
		if req[0] == reqBlocksByHash {
			hs, _, err := decodeHashesRequest(req[1:])
			if err != nil || len(hs) == 0 || hs[0] != first {
				<-hold
				s.Reset()
				return
			}
		}
		n.serveSyncRequest(s, req)
	})
}

// TestDownloadVerifiesFirstUnit: with the precheck stage idle, a run of a
// unit of blocks that carry signatures is prechecked and committed at
// once, not held back until a whole commit's worth (1,024) has arrived.
// The peer sends the first unit and holds the rest; the first unit must
// reach the chain while the rest is held (the stall timeout, which would
// also release it, is set far away).
func TestDownloadVerifiesFirstUnit(t *testing.T) {
	p := chain.TestParams()
	dir := t.TempDir()
	buildChain(t, dir, p, 1500, 2)
	srv := testNode(t, dir, func(c *Config) { c.NoAutoSync = true })
	first, err := srv.Chain().BlockByIndex(chain.Genesis(p).Index + 1)
	if err != nil {
		t.Fatal(err)
	}
	holdAfterFirstUnit(t, srv, first.Hash())
	d := testNode(t, "", func(c *Config) {
		c.NoAutoSync = true
		c.SyncStallTimeout = 5 * time.Minute
	})
	connectNodes(t, d, srv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.syncParallel(ctx, srv.host.ID())
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, 20*time.Second, "the first unit committed while the rest is held", func() bool {
		return d.Chain().Tip().Index-chain.Genesis(p).Index >= dlUnit
	})
	if got := d.Chain().Tip().Index - chain.Genesis(p).Index; got != dlUnit {
		t.Fatalf("head at %d, want %d (only the first unit was sent)", got, dlUnit)
	}
}
