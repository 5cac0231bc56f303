package chaos

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gossipchain/gossipchain/e2e/powercut"
)

// TestPowerCutOnFullDisk is the nemesis's power cut on a node whose disk
// it has filled, as a 30-minute run met it: the node's store had grown by
// truncation (a hole, made durable), a write into the hole failed for
// want of space after the model had noted the bytes it replaced, and the
// cut, writing those zeros back, failed halfway ("put back: no space left
// on device"). The cut must take every unsynced write and need no space.
func TestPowerCutOnFullDisk(t *testing.T) {
	// CI has what it needs (.ci/run installs it): a skip there would
	// hide a failure.
	skip := t.Skip
	if os.Getenv("CI") == "true" {
		skip = t.Fatal
	}
	if err := powercut.Available(); err != nil {
		skip(err)
	}
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		skip(err)
	}
	work := t.TempDir()
	p := &proc{i: 1, dir: filepath.Join(work, "node1")}
	d, err := newDisk(filepath.Join(work, "node1.img"), p.dir, 16)
	if err != nil {
		skip("no loop-mounted disk here:", err)
	}
	t.Cleanup(d.unmount)
	if err := errors.Join(os.MkdirAll(p.powerBacking(), 0o700), os.MkdirAll(p.powerMount(), 0o700)); err != nil {
		t.Fatal(err)
	}
	fs, err := powercut.Mount(p.powerBacking(), p.powerMount())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })

	// 1 MiB of data made durable, then the file grown to 8 MiB by
	// truncation and synced: the rest is a hole.
	path := filepath.Join(p.powerMount(), "chain.db")
	durable := bytes.Repeat([]byte("durable "), 1<<20/8)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(durable); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 << 20); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := syncPath(p.powerMount()); err != nil { // the name too
		t.Fatal(err)
	}
	// Unsynced: the data overwritten; then, on a full disk, a write into
	// the hole, which fails.
	if _, err := f.WriteAt(bytes.Repeat([]byte("LOST"), 64<<10), 0); err != nil {
		t.Fatal(err)
	}
	if err := d.fill(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{1}, 4<<20), 2<<20); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a write into the hole on a full disk: %v, want no space left", err)
	}
	f.Close()

	if err := fs.Cut(); err != nil {
		t.Fatalf("cut on a full disk: %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := append(durable, make([]byte, 7<<20)...)
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("after the cut the file holds %d bytes, first differing at %d; want the durable 1 MiB and 7 MiB of zeros", len(got), i)
	}
	// The disk stays as the fault left it: full.
	err = os.WriteFile(filepath.Join(p.dir, "probe"), make([]byte, 64<<10), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing 64 KiB to the disk after the cut: %v, want no space left", err)
	}
}

func syncPath(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
