package node

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// fillDisk writes a file in dir until the filesystem refuses a byte more,
// and returns a function that frees the space.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<16)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	f.Close()
	return func() { os.Remove(path) }
}

// smallDisk mounts a tmpfs of size (such as "16m") on a new directory,
// unmounted when the test ends; it skips the test unless run as root.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A node whose disk is full while it downloads blocks blames nobody: the
// peer that sent good blocks is neither penalised nor banned, and once
// space returns the same peer brings the node up to date. Both sync paths
// once banned every peer here (the chaos test: a node isolated for the
// ban's 24 h).
func TestSyncOnFullDiskBlamesNobody(t *testing.T) {
	for _, serial := range []bool{false, true} {
		name := "parallel"
		if serial {
			name = "serial"
		}
		t.Run(name, func(t *testing.T) {
			dir := smallDisk(t, "16m")
			a := testNode(t, "")
			b := testNode(t, filepath.Join(dir, "data"), func(c *Config) { c.SyncSerial = serial })
			mineN(t, a, 40)
			free := fillDisk(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			connectNodes(t, b, a)
			_, err := b.SyncFrom(ctx, a.ID())
			if err == nil && b.Chain().Tip().Hash == a.Chain().Tip().Hash {
				t.Fatal("synced 40 blocks onto a full disk: the test did not fill it")
			}
			if errors.Is(err, errPeerMisbehaved) {
				t.Fatalf("our full disk blamed on the peer: %v", err)
			}
			if b.IsBanned(a.ID()) || b.Penalty(a.ID()) > 0 {
				t.Fatalf("peer penalised (%.0f points, banned %v) for our full disk", b.Penalty(a.ID()), b.IsBanned(a.ID()))
			}
			t.Logf("on the full disk: %v", err)
			free()
			deadline := time.Now().Add(20 * time.Second)
			for b.Chain().Tip().Hash != a.Chain().Tip().Hash {
				if time.Now().After(deadline) {
					t.Fatalf("not synced after space returned: %d of %d", b.Chain().Tip().Index, a.Chain().Tip().Index)
				}
				b.SyncFrom(ctx, a.ID())
				time.Sleep(200 * time.Millisecond)
			}
			if b.Penalty(a.ID()) > 0 {
				t.Fatalf("peer penalised: %.0f points", b.Penalty(a.ID()))
			}
		})
	}
}

// A miner whose disk is full publishes none of the blocks it cannot
// store once a commit has failed. Compact relay sends a mined block before
// its commit; with the commit failing, every attempt was published on the
// same stale head, and once the network was LowWorkMargin blocks ahead
// each was a low-work block: the chaos test saw such a miner banned by all
// its peers. (The attempt whose commit fails first is published, as any
// block is before its commit: B has no peer then.)
func TestFullDiskMinerPublishesNothing(t *testing.T) {
	dir := smallDisk(t, "16m")
	a := testNode(t, "")
	b := testNode(t, filepath.Join(dir, "data"))
	ctx := context.Background()
	mineN(t, b, 2)

	free := fillDisk(t, dir)
	mineUntilFailures := func(k int) {
		t.Helper()
		failures := 0
		for tries := 0; failures < k; tries++ {
			if tries == 200 {
				t.Fatal("200 blocks stored on the full disk: the test did not fill it")
			}
			if _, err := b.MineBlock(ctx); err != nil {
				if !errors.Is(err, chain.ErrStoreFailed) {
					t.Fatalf("mining on the full disk: %v", err)
				}
				failures++
			}
		}
	}
	mineUntilFailures(1)
	if !b.Chain().StoreFailing() {
		t.Fatal("a commit failed and the chain does not say so")
	}
	head := b.Chain().Tip().Hash
	connectNodes(t, b, a)
	meshed(t, map[*Node]int{a: 1, b: 1})
	waitFor(t, 20*time.Second, "A to sync B's stored chain", func() bool { return a.Chain().Tip().Hash == head })
	mineUntilFailures(3)

	free()
	var blk *chain.Block
	waitFor(t, 20*time.Second, "B to mine once space returned", func() bool {
		var err error
		blk, err = b.MineBlock(ctx)
		return err == nil
	})
	if blk.PrevHash != head {
		t.Fatalf("B's first block after the full disk is not on its stale head")
	}
	waitFor(t, 20*time.Second, "A to get B's block", func() bool { return a.Chain().HasBlock(blk.Hash()) })
	// Each failed block extended the same head as blk: had one reached A,
	// A would hold it as its head's child and blk on a side branch.
	if !a.Chain().IsMain(blk.Hash()) {
		t.Fatal("a block B could not store reached A before B's stored one")
	}
	if a.Penalty(b.ID()) > 0 {
		t.Fatalf("A penalised B: %.0f points", a.Penalty(b.ID()))
	}
}
