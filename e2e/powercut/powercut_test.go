package powercut

import (
	"bytes"
	"os"
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
	if st.Cuts != 1 || st.Files != 3 || st.Bytes == 0 {
		t.Errorf("stats %+v", st)
	}
}

// A file replaced by rename keeps what was synced before the rename (the
// write-temp, sync, rename pattern of the nodes' key files and log).
func TestRenameAfterSyncSurvives(t *testing.T) {
	p, mnt := mountT(t)
	final, tmp := filepath.Join(mnt, "key"), filepath.Join(mnt, "key.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	writeAt(t, f, "secret", 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	// Written over without a sync: lost by the cut.
	if err := os.WriteFile(final, []byte("overwritten"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Cut(); err != nil {
		t.Fatal(err)
	}
	if got := read(t, final); got != "secret" {
		t.Fatalf("after the cut: %q, want %q", got, "secret")
	}
}

// Reads through a memory mapping (bbolt's) see the writes made with pwrite.
func TestMappedReadsSeeWrites(t *testing.T) {
	_, mnt := mountT(t)
	f, err := os.Create(filepath.Join(mnt, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(1 << 16); err != nil {
		t.Fatal(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 1<<16, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	writeAt(t, f, "page", 8192)
	if !bytes.Equal(m[8192:8196], []byte("page")) {
		t.Fatalf("mapping reads %q", m[8192:8196])
	}
}
