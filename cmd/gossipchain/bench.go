package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gossipchain/gossipchain/bench"
)

const benchUsage = `Usage: gossipchain bench <pow|ingest|propagation|sync|rest|network|all> [flags]
       gossipchain bench plot [--out DIR] [--sizes 5,10,20,35,50] [--lengths 1000,2000,5000,10000]

Measures this machine and prints a table, or one JSON object (an array for
"all") with --json:
  pow          miner hashes/s with 1 worker and all cores, next to raw SHA-256
  ingest       signed transactions/s into one node's mempool, in-process and HTTP
  propagation  --nodes in-process nodes on loopback: block and tx to every node
  sync         a fresh node syncing --blocks blocks × --txs txs from one peer
  rest         RSS of an idle node, and start-to-serving time with a big store
  network      --nodes real nodes (default 100) in one process over libp2p's
               mocknet: 20-100 ms links, random graph of --max-degree, several
               miners, a tx load, a partition that heals
  all          all of the above (sync twice: --txs and coinbase-only)
  plot         propagation latency against network size and sync time against
               chain length, as PNG plots and a JSON file in --out

Big chains are generated once into --cache and reused.

Flags:
`

// runBench is the `gossipchain bench` subcommand: flags to bench.Options,
// then package bench.
func runBench(args []string) int {
	return benchMain(args, os.Stdout, os.Stderr)
}

func benchMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == bench.HelperArg {
		return bench.RunHelper(args[1:], stdout, stderr)
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs := benchFlags(new(benchConfig))
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, benchUsage)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, "gossipchain bench: want a mode: pow, ingest, propagation, sync, rest, network, all or plot")
		return 2
	}
	mode := args[0]
	c := new(benchConfig)
	fs := benchFlags(c)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "gossipchain bench: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gossipchain bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o, err := c.options(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gossipchain bench: %v\n", err)
		return 2
	}
	if !c.small {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["nodes"] {
			o.Net.Nodes = c.o.Nodes
		}
		if mode == "network" {
			largeNetworkDefaults(&o.Net, set, stderr)
		}
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "gossipchain bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "gossipchain bench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	if c.traceFile != "" {
		f, err := os.Create(c.traceFile)
		if err != nil {
			fmt.Fprintf(stderr, "gossipchain bench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			fmt.Fprintf(stderr, "gossipchain bench: %v\n", err)
			return 1
		}
		defer trace.Stop()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if mode == "network-plot" {
		// Plot saved `bench network --json` results: --in a.json,b.json.
		var rs []*bench.NetworkResult
		for _, f := range strings.Split(c.in, ",") {
			b, err := os.ReadFile(strings.TrimSpace(f))
			if err != nil {
				fmt.Fprintf(stderr, "gossipchain bench network-plot: %v\n", err)
				return 1
			}
			var r []*bench.NetworkResult
			if err := json.Unmarshal(b, &r); err != nil {
				var one bench.NetworkResult
				if err := json.Unmarshal(b, &one); err != nil {
					fmt.Fprintf(stderr, "gossipchain bench network-plot: %s: %v\n", f, err)
					return 1
				}
				r = append(r, &one)
			}
			rs = append(rs, r...)
		}
		out := filepath.Join(c.out, "network.png")
		if err := bench.NetworkPlot(rs, out); err != nil {
			fmt.Fprintf(stderr, "gossipchain bench network-plot: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, out)
		return 0
	}
	if mode == "plot" {
		sizes, err1 := intList(c.sizes)
		lengths, err2 := intList(c.lengths)
		if err := errors.Join(err1, err2); err != nil {
			fmt.Fprintf(stderr, "gossipchain bench plot: %v\n", err)
			return 2
		}
		res, err := bench.Plot(ctx, o, bench.PlotOptions{OutDir: c.out, Sizes: sizes, Lengths: lengths})
		if err != nil {
			fmt.Fprintf(stderr, "gossipchain bench plot: %v\n", err)
			return 1
		}
		if c.json {
			return jsonOut(stdout, stderr, []bench.Result{res})
		}
		res.Table(stdout)
		return 0
	}
	results, err := bench.Run(ctx, mode, o)
	if err != nil {
		fmt.Fprintf(stderr, "gossipchain bench %s: %v\n", mode, err)
		if len(results) == 0 {
			if strings.HasPrefix(err.Error(), "unknown bench mode") {
				return 2
			}
			return 1
		}
	}
	if c.json {
		if code := jsonOut(stdout, stderr, results); code != 0 {
			return code
		}
	} else {
		fmt.Fprintf(stdout, "machine: %s\n\n", machineLine())
		bench.Print(stdout, results)
	}
	if err != nil {
		return 1
	}
	return 0
}

func jsonOut(stdout, stderr io.Writer, results []bench.Result) int {
	if err := bench.PrintJSON(stdout, results); err != nil {
		fmt.Fprintf(stderr, "gossipchain bench: %v\n", err)
		return 1
	}
	return 0
}

func machineLine() string {
	m := bench.ThisMachine()
	return fmt.Sprintf("%s, %d cores, %s, load average %.2f", m.CPU, m.Cores, m.GoVersion, m.LoadAvg1)
}

type benchConfig struct {
	json, inProcess, quiet, skipWhole bool
	small                             bool
	o                                 bench.Options
	cpuProfile                        string
	traceFile                         string
	out, sizes, lengths               string
	in                                string
}

func benchFlags(c *benchConfig) *flag.FlagSet {
	c.o = bench.DefaultOptions()
	fs := newFlagSet("gossipchain bench")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	fs.BoolVar(&c.small, "small", false, "tiny sizes that only prove the measurements run (CI); other size flags are then ignored")
	fs.IntVar(&c.o.Nodes, "nodes", 20, "propagation: network size")
	fs.IntVar(&c.o.Degree, "degree", 2, "propagation: random earlier nodes each node bootstraps to")
	fs.IntVar(&c.o.Samples, "samples", 50, "propagation: blocks mined, and transactions sent, one at a time")
	fs.BoolVar(&c.o.Compact, "compact", false, "propagation: compact block relay against whole blocks and empty blocks, in one network")
	fs.IntVar(&c.o.BlockTxs, "block-txs", 2000, "propagation --compact: transactions per block")
	fs.BoolVar(&c.o.GoalOnly, "goal-only", false, "propagation --compact: only empty blocks and compact blocks in sync (the latency goal's two ways)")
	fs.BoolVar(&c.o.GCFirst, "gc-first", false, "propagation --compact: collect garbage before each timed block, so no collection ends in the window (a diagnosis: hides the cost of the nodes' own garbage)")
	fs.Float64Var(&c.o.Missing, "missing", 0.1, "propagation --compact: share of a block's transactions absent from each node's mempool in the out-of-sync way")
	fs.IntVar(&c.o.Blocks, "blocks", 10000, "sync: chain length in blocks")
	fs.IntVar(&c.o.Net.Degree, "max-degree", 8, "network: most links a node has")
	fs.IntVar(&c.o.Net.GossipD, "gossip-d", 0, "network: gossipsub mesh degree D (0 = the library's 6)")
	fs.IntVar(&c.o.Net.Miners, "miners", 5, "network: mining nodes")
	fs.DurationVar(&c.o.Net.Interval, "interval", 4*time.Second, "network: mean block interval (exponential gaps)")
	fs.IntVar(&c.o.Net.Blocks, "net-blocks", 30, "network: blocks mined")
	fs.Float64Var(&c.o.Net.TxRate, "tx-rate", 4, "network: transactions sent per second (negative: none)")
	fs.DurationVar(&c.o.Net.Partition, "partition", 8*time.Second, "network: how long the two halves are cut apart (negative: no partition)")
	fs.DurationVar(&c.o.Net.LatencyMin, "latency-min", 20*time.Millisecond, "network: least link latency")
	fs.DurationVar(&c.o.Net.LatencyMax, "latency-max", 100*time.Millisecond, "network: most link latency")
	fs.Float64Var(&c.o.Net.Bandwidth, "bandwidth", 12.5e6, "network: bytes/s per link")
	fs.Float64Var(&c.o.Net.TimeScale, "time-scale", 1, "network: slow every clock of the modelled network by this factor and divide the times measured by it (each node then has time-scale×cores/nodes of a core)")
	fs.BoolVar(&c.o.Net.Beacons, "beacons", false, "network: keep the nodes' stats beacons on (N² deliveries every 5 s)")
	fs.IntVar(&c.o.TxsPerBlock, "txs", c.o.TxsPerBlock, "sync and rest: signed transactions per block (0 = coinbase only, the tutorial's shape; at most 50)")
	fs.BoolVar(&c.skipWhole, "skip-whole", false, "sync: leave out the whole-chain and serial ways")
	fs.IntVar(&c.o.SyncPeers, "peers", 1, "sync: nodes serving the chain to the parallel download")
	fs.BoolVar(&c.o.SkipTutorial, "skip-tutorial", false, "sync --txs 0: leave out the tutorial's resolve (python3 bench scripts) it is compared with")
	fs.BoolVar(&c.o.SyncPreverify, "preverify", false, "sync: also time the parallel download with early signature checks (node.Config.SyncPreverify)")
	fs.StringVar(&c.o.SyncProfile, "sync-profile", "", "sync: write a CPU profile of the syncing node's process over the sync alone to FILE")
	fs.IntVar(&c.o.IngestTxs, "ingest-txs", 10000, "ingest: transactions per way (at most the mempool's 10,000)")
	fs.IntVar(&c.o.IngestClients, "clients", 8, "ingest: concurrent submitters")
	fs.DurationVar(&c.o.PowDuration, "pow-duration", 2*time.Second, "pow: how long each rate is measured")
	fs.IntVar(&c.o.RestBlocks, "rest-blocks", 10000, "rest: chain length of the idle node")
	fs.IntVar(&c.o.StartupBlocks, "startup-blocks", 100000, "rest: chain length of the store timed from start to serving")
	fs.IntVar(&c.o.StartupTxs, "startup-txs", c.o.StartupTxs, "rest: transactions per block of that store")
	fs.UintVar(&c.o.Difficulty, "difficulty", 4, "leading zero bits of the bench network")
	fs.StringVar(&c.o.CacheDir, "cache", "", "where generated chains are kept (default $TMPDIR/gossipchain-bench-cache)")
	fs.BoolVar(&c.inProcess, "in-process", false, "run the syncing and idle nodes in this process (no helper processes; RSS is then the whole process's)")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines on stderr")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of this process to FILE (helpers not included: use --in-process)")
	fs.StringVar(&c.traceFile, "trace", "", "write an execution trace of this process to FILE (go tool trace FILE; ingest marks each submission as a region \"submit\")")
	fs.StringVar(&c.in, "in", "", "network-plot: `bench network --json` outputs to plot, comma-separated")
	fs.StringVar(&c.out, "out", "docs", "plot: directory for the PNGs and plot-data.json")
	fs.StringVar(&c.sizes, "sizes", "5,10,20,35,50", "plot: network sizes")
	fs.StringVar(&c.lengths, "lengths", "1000,2000,5000,10000", "plot: chain lengths")
	return fs
}

func (c *benchConfig) options(stderr io.Writer) (bench.Options, error) {
	o := c.o
	if c.small {
		bench.Small(&o)
	}
	if o.PowDuration <= 0 {
		return o, fmt.Errorf("--pow-duration %v: want a positive duration", o.PowDuration)
	}
	o.SkipWholeChain = c.skipWhole
	if o.TxsPerBlock < 0 || o.TxsPerBlock > 50 {
		return o, fmt.Errorf("--txs %d: want 0 to 50", o.TxsPerBlock)
	}
	if o.Difficulty < 1 || o.Difficulty > 24 {
		return o, fmt.Errorf("--difficulty %d: want 1 to 24 for benchmarks", o.Difficulty)
	}
	if !c.quiet {
		o.Log = stderr
	}
	if !c.inProcess {
		o.Helper = bench.SelfHelper
		o.NodeCommand = selfNodeCommand(o.Difficulty)
	}
	return o, nil
}

// selfNodeCommand starts this binary as a plain node: its API on apiAddr,
// p2p on loopback only, no mDNS, no console.
func selfNodeCommand(difficulty uint) func(dataDir, apiAddr string) *exec.Cmd {
	return func(dataDir, apiAddr string) *exec.Cmd {
		exe, err := os.Executable()
		if err != nil {
			exe = os.Args[0]
		}
		cmd := exec.Command(exe,
			"--data-dir", dataDir,
			"--http", apiAddr,
			"--listen", "/ip4/127.0.0.1/tcp/0",
			"--mdns=false",
			"--console=false",
			"--difficulty", strconv.FormatUint(uint64(difficulty), 10),
			"--log-level", "warn",
		)
		// Only the flags above: no GOSSIPCHAIN_* setting of the caller's
		// (a bootstrap list, say) reaches the measured node.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GOSSIPCHAIN_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		return cmd
	}
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// largeNetworkNodes is the size from which bench network slows its clock
// by default: below it the real-time run keeps up on two cores.
const largeNetworkNodes = 300

// largeNetworkDefaults makes a large network's run fit in minutes on two
// cores: a slowed clock (k = nodes/100) and 12 blocks at 2 s with a 2 s
// partition, unless the flags say otherwise; it says what it chose.
func largeNetworkDefaults(n *bench.NetworkOptions, set map[string]bool, stderr io.Writer) {
	if n.Nodes < largeNetworkNodes {
		return
	}
	var chose []string
	if !set["time-scale"] {
		n.TimeScale = float64(n.Nodes / 100)
		chose = append(chose, fmt.Sprintf("--time-scale %g", n.TimeScale))
	}
	if !set["interval"] {
		n.Interval = 2 * time.Second
		chose = append(chose, "--interval 2s")
	}
	if !set["net-blocks"] {
		n.Blocks = 12
		chose = append(chose, "--net-blocks 12")
	}
	if !set["partition"] {
		n.Partition = 2 * time.Second
		chose = append(chose, "--partition 2s")
	}
	if len(chose) > 0 {
		fmt.Fprintf(stderr, "gossipchain bench network: %d nodes: %s (the defaults from %d nodes; give a flag to override)\n", n.Nodes, strings.Join(chose, " "), largeNetworkNodes)
	}
}
