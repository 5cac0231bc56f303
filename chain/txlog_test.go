package chain

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func logTxs(t testing.TB, n int) []*Tx {
	t.Helper()
	w := wallet(7)
	to := wallet(8).Address()
	out := make([]*Tx, n)
	for i := range out {
		out[i] = w.NewTx(testNet, to, 1, 1, uint64(i))
	}
	return out
}

func openLog(t testing.TB, path string, opts TxLogOptions) (*TxLog, []*Tx) {
	t.Helper()
	l, txs, err := OpenTxLog(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l, txs
}

func TestTxLogReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxLogFile)
	txs := logTxs(t, 10)
	l, got := openLog(t, path, TxLogOptions{})
	if len(got) != 0 {
		t.Fatalf("new log replays %d", len(got))
	}
	for _, tx := range txs {
		if err := l.Append(tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(txs[3]); err != nil { // a duplicate replays once
		t.Fatal(err)
	}
	// No Close: as after a SIGKILL, the file is as the appends left it.
	l2, got := openLog(t, path, TxLogOptions{})
	defer l2.Close()
	wantOrder(t, got, txs...)
}

// A torn last record (a crash mid-write) and garbage after it are cut off;
// appends after that are read back.
func TestTxLogTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxLogFile)
	txs := logTxs(t, 5)
	l, _ := openLog(t, path, TxLogOptions{})
	for _, tx := range txs[:3] {
		if err := l.Append(tx); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := appendRecord(nil, txs[3])
	f.Write(rec[:100]) // torn
	f.Close()
	l2, got := openLog(t, path, TxLogOptions{})
	wantOrder(t, got, txs[:3]...)
	if err := l2.Append(txs[4]); err != nil {
		t.Fatal(err)
	}
	_, got = openLog(t, path, TxLogOptions{})
	wantOrder(t, got, txs[0], txs[1], txs[2], txs[4])

	// A flipped bit in a record ends the replay there.
	data, _ := os.ReadFile(path)
	data[len(txLogMagic)+txLogRecord+10] ^= 1
	os.WriteFile(path, data, 0o600)
	_, got = openLog(t, path, TxLogOptions{})
	wantOrder(t, got, txs[0])
}

// The log compacts itself to the live set once it grows.
func TestTxLogCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxLogFile)
	txs := logTxs(t, 200)
	var mu sync.Mutex
	live := txs[:0:0]
	l, _ := openLog(t, path, TxLogOptions{CompactAt: 50 * txLogRecord, Live: func() []*Tx {
		mu.Lock()
		defer mu.Unlock()
		return append([]*Tx(nil), live...)
	}})
	for i, tx := range txs {
		mu.Lock()
		live = append(live, tx)
		if len(live) > 5 {
			live = live[1:] // the oldest were mined
		}
		mu.Unlock()
		if err := l.Append(tx); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(path); st.Size() > 2*50*txLogRecord+int64(len(txLogMagic)) {
			t.Fatalf("after %d appends the log is %d bytes", i+1, st.Size())
		}
	}
	if l.Stats().Compactions == 0 {
		t.Fatal("never compacted")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, got := openLog(t, path, TxLogOptions{})
	wantOrder(t, got, txs[195:]...)
}

// Concurrent appenders share fsyncs.
func TestTxLogGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxLogFile)
	txs := logTxs(t, 800)
	l, _ := openLog(t, path, TxLogOptions{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < len(txs); i += 16 {
				if err := l.Append(txs[i]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := l.Stats()
	t.Logf("%d records in %d writes+fsyncs", st.Records, st.Batches)
	if st.Records != int64(len(txs)) || st.Batches >= st.Records {
		t.Fatalf("%d records in %d batches: no group commit", st.Records, st.Batches)
	}
	_, got := openLog(t, path, TxLogOptions{})
	if len(got) != len(txs) {
		t.Fatalf("replayed %d of %d", len(got), len(txs))
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory (root only).
func mountTmpfs(t *testing.T, size string) string {
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

// fillDisk writes a file until the disk is full.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for { // the last few bytes
		if _, err := f.Write(buf[:1]); err != nil {
			break
		}
	}
	return path
}

// A full disk: Append refuses, naming the disk; when space returns the log
// rewrites itself and every acknowledged record is there.
func TestTxLogDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	path := filepath.Join(dir, TxLogFile)
	txs := logTxs(t, 100)
	var mu sync.Mutex
	var live []*Tx
	l, _ := openLog(t, path, TxLogOptions{RetryInterval: 1, Live: func() []*Tx {
		mu.Lock()
		defer mu.Unlock()
		return append([]*Tx(nil), live...)
	}})
	var acked []*Tx
	for _, tx := range txs[:5] {
		if err := l.Append(tx); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, tx)
	}
	mu.Lock()
	live = append(live, acked...)
	mu.Unlock()
	filler := fillDisk(t, dir)
	var refused error
	for _, tx := range txs[5:90] {
		err := l.Append(tx)
		if err == nil {
			acked = append(acked, tx) // page slack may take a few
			mu.Lock()
			live = append(live, tx)
			mu.Unlock()
			continue
		}
		refused = err
	}
	if !errors.Is(refused, ErrTxLogUnavailable) || !errors.Is(refused, syscall.ENOSPC) || !strings.Contains(refused.Error(), "disk holding "+path+" is full") {
		t.Fatalf("append on a full disk: %v", refused)
	}
	if l.Err() == nil {
		t.Fatal("Err is nil on a full disk")
	}
	t.Logf("refused: %v", refused)
	os.Remove(filler)
	for _, tx := range txs[90:] {
		if err := l.Append(tx); err != nil {
			t.Fatalf("after space returned: %v", err)
		}
		acked = append(acked, tx)
	}
	if l.Err() != nil {
		t.Fatal(l.Err())
	}
	_, got := openLog(t, path, TxLogOptions{})
	have := make(map[Hash]bool)
	for _, tx := range got {
		have[tx.ID()] = true
	}
	for _, tx := range acked {
		if !have[tx.ID()] {
			t.Fatalf("acknowledged tx nonce %d lost", tx.Nonce)
		}
	}
}
