package chain

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A store commit that fails on a full disk makes the chain refuse writes;
// once space returns the next write reloads the chain from disk and goes
// on, without a restart.
func TestStoreFullRecovers(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	p := TestParams()
	clock := &testClock{t: p.GenesisTime.Add(time.Hour)}
	c, err := Open(filepath.Join(dir, "chain.db"), Options{Params: p, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	miner := wallet(1).Address()
	mine(t, c, clock, miner)
	filler := fillDisk(t, dir)
	var failed *Block
	for range 200 { // until a commit needs a new page
		clock.t = clock.t.Add(time.Second)
		b := c.NewBlockTemplate(miner)
		solve(t, b)
		if _, err := c.AddBlock(b); err != nil {
			if !errors.Is(err, ErrStoreFailed) {
				t.Fatalf("add on a full disk: %v", err)
			}
			failed = b
			break
		}
	}
	if failed == nil {
		t.Skip("the disk never refused a commit")
	}
	tip := c.Tip()
	clock.t = clock.t.Add(time.Second)
	next := c.NewBlockTemplate(miner)
	solve(t, next)
	time.Sleep(recoverInterval + 50*time.Millisecond)
	if _, err := c.AddBlock(next); !errors.Is(err, ErrStoreFailed) {
		t.Fatalf("while the disk is full: %v", err)
	}
	os.Remove(filler)
	time.Sleep(recoverInterval + 50*time.Millisecond)
	if _, err := c.AddBlock(failed); err != nil {
		t.Fatalf("after space returned: %v", err)
	}
	if got := c.Tip(); got.Index != tip.Index+1 || got.Hash != failed.Hash() {
		t.Fatalf("head %d %s, want %d %s", got.Index, got.Hash, tip.Index+1, failed.Hash())
	}
	mine(t, c, clock, miner)
	c.Close()
	c2, err := Open(filepath.Join(dir, "chain.db"), Options{Params: p, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	checkMainChain(t, c2)
}
