package node

import (
	"context"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// TestSyncPhases: a fresh node syncs 3,000 blocks from a peer, and the
// phases it reports account for the sync: every block received, in
// order of time (headers, first block, first precheck, last block, end),
// each stage's busy time within the sync, and the commits covering it.
func TestSyncPhases(t *testing.T) {
	p := chain.TestParams()
	blocks := downloadChain(p, 3000)
	srv := servingNode(t, blocks)
	d := testNode(t, "", func(c *Config) { c.NoAutoSync = true })
	if _, ok := d.LastSyncPhases(); ok {
		t.Fatal("phases reported before any sync")
	}
	connectNodes(t, d, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := d.SyncFrom(ctx, srv.host.ID()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	ph, ok := d.LastSyncPhases()
	if !ok {
		t.Fatal("no phases after a sync")
	}
	t.Logf("%+v", ph)
	if ph.Blocks != len(blocks) {
		t.Errorf("%d blocks received, want %d", ph.Blocks, len(blocks))
	}
	if ph.Total <= 0 || ph.Total > took {
		t.Errorf("total %v, want within the %v SyncFrom took", ph.Total, took)
	}
	if ph.Headers <= 0 || ph.Headers > ph.Total {
		t.Errorf("headers took %v, want positive and within the sync's %v", ph.Headers, ph.Total)
	}
	order := []struct {
		name string
		at   time.Duration
	}{{"download start", ph.Download}, {"first block", ph.FirstBlock}, {"last block", ph.LastBlock}, {"end", ph.Total}}
	for i := 1; i < len(order); i++ {
		if order[i-1].at <= 0 || order[i-1].at > order[i].at {
			t.Errorf("%s at %v, then %s at %v: want positive and in that order", order[i-1].name, order[i-1].at, order[i].name, order[i].at)
		}
	}
	// Small blocks may all arrive before the first precheck (a commit's
	// worth is waited for), so only its lower bound is sure.
	if ph.FirstCheck < ph.FirstBlock || ph.FirstCheck > ph.Total {
		t.Errorf("first precheck at %v, want after the first block (%v) and within the sync (%v)", ph.FirstCheck, ph.FirstBlock, ph.Total)
	}
	if ph.Prechecks < 1 || ph.Commits != ph.Prechecks {
		t.Errorf("%d prechecks and %d commits, want as many commits as prechecks, at least one", ph.Prechecks, ph.Commits)
	}
	if ph.PrecheckBusy <= 0 || ph.PrecheckBusy > ph.Total {
		t.Errorf("prechecks busy %v, want positive and within the sync's %v", ph.PrecheckBusy, ph.Total)
	}
	if ph.LastCommit <= 0 || ph.LastCommit > ph.CommitBusy || ph.CommitBusy > ph.Total {
		t.Errorf("last commit %v, commits busy %v, sync %v: want 0 < last ≤ busy ≤ sync", ph.LastCommit, ph.CommitBusy, ph.Total)
	}
	// The last commit starts after the last block arrived.
	if ph.Total-ph.LastBlock < ph.LastCommit {
		t.Errorf("%v from the last block to the end, shorter than the last commit (%v)", ph.Total-ph.LastBlock, ph.LastCommit)
	}
}
