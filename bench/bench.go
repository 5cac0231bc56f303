// Package bench measures a gossipchain node on this machine: the miner's
// hash rate, transaction ingest, block and transaction propagation across
// an in-process network, chain sync, and the cost of a node at rest. Each
// measurement is a function that returns a result struct whose JSON keys are
// the ones scripts read (issue 6); Print writes them as a table next to the
// goals set for a 2-core machine. The `gossipchain bench` command is a thin
// layer over this package.
//
// Nothing here asserts a timing: the package's tests run every measurement
// with tiny sizes only to prove that it works.
package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// Options configure the measurements. Zero values take the defaults of the
// bench command.
type Options struct {
	// Log receives progress lines (nil: discarded).
	Log io.Writer
	// CacheDir keeps generated chains between runs; default
	// $TMPDIR/gossipchain-bench-cache.
	CacheDir string
	// Difficulty is the network's initial difficulty in leading zero bits:
	// the measurements run the public network's rules,
	// chain.DefaultParams().WithDifficulty(Difficulty), as the binary's
	// --difficulty does. Default 4 (16 hashes a block), so that the proof
	// of work costs next to nothing and the node's own costs show.
	Difficulty uint

	// PowDuration is how long each of the three hash-rate figures is
	// measured; default 2 s.
	PowDuration time.Duration
	// PowWorkers is the "all cores" miner's worker count; default NumCPU.
	PowWorkers int

	// IngestTxs is how many signed transactions each ingest measurement
	// submits (at most the mempool's 10,000); default 10,000.
	IngestTxs int
	// IngestClients is the number of concurrent submitters (goroutines,
	// HTTP clients); default 8.
	IngestClients int

	// Nodes is the propagation network's size; default 20.
	Nodes int
	// Degree is how many random earlier nodes each node bootstraps to;
	// default 2.
	Degree int
	// Samples is how many blocks, and how many transactions, propagation
	// times; default 50.
	Samples int

	// Compact makes propagation compare compact block relay with whole
	// blocks (CompactPropagation): blocks of BlockTxs transactions
	// (default 2,000) with mempools in sync and with a Missing share
	// (default 0.1) absent from each node's mempool, against empty blocks.
	Compact  bool
	BlockTxs int
	Missing  float64
	// GoalOnly runs only the two ways issue 12's latency goal compares
	// (empty blocks, compact with mempools in sync): half the run, for
	// alternated pairs. The other ways' figures are left at zero.
	GoalOnly bool
	// GCFirst collects garbage before each timed block (a diagnosis; see
	// CompactPropagation).
	GCFirst bool

	// Blocks and TxsPerBlock shape the chain that sync measures; default
	// 10,000 blocks of 10 signed transactions.
	Blocks      int
	TxsPerBlock int
	// SkipWholeChain leaves out the whole-chain and serial syncs (only the
	// parallel download).
	SkipWholeChain bool
	// SyncPeers is how many nodes serve the chain to the parallel
	// download (copies of one store, in this process); default 1.
	SyncPeers int
	// SyncPreverify adds a sync by the parallel download with early
	// signature checks (node.Config.SyncPreverify), for comparison.
	SyncPreverify bool
	// SyncProfile, if set, is where the syncing node writes a CPU profile
	// of the sync alone (from the first request to the tip reached), in
	// its helper process or in this one; with several syncs, the last
	// one's.
	SyncProfile string
	// SkipTutorial leaves out the tutorial's resolve that a coinbase-only
	// sync is compared with (python3, Flask and requests).
	SkipTutorial bool

	// RestBlocks is the chain held by the node whose RSS at rest is read
	// (default 10,000 blocks of TxsPerBlock transactions); StartupBlocks
	// the store the start-to-serving time is read with (default 100,000
	// blocks of one transaction). RestSettle is how long the node rests
	// before its RSS is read; default 3 s.
	RestBlocks    int
	StartupBlocks int
	StartupTxs    int
	RestSettle    time.Duration

	// Helper starts a helper process of this program (see RunHelper): the
	// syncing node runs in it, so that the peak RSS read is that node's
	// alone, and the node at rest. Nil runs them in this process (the
	// figures then say so).
	Helper Helper
	// NodeCommand, if set, starts the real gossipchain binary on dataDir
	// with its HTTP API on apiAddr (host:port) and loopback-only p2p; the
	// rest measurement then times that binary. Without it the helper's
	// "serve" (node.New + the API handler, the same code the binary wires)
	// is timed.
	NodeCommand func(dataDir, apiAddr string) *exec.Cmd

	// For startNetwork: the network's rules instead of params(), a hook
	// run on each node's data directory before it starts, and one on its
	// config.
	netParams  *chain.Params
	nodeSetup  func(dir string) error
	nodeMutate func(*node.Config)
	// Net shapes the network bench (network.go).
	Net NetworkOptions
}

