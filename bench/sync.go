package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// SyncResult is a fresh node syncing a chain from one peer.
type SyncResult struct {
	Mode        string  `json:"mode"`   // "sync"
	Method      string  `json:"method"` // "locator" (SyncFrom) or "whole" (SyncWholeChain)
	Blocks      int     `json:"blocks"` // synced (after the genesis)
	TxsPerBlock int     `json:"txs_per_block"`
	Txs         int     `json:"txs"` // signed transfers synced
	Seconds     float64 `json:"seconds"`
	BlocksPerS  float64 `json:"blocks_per_s"`
	TxsPerS     float64 `json:"txs_per_s"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	PeakHeapMB  float64 `json:"peak_heap_mb"`
	// RSSScope says whose RSS PeakRSSMB is: the syncing node's own
	// process, or this process holding both nodes.
	RSSScope string `json:"rss_scope"`
	// WholeChain is the same sync by the whole-chain request.
	WholeChain *SyncResult `json:"whole_chain,omitempty"`
	LoadAvg1   float64     `json:"load_avg_1m"`
}

// SyncRun is what one sync reports (a helper writes it as JSON).
type SyncRun struct {
	Method     string  `json:"method"`
	Index      uint64  `json:"index"`
	Seconds    float64 `json:"seconds"`
	PeakRSSMB  float64 `json:"peak_rss_mb"` // VmHWM of the process
	PeakHeapMB float64 `json:"peak_heap_mb"`
}

// Sync builds (or takes from the cache) a chain of Blocks blocks with
// TxsPerBlock signed transfers each, serves it from one node, and times a
// fresh node syncing it: by block-locator batches (node.SyncFrom) and, unless
// SkipWholeChain, by the whole-chain request (node.SyncWholeChain).
func Sync(ctx context.Context, o Options) (*SyncResult, error) {
	o.setDefaults()
	p := o.params()
	load := LoadAvg()
	cached, meta, err := cachedChain(ctx, &o, chainShape{kind: "transfers", blocks: o.Blocks, txs: o.TxsPerBlock})
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "gossipchain-bench-sync-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	srvDir, err := dataDirWith(tmp, cached)
	if err != nil {
		return nil, err
	}
	srv, err := startNode(srvDir, p, func(c *node.Config) { c.NoAutoSync = true })
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	peerAddr := srv.Addrs()[0]

	methods := []string{"locator", "whole"}
	if o.SkipWholeChain {
		methods = methods[:1]
	}
	var out *SyncResult
	for _, m := range methods {
		dir, err := os.MkdirTemp(tmp, "client-*")
		if err != nil {
			return nil, err
		}
		o.logf("sync: %d blocks × %d txs by %s", o.Blocks, o.TxsPerBlock, m)
		var run SyncRun
		scope := "helper process: the syncing node alone"
		if o.Helper != nil {
			err = runHelper(ctx, o.Helper, &run, "sync", "--dir", dir, "--peer", peerAddr, "--method", m,
				"--want", strconv.FormatUint(meta.Index, 10), "--difficulty", strconv.FormatUint(uint64(o.Difficulty), 10))
		} else {
			scope = "this process: serving and syncing node together"
			var r *SyncRun
			if r, err = syncOnce(ctx, p, dir, peerAddr, m, meta.Index); err == nil {
				run = *r
			}
		}
		if err != nil {
			return nil, fmt.Errorf("sync by %s: %w", m, err)
		}
		d := time.Duration(run.Seconds * float64(time.Second))
		r := &SyncResult{
			Mode: "sync", Method: m, Blocks: o.Blocks, TxsPerBlock: o.TxsPerBlock, Txs: meta.Txs,
			Seconds: round(run.Seconds, 3), BlocksPerS: rate(o.Blocks, d), TxsPerS: rate(meta.Txs, d),
			PeakRSSMB: run.PeakRSSMB, PeakHeapMB: run.PeakHeapMB, RSSScope: scope, LoadAvg1: load,
		}
		o.logf("sync by %s: %.2f s, %.0f blocks/s, peak RSS %.0f MB", m, r.Seconds, r.BlocksPerS, r.PeakRSSMB)
		if out == nil {
			out = r
		} else {
			out.WholeChain = r
		}
		os.RemoveAll(dir)
	}
	return out, nil
}

// syncOnce starts a fresh node in dir, connects it to peerAddr and times
// one sync by method; the chain must then end at index want.
func syncOnce(ctx context.Context, p chain.Params, dir, peerAddr, method string, want uint64) (*SyncRun, error) {
	heap := startHeapSampler(20 * time.Millisecond)
	n, err := startNode(dir, p, func(c *node.Config) { c.NoAutoSync = true })
	if err != nil {
		heap.Stop()
		return nil, err
	}
	defer n.Close()
	id, err := n.Connect(ctx, peerAddr)
	if err != nil {
		heap.Stop()
		return nil, err
	}
	start := time.Now()
	switch method {
	case "locator":
		_, err = n.SyncFrom(ctx, id)
	case "whole":
		_, err = n.SyncWholeChain(ctx, id)
	default:
		err = fmt.Errorf("unknown sync method %q", method)
	}
	d := time.Since(start)
	peakHeap := heap.Stop()
	if err != nil {
		return nil, err
	}
	if got := n.Chain().Tip().Index; got != want {
		return nil, fmt.Errorf("synced to index %d, want %d", got, want)
	}
	return &SyncRun{Method: method, Index: want, Seconds: d.Seconds(), PeakRSSMB: kbToMB(procStatusKB("self", "VmHWM")), PeakHeapMB: peakHeap}, nil
}

// Table implements Result.
func (r *SyncResult) Table(w io.Writer) {
	t := newTable(fmt.Sprintf("sync: %d blocks × %d txs (%d signed txs) from one peer", r.Blocks, r.TxsPerBlock, r.Txs), r.LoadAvg1)
	for _, s := range []*SyncResult{r, r.WholeChain} {
		if s == nil {
			continue
		}
		name := map[string]string{"locator": "locator batches (SyncFrom)", "whole": "whole chain (SyncWholeChain)"}[s.Method]
		// The goals are for 10,000 blocks: ≤ 5 s with 10 txs each, twice
		// the tutorial's 35,000 blocks/s with none.
		full := s.Blocks >= 10000
		goal, st := "", ""
		if full && s.TxsPerBlock == 10 {
			goal, st = "≤ 5 s", met(s.Seconds <= 5)
		}
		t.row(name+": time", fmt.Sprintf("%.2f s", s.Seconds), goal, st)
		goal, st = "", ""
		switch {
		case full && s.TxsPerBlock == 0:
			goal, st = "≥ 70,000 (2× tutorial)", met(s.BlocksPerS >= 70000)
		case full && s.TxsPerBlock == 10:
			goal, st = "≥ 2,000", met(s.BlocksPerS >= 2000)
		}
		t.row(name+": blocks/s", fmt.Sprintf("%.0f", s.BlocksPerS), goal, st)
		if s.TxsPerBlock > 0 {
			goal, st = "", ""
			if full && s.TxsPerBlock == 10 {
				goal, st = "≥ 20,000", met(s.TxsPerS >= 20000)
			}
			t.row(name+": verified txs/s", fmt.Sprintf("%.0f", s.TxsPerS), goal, st)
		}
		t.row(name+": peak RSS", fmt.Sprintf("%.0f MB", s.PeakRSSMB), "≤ 200 MB", met(s.PeakRSSMB > 0 && s.PeakRSSMB <= 200))
		t.row(name+": peak heap", fmt.Sprintf("%.0f MB", s.PeakHeapMB), "", "")
	}
	t.note("RSS of the %s", r.RSSScope)
	t.write(w)
}
