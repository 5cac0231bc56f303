package powercut

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

func mountT(t *testing.T) (*FS, string) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	back, mnt := t.TempDir(), t.TempDir()
	p, err := Mount(back, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, mnt
}

func writeAt(t *testing.T, f *os.File, s string, off int64) {
	t.Helper()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCutLosesWhatWasNotSynced(t *testing.T) {
	p, mnt := mountT(t)
	synced, unsynced, datasynced := filepath.Join(mnt, "a"), filepath.Join(mnt, "b"), filepath.Join(mnt, "c")

	a, err := os.Create(synced)
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, a, "hello world", 0)
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	writeAt(t, a, "HELLO", 0)      // over synced bytes
	writeAt(t, a, " and more", 11) // past the synced size
	a.Close()

	b, err := os.Create(unsynced)
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, b, "never synced", 0)
	b.Close()

	c, err := os.Create(datasynced)
	if err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt) // the three names are durable; their contents are the test
	writeAt(t, c, "0123456789", 0)
	if err := syscall.Fdatasync(int(c.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := c.Truncate(4); err != nil { // a truncation is a change too
		t.Fatal(err)
	}
	c.Close()

	if got := read(t, synced); got != "HELLO world and more" {
		t.Fatalf("before the cut: %q", got)
	}
	if err := p.Cut(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{synced: "hello world", unsynced: "", datasynced: "0123456789"} {
		if got := read(t, path); got != want {
			t.Errorf("%s after the cut: %q, want %q", filepath.Base(path), got, want)
		}
	}
	st := p.Stats()
	if st.Cuts != 1 || st.Files != 3 || st.Bytes == 0 || st.Writes != 5 || st.Syncs != 2 {
		t.Errorf("stats %+v: want 1 cut, 3 files and some bytes lost, 5 writes and 2 syncs seen", st)
	}
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// The write-temp, sync, rename pattern of key files and the log: durable
// only with the directory synced after the rename.
func TestRenameNeedsItsDirectorySynced(t *testing.T) {
	p, mnt := mountT(t)
	save := func(name, content string, dirSync bool) {
		tmp := filepath.Join(mnt, name+".tmp")
		f, err := os.Create(tmp)
		if err != nil {
			t.Fatal(err)
		}
		writeAt(t, f, content, 0)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Rename(tmp, filepath.Join(mnt, name)); err != nil {
			t.Fatal(err)
		}
		if dirSync {
			syncDir(t, mnt)
		}
	}
	save("kept", "secret", true)
	// Written over without a sync: the overwrite is lost, not the file.
	if err := os.WriteFile(filepath.Join(mnt, "kept"), []byte("overwritten"), 0o600); err != nil {
		t.Fatal(err)
	}
	save("lost", "never named", false)
	if err := p.Cut(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(mnt, "kept")); got != "secret" {
		t.Errorf("kept after the cut: %q, want %q", got, "secret")
	}
	if exists(filepath.Join(mnt, "lost")) {
		t.Error("lost: renamed into a directory never synced, and still there after the cut")
	}
	// Its temporary name was created without a directory sync as well.
	if exists(filepath.Join(mnt, "lost.tmp")) {
		t.Error("lost.tmp: created in a directory never synced, and there after the cut")
	}
}

func TestUnlinkNeedsItsDirectorySynced(t *testing.T) {
	p, mnt := mountT(t)
	a, b := filepath.Join(mnt, "a"), filepath.Join(mnt, "b")
	for _, path := range []string{a, b} {
		if err := os.WriteFile(path, []byte(filepath.Base(path)), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Sync()
		f.Close()
	}
	syncDir(t, mnt)
	os.Remove(a)
	os.Remove(b)
	if err := os.WriteFile(b, []byte("new b"), 0o600); err != nil { // a new file under the old name
		t.Fatal(err)
	}
	if err := p.Cut(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{a: "a", b: "b"} {
		if got := read(t, path); got != want {
			t.Errorf("%s after the cut: %q, want %q", filepath.Base(path), got, want)
		}
	}
	if st := p.Stats(); st.Names != 3 {
		t.Errorf("name changes undone: %d, want 3 (two unlinks, one create)", st.Names)
	}
}

// A child process must not inherit the mount's connection: it would keep
// the mount up, serverless, after this process ends.
func TestChildrenDoNotHoldTheConnection(t *testing.T) {
	mountT(t)
	out, err := exec.Command("sh", "-c", "ls -l /proc/self/fd/").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("/dev/fuse")) {
		t.Fatalf("a child holds /dev/fuse:\n%s", out)
	}
}

// TestCutPutsHolesBack: bytes written into a durable hole (a file grown
// by truncation) come back as a hole, not as written zeros, so a cut
// needs no free space (a full disk refused the zeros: see
// chaos.TestPowerCutOnFullDisk).
func TestCutPutsHolesBack(t *testing.T) {
	p, mnt := mountT(t)
	path := filepath.Join(mnt, "sparse")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4 << 20); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	blocks := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks
	}
	before := blocks()
	writeAt(t, f, string(bytes.Repeat([]byte{7}, 1<<20)), 1<<20)
	if got := blocks(); got < before+(1<<20)/512 {
		t.Fatalf("%d blocks after writing 1 MiB into the hole (%d before): the write did not allocate", got, before)
	}
	f.Close() // a cut unmounts: nothing may hold the mount
	if err := p.Cut(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, make([]byte, 4<<20)) {
		t.Fatalf("after the cut: %d bytes, %v; want 4 MiB of zeros", len(b), err)
	}
	if got := blocks(); got > before {
		t.Errorf("%d blocks after the cut, %d before the write: the hole was filled with written zeros", got, before)
	}
}