func (o *Options) setDefaults() {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(os.TempDir(), "gossipchain-bench-cache")
	}
	if o.Difficulty == 0 {
		o.Difficulty = 4
	}
	if o.PowDuration <= 0 {
		o.PowDuration = 2 * time.Second
	}
	if o.PowWorkers <= 0 {
		o.PowWorkers = runtime.NumCPU()
	}
	if o.IngestTxs <= 0 {
		o.IngestTxs = 10000
	}
	o.IngestTxs = min(o.IngestTxs, mempoolMax)
	if o.IngestClients <= 0 {
		o.IngestClients = 8
	}
	if o.Nodes <= 0 {
		o.Nodes = 20
	}
	if o.Degree <= 0 {
		o.Degree = 2
	}
	if o.Samples <= 0 {
		o.Samples = 50
	}
	if o.Blocks <= 0 {
		o.Blocks = 10000
	}
	if o.TxsPerBlock < 0 {
		o.TxsPerBlock = 0
	}
	if o.RestBlocks <= 0 {
		o.RestBlocks = 10000
	}
	if o.StartupBlocks <= 0 {
		o.StartupBlocks = 100000
	}
	if o.StartupTxs < 0 {
		o.StartupTxs = 0
	}
	if o.RestSettle <= 0 {
		o.RestSettle = 3 * time.Second
	}
}

// DefaultOptions are the bench command's defaults (TxsPerBlock 10,
// StartupTxs 1; the other zero values of Options are filled in by each
// measurement).
func DefaultOptions() Options {
	return Options{TxsPerBlock: 10, StartupTxs: 1}
}

// Small shrinks every size in o to a run of a few seconds that only proves
// the measurements work (the bench command's --small, run by CI).
func Small(o *Options) {
	o.PowDuration = 100 * time.Millisecond
	o.IngestTxs = 300
	o.IngestClients = 4
	o.Nodes = 5
	o.Samples = 5
	o.Blocks = 200
	o.RestBlocks = 200
	o.StartupBlocks = 1000
	o.RestSettle = 200 * time.Millisecond
	o.Net = NetworkOptions{Nodes: 12, Blocks: 6, Interval: 500 * time.Millisecond, Partition: 2 * time.Second}
}

// mempoolMax is the node's mempool cap (chain.Options default).
const mempoolMax = 10000

func (o *Options) params() chain.Params {
	if o.netParams != nil {
		return *o.netParams
	}
	return chain.DefaultParams().WithDifficulty(o.Difficulty)
}

func (o *Options) logf(format string, args ...any) {
	fmt.Fprintf(o.Log, "bench: "+format+"\n", args...)
}

// Result is one measurement's figures.
type Result interface {
	// Table writes the figures as rows of a table, next to their goals.
	Table(w io.Writer)
}

// Run runs one mode ("pow", "ingest", "propagation", "sync", "rest") or
// "all", which runs them all in that order (sync twice: with TxsPerBlock
// transactions and coinbase-only, the tutorial's shape).
func Run(ctx context.Context, mode string, o Options) ([]Result, error) {
	one := func(r Result, err error) ([]Result, error) {
		if err != nil {
			return nil, err
		}
		return []Result{r}, nil
	}
	switch mode {
	case "pow":
		return one(Pow(ctx, o))
	case "ingest":
		return one(Ingest(ctx, o))
	case "propagation":
		if o.Compact {
			return one(CompactPropagation(ctx, o))
		}
		return one(Propagation(ctx, o))
	case "sync":
		return one(Sync(ctx, o))
	case "rest":
		return one(Rest(ctx, o))
	case "network":
		return one(Network(ctx, o, o.Net))
	case "all":
		var out []Result
		for _, m := range []string{"pow", "ingest", "propagation", "sync", "sync0", "rest", "network"} {
			var r []Result
			var err error
			if m == "sync0" {
				o0 := o
				o0.TxsPerBlock = 0
				r, err = one(Sync(ctx, o0))
			} else {
				r, err = Run(ctx, m, o)
			}
			if err != nil {
				return out, fmt.Errorf("%s: %w", m, err)
			}
			out = append(out, r...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown bench mode %q (want pow, ingest, propagation, sync, rest, network or all)", mode)
}

// Machine describes where the figures were taken.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	GoVersion string  `json:"go_version"`
	LoadAvg1  float64 `json:"load_avg_1m"`
}

// ThisMachine reads the CPU model, core count, Go version and load average.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvg1: LoadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// LoadAvg is the 1-minute load average (-1 if unknown). Figures taken while
// it is well above 0 shared the cores with other work.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// procStatusKB reads a "VmRSS"/"VmHWM" line of /proc/<pid>/status in KiB
// (pid "self" for this process); -1 if unknown.
func procStatusKB(pid, field string) int64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

func kbToMB(kb int64) float64 {
	if kb < 0 {
		return -1
	}
	return round(float64(kb)/1024, 1)
}

// heapSampler records the peak of live heap objects while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak uint64
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			h.mu.Lock()
			h.peak = max(h.peak, sample[0].Value.Uint64())
			h.mu.Unlock()
		}
	}
	read()
	go func() {
		defer close(h.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak in MB.
func (h *heapSampler) Stop() float64 {
	close(h.stop)
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	return round(float64(h.peak)/(1<<20), 1)
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted
// values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// latencies summarises durations in milliseconds.
type latencies struct {
	P50, P95, P99, Max float64
}

func summarise(d []time.Duration) latencies {
	ms := make([]float64, len(d))
	for i, x := range d {
		ms[i] = float64(x) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	return latencies{
		P50: round(percentile(ms, 50), 2),
		P95: round(percentile(ms, 95), 2),
		P99: round(percentile(ms, 99), 2),
		Max: round(percentile(ms, 100), 2),
	}
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round(float64(n)/d.Seconds(), 1)
}
