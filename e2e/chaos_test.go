package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/e2e/chaos"
)

var (
	chaosDuration = flag.Duration("chaos.duration", 60*time.Second, "TestChaos: how long faults are injected")
	chaosOut      = flag.String("chaos.out", "", "TestChaos: directory for node logs, report.json and timeline.png (default: a temporary one, removed)")
	chaosSeed     = flag.Uint64("chaos.seed", 0, "TestChaos: random seed (0: from the clock; the report names it)")
	chaosNodes    = flag.Int("chaos.nodes", 5, "TestChaos: number of nodes")
)

// TestChaos runs five nodes (the real binary) in network namespaces, two
// of them mining, clients submitting signed transactions to random nodes,
// and a nemesis that kills and restarts nodes, partitions the network,
// skews clocks (GOSSIPCHAIN_CLOCK_OFFSET), adds delay and loss (tc netem)
// and fills data disks. Then everything is healed and the checker asks:
// every acknowledged transaction mined exactly once or beaten by a
// conflicting spend, one head, every store checks, no panic in any log.
// See e2e/chaos and docs/RELIABILITY.md; `make chaos DURATION=30m` runs long.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the chaos test")
	}
	if os.Geteuid() != 0 {
		requirement(t, "the chaos test needs root (network namespaces, mounts, tc)")
	}
	for _, tool := range []string{"ip", "tc", "mkfs.ext4", "mount", "truncate"} {
		if _, err := exec.LookPath(tool); err != nil {
			requirement(t, "%s is not installed: the chaos test needs it", tool)
		}
	}
	probe := fmt.Sprintf("gcchaosprobe%d", os.Getpid())
	if _, err := runCmd(30*time.Second, nil, "ip", "netns", "add", probe); err != nil {
		requirement(t, "cannot create network namespaces here: %v", err)
	}
	_, _ = runCmd(30*time.Second, nil, "ip", "netns", "delete", probe)
	bin := gossipchainBinary(t)

	out := *chaosOut
	if out == "" {
		out = t.TempDir()
	} else if abs, err := filepath.Abs(out); err == nil {
		out = abs
	}
	work, err := os.MkdirTemp("", "gossipchain-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// An interrupted run tears its namespaces and mounts down as well.
	stop := addTeardown(cancel)
	defer stop()
	rep, err := chaos.Run(ctx, chaos.Config{
		Bin: bin, Nodes: *chaosNodes, Duration: *chaosDuration, Seed: *chaosSeed,
		Prefix: fmt.Sprintf("gcch%d", os.Getpid()), OutDir: out, WorkDir: work,
		Logf:     t.Logf,
		Register: addTeardown, // its cleanup runs once (sync.Once)
	})
	if rep != nil {
		t.Logf("report: %s/report.json, plot: %s/timeline.png", out, out)
		t.Logf("acknowledged %d (%v), mined once %d, lost to a conflicting spend %d, lost %d, duplicated %d; faults %d %v; longest convergence after a fault %.0f s; final convergence %.0f s; bans between nodes %d %v",
			rep.Acked, rep.AckedByKind, rep.Mined, rep.Explained, rep.Lost, rep.Duplicated, rep.FaultsInjected, rep.FaultsByKind, rep.LongestConvergeS, rep.ConvergedS, len(rep.Bans), rep.Bans)
	}
	if err != nil {
		t.Fatal(err)
	}
}
