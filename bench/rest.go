package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"time"
)

// RestResult is what a node costs when idle, and how fast it restarts.
type RestResult struct {
	Mode string `json:"mode"` // "rest"
	// RSSAtRestMB is the node's resident memory RestSettle after it
	// started serving its API with a chain of RestBlocks blocks.
	RestBlocks      int     `json:"rest_blocks"`
	RestTxsPerBlock int     `json:"rest_txs_per_block"`
	RSSAtRestMB     float64 `json:"rss_at_rest_mb"`
	// Of which anonymous memory (heap, stacks) and file pages (mostly the
	// store's memory map).
	RSSAnonMB float64 `json:"rss_anon_mb"`
	RSSFileMB float64 `json:"rss_file_mb"`
	// StartupSeconds is the median, over StartupRuns starts, of the time
	// from starting the node process to its /health answering, with a
	// store of StartupBlocks blocks.
	StartupBlocks      int       `json:"startup_blocks"`
	StartupTxsPerBlock int       `json:"startup_txs_per_block"`
	StoreMB            float64   `json:"startup_store_mb"`
	StartupSeconds     float64   `json:"startup_to_serving_s"`
	StartupRuns        []float64 `json:"startup_runs_s"`
	// Method is what was started: the gossipchain binary, a helper process
	// of this program (node.New + api.New, as the binary wires them), or
	// node.New + api.New in this process (then the RSS is this process's).
	Method   string  `json:"method"`
	LoadAvg1 float64 `json:"load_avg_1m"`
}

const startupRuns = 3

// Rest reads the RSS of a node at rest with a RestBlocks-block chain, and
// times starting a node on a StartupBlocks-block store until it serves its
// API.
func Rest(ctx context.Context, o Options) (*RestResult, error) {
	o.setDefaults()
	r := &RestResult{Mode: "rest", RestBlocks: o.RestBlocks, RestTxsPerBlock: o.TxsPerBlock,
		StartupBlocks: o.StartupBlocks, StartupTxsPerBlock: o.StartupTxs, LoadAvg1: LoadAvg()}
	restChain, _, err := cachedChain(ctx, &o, chainShape{kind: "transfers", blocks: o.RestBlocks, txs: o.TxsPerBlock})
	if err != nil {
		return nil, err
	}
	startChain, _, err := cachedChain(ctx, &o, chainShape{kind: "transfers", blocks: o.StartupBlocks, txs: o.StartupTxs})
	if err != nil {
		return nil, err
	}
	r.StoreMB = round(float64(dirSize(filepath.Join(startChain, "chain.db")))/(1<<20), 1)
	tmp, err := os.MkdirTemp("", "gossipchain-bench-rest-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	if o.Helper == nil && o.NodeCommand == nil {
		r.Method = "in-process (node.New + api.New; RSS of this whole process)"
		return r, restInProcess(ctx, &o, r, tmp, restChain, startChain)
	}
	// At rest.
	dir, err := dataDirWith(tmp, restChain)
	if err != nil {
		return nil, err
	}
	s, how, err := startServer(&o, dir)
	if err != nil {
		return nil, err
	}
	r.Method = how
	err = s.waitServing(ctx, 10*time.Millisecond)
	if err == nil {
		o.logf("rest: node with %d blocks serving; resting %v", o.RestBlocks, o.RestSettle)
		select {
		case <-time.After(o.RestSettle):
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	r.RSSAtRestMB = kbToMB(procStatusKB(s.pid(), "VmRSS"))
	r.RSSAnonMB = kbToMB(procStatusKB(s.pid(), "RssAnon"))
	r.RSSFileMB = kbToMB(procStatusKB(s.pid(), "RssFile"))
	s.stop()
	if err != nil {
		return nil, err
	}
	// Start to serving, on a store the page cache has seen (a restart).
	for i := range startupRuns {
		dir, err := dataDirWith(tmp, startChain)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		s, _, err := startServer(&o, dir)
		if err != nil {
			return nil, err
		}
		err = s.waitServing(ctx, 2*time.Millisecond)
		d := time.Since(start)
		s.stop()
		if err != nil {
			return nil, err
		}
		o.logf("rest: start %d with %d blocks: serving after %v", i+1, o.StartupBlocks, d.Round(time.Millisecond))
		r.StartupRuns = append(r.StartupRuns, round(d.Seconds(), 3))
		os.RemoveAll(dir)
	}
	sorted := slices.Clone(r.StartupRuns)
	slices.Sort(sorted)
	r.StartupSeconds = sorted[len(sorted)/2]
	return r, nil
}

// restInProcess is Rest without a helper: node.New and the API in this
// process.
func restInProcess(ctx context.Context, o *Options, r *RestResult, tmp, restChain, startChain string) error {
	client := newHTTPClient()
	dir, err := dataDirWith(tmp, restChain)
	if err != nil {
		return err
	}
	n, err := startNode(dir, o.params())
	if err != nil {
		return err
	}
	base, stop, err := serveAPI(n, "127.0.0.1:0")
	if err == nil {
		err = waitHealthy(ctx, client, base, 10*time.Millisecond)
		stop()
	}
	runtime.GC()
	debug.FreeOSMemory()
	r.RSSAtRestMB = kbToMB(procStatusKB("self", "VmRSS"))
	r.RSSAnonMB = kbToMB(procStatusKB("self", "RssAnon"))
	r.RSSFileMB = kbToMB(procStatusKB("self", "RssFile"))
	n.Close()
	if err != nil {
		return err
	}
	for range startupRuns {
		dir, err := dataDirWith(tmp, startChain)
		if err != nil {
			return err
		}
		start := time.Now()
		n, err := startNode(dir, o.params())
		if err != nil {
			return err
		}
		base, stop, err := serveAPI(n, "127.0.0.1:0")
		if err == nil {
			err = waitHealthy(ctx, client, base, 2*time.Millisecond)
			stop()
		}
		d := time.Since(start)
		n.Close()
		if err != nil {
			return err
		}
		r.StartupRuns = append(r.StartupRuns, round(d.Seconds(), 3))
	}
	sorted := slices.Clone(r.StartupRuns)
	slices.Sort(sorted)
	r.StartupSeconds = sorted[len(sorted)/2]
	return nil
}

func newHTTPClient() *http.Client { return &http.Client{Timeout: 2 * time.Second} }

// Table implements Result.
func (r *RestResult) Table(w io.Writer) {
	t := newTable("rest: a node's cost when idle, and its restart", r.LoadAvg1)
	t.row(fmt.Sprintf("RSS at rest, %d blocks × %d txs", r.RestBlocks, r.RestTxsPerBlock),
		fmt.Sprintf("%.0f MB (anon %.0f, file %.0f)", r.RSSAtRestMB, r.RSSAnonMB, r.RSSFileMB), "≤ 100 MB", met(r.RSSAtRestMB > 0 && r.RSSAtRestMB <= 100))
	t.row(fmt.Sprintf("start to serving, %d blocks × %d txs (%.0f MB store)", r.StartupBlocks, r.StartupTxsPerBlock, r.StoreMB),
		fmt.Sprintf("%.2f s (median of %v)", r.StartupSeconds, r.StartupRuns), "≤ 1 s", met(r.StartupSeconds <= 1))
	t.note("started: %s", r.Method)
	t.write(w)
}
