package chain

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
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
	// No preallocation: the test bounds the file's length.
	l, _ := openLog(t, path, TxLogOptions{CompactAt: 50 * txLogRecord, Prealloc: -1, Live: func() []*Tx {
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
	// A reserve of 26 records: the appends below run past it.
	l, _ := openLog(t, path, TxLogOptions{RetryInterval: 1, Prealloc: 4096, Live: func() []*Tx {
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

// BenchmarkTxLogAppend: the log's own cost per durable record with 64
// concurrent appenders, each promising its append first as node.SubmitTx
// does (cpu-µs/rec is the whole process's CPU, fdatasync's kernel time
// included).
func BenchmarkTxLogAppend(b *testing.B) {
	for _, linger := range []time.Duration{-1, time.Millisecond} {
		b.Run(fmt.Sprintf("linger=%v", linger), func(b *testing.B) {
			txs := logTxs(b, 4096)
			l, _ := openLog(b, filepath.Join(b.TempDir(), TxLogFile), TxLogOptions{Linger: linger})
			defer l.Close()
			var next atomic.Int64
			b.SetParallelism(32) // × GOMAXPROCS appenders
			cpu0 := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p := l.Expect()
					if err := p.Append(txs[next.Add(1)%int64(len(txs))]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(float64(st.Records)/float64(max(st.Batches, 1)), "rec/sync")
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/rec")
		})
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitHold polls until the writer holds a batch for a promise.
func waitHold(t *testing.T, l *TxLog) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Holds == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the writer never held a batch for the open promise")
		}
		time.Sleep(time.Millisecond)
	}
}

// appendAsync appends through p on a goroutine and returns its result.
func appendAsync(p *TxLogPromise, tx *Tx) <-chan error {
	res := make(chan error, 1)
	go func() { res <- p.Append(tx) }()
	return res
}

func waitAppend(t *testing.T, res <-chan error) {
	t.Helper()
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("append not acknowledged")
	}
}

// A promised append is waited for: two submitters share one fsync.
func TestTxLogPromiseHoldsBatch(t *testing.T) {
	txs := logTxs(t, 2)
	l, _ := openLog(t, filepath.Join(t.TempDir(), TxLogFile), TxLogOptions{Linger: time.Hour})
	defer l.Close()
	p1, p2 := l.Expect(), l.Expect()
	res := appendAsync(p1, txs[0])
	waitHold(t, l) // p1's record is taken, p2 is still open
	if err := p2.Append(txs[1]); err != nil {
		t.Fatal(err)
	}
	waitAppend(t, res)
	if st := l.Stats(); st.Batches != 1 || st.Records != 2 {
		t.Fatalf("%d records in %d batches, want 2 in 1", st.Records, st.Batches)
	}
}

// A cancelled promise releases the held batch at once (the linger is an
// hour), and a deferred Cancel after Append does nothing.
func TestTxLogPromiseCancel(t *testing.T) {
	txs := logTxs(t, 1)
	l, _ := openLog(t, filepath.Join(t.TempDir(), TxLogFile), TxLogOptions{Linger: time.Hour})
	defer l.Close()
	p1, p2 := l.Expect(), l.Expect()
	res := appendAsync(p1, txs[0])
	waitHold(t, l)
	p2.Cancel()
	waitAppend(t, res)
	p1.Cancel()
	var none *TxLogPromise // no log: nothing to do
	none.Cancel()
	if err := none.Append(txs[0]); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Batches != 1 || st.Records != 1 {
		t.Fatalf("%d records in %d batches, want 1 in 1", st.Records, st.Batches)
	}
}

// The file grows by zeroed chunks; a log left so (a SIGKILL) replays
// exactly its records, cut to them, and appends after them.
func TestTxLogPreallocated(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxLogFile)
	txs := logTxs(t, 11)
	l, _ := openLog(t, path, TxLogOptions{Prealloc: 4096})
	for _, tx := range txs[:10] {
		if err := l.Append(tx); err != nil {
			t.Fatal(err)
		}
	}
	records := int64(len(txLogMagic) + 10*txLogRecord)
	if fi, err := os.Stat(path); err != nil || fi.Size() != 4096 {
		t.Fatalf("file of %v bytes (%v), want 4096 (%d of records, then zeros)", fi.Size(), err, records)
	}
	l2, got := openLog(t, path, TxLogOptions{Prealloc: -1})
	wantOrder(t, got, txs[:10]...)
	if fi, _ := os.Stat(path); fi.Size() != records {
		t.Fatalf("reopened file of %d bytes, want %d", fi.Size(), records)
	}
	if err := l2.Append(txs[10]); err != nil {
		t.Fatal(err)
	}
	_, got = openLog(t, path, TxLogOptions{})
	wantOrder(t, got, txs...)
}

// Start returns while its record's batch is still held (the submitter
// checks its signature meanwhile); Wait returns once it is synced, and
// the record replays. A nil promise starts nothing and waits for nothing.
func TestTxLogStartDoesNotWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), TxLogFile)
	txs := logTxs(t, 1)
	l, _ := openLog(t, path, TxLogOptions{Linger: time.Hour})
	p1, p2 := l.Expect(), l.Expect()
	write := p1.Start(txs[0]) // returns: p2 holds the batch for an hour
	waitHold(t, l)
	if st := l.Stats(); st.Batches != 0 {
		t.Fatalf("%d batches written while held", st.Batches)
	}
	p2.Cancel()
	if err := write.Wait(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Batches != 1 || st.Records != 1 {
		t.Fatalf("%d records in %d batches, want 1 in 1", st.Records, st.Batches)
	}
	var none *TxLogPromise
	if err := none.Start(txs[0]).Wait(); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, _, err := readTxLog(path) // as a crash now would leave it
	if err != nil || len(got) != 1 || got[0].ID() != txs[0].ID() {
		t.Fatalf("the log holds %d txs (err %v), want the started one", len(got), err)
	}
}
