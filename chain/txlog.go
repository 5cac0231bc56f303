package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// TxLog is an append-only, fsync'd log of pending transactions: what makes
// an acknowledgement durable. Append returns once the transactions are on
// disk; concurrent appenders copy their records into one batch, which one
// writer goroutine writes with one write and one fdatasync, then answers
// all at once by closing the batch's channel (group commit: no allocation
// or hand-off a record). A submitter that announces its append before
// validating (Expect) is
// waited for, briefly, so that concurrent submitters share one fsync
// rather than each paying one. The file grows by zeroed chunks, so that an
// append overwrites allocated space and its fdatasync flushes data only.
// The log is replayed at start (OpenTxLog returns what it holds) and
// compacted when it grows: the live transactions (TxLogOptions.Live, the
// mempool) are written to a temporary file, fsync'd and renamed over it.
//
// A write or fsync that fails (a full disk) breaks the log: Append refuses
// at once with a TxLogError naming the file, and at most once a
// RetryInterval a compaction is tried, which writes a whole new file; when
// it succeeds the log works again. A failed batch may leave a torn record
// at the tail; each record carries a CRC, and replay stops at the first
// bad one (a compaction never appends after one).
type TxLog struct {
	path string
	opts TxLogOptions

	mu       sync.Mutex
	cur      *txLogBatch  // the records the writer takes next
	open     int          // promises not ended
	compacts []chan error // Compact calls waiting
	closed   bool
	kick     chan struct{} // cap 1: wakes the writer
	done     chan struct{} // closed when the writer has ended

	// Owned by the committer goroutine (and OpenTxLog before it starts).
	f         *os.File
	size      int64 // end of the last record
	alloc     int64 // file length: size, then zeroed space
	liveSize  int64 // size after the last compaction
	lastRetry time.Time

	broken atomic.Pointer[TxLogError] // non-nil while writes fail

	batches, records, compactions, holds atomic.Int64
	writeNanos                           atomic.Int64 // in the batches' write and fdatasync
}

// TxLogOptions tunes a TxLog. Zero values take defaults.
type TxLogOptions struct {
	// Live lists the transactions a compaction keeps (the mempool's).
	Live func() []*Tx
	// CompactAt: compact once the file is over this size and over twice
	// its size after the last compaction; default 4 MiB.
	CompactAt int64
	// RetryInterval is how often a broken log tries to recover; default 1 s.
	RetryInterval time.Duration
	// Linger caps how long the writer holds a batch for appends announced
	// by Expect and not yet made; default 2 ms. Negative: never hold.
	Linger time.Duration
	// Prealloc is how much zeroed space the file grows by at a time;
	// default 64 KiB (about 420 records). Negative: none (each append
	// extends the file). On a full disk, appends go on in this reserve.
	Prealloc int64
}

// TxLogError is the error of a log that cannot write: the disk is full or
// failing. errors.Is(err, ErrTxLogUnavailable) holds.
type TxLogError struct {
	Path string
	Err  error
}

// ErrTxLogUnavailable: the pending-transaction log cannot be written, so
// nothing new can be acknowledged.
var ErrTxLogUnavailable = errors.New("pending-transaction log unavailable")

func (e *TxLogError) Error() string {
	if errors.Is(e.Err, syscall.ENOSPC) {
		return fmt.Sprintf("the disk holding %s is full (%v): new transactions are refused until space is freed, then accepted again by themselves", e.Path, e.Err)
	}
	return fmt.Sprintf("cannot write %s (%v): new transactions are refused until it can be written again", e.Path, e.Err)
}
func (e *TxLogError) Unwrap() []error { return []error{e.Err, ErrTxLogUnavailable} }

// TxLogFile is the log's name in a node's data directory.
const TxLogFile = "txlog.dat"

var txLogMagic = []byte("gossipchain-txlog-v1\n")

const txLogRecord = 4 + TxSize // CRC-32C of the encoding, then the encoding

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// txLogBatch is one write and one sync: appenders copy their records into
// the current batch and wait for its done; the writer swaps it for a new
// one, writes it and closes done.
type txLogBatch struct {
	buf  []byte
	n    int
	err  error
	done chan struct{}
}

func newTxLogBatch() *txLogBatch { return &txLogBatch{done: make(chan struct{})} }

// OpenTxLog opens (or creates) the log at path and returns the
// transactions it holds, in log order, each once. A torn or damaged tail is
// cut off. Call Compact with what is still live once they are re-admitted.
func OpenTxLog(path string, opts TxLogOptions) (*TxLog, []*Tx, error) {
	if opts.CompactAt <= 0 {
		opts.CompactAt = 4 << 20
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	if opts.Linger == 0 {
		opts.Linger = 2 * time.Millisecond
	}
	if opts.Prealloc == 0 {
		opts.Prealloc = 64 << 10
	}
	if opts.Live == nil {
		opts.Live = func() []*Tx { return nil }
	}
	l := &TxLog{path: path, opts: opts, cur: newTxLogBatch(), kick: make(chan struct{}, 1), done: make(chan struct{})}
	txs, good, err := readTxLog(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("txlog: %w", err)
	}
	if good == 0 {
		// New or unreadable: start it over.
		if err := f.Truncate(0); err == nil {
			_, err = f.WriteAt(txLogMagic, 0)
		}
		if err == nil {
			err = f.Sync()
		}
		if err == nil { // a new file's name is durable once its directory is synced
			err = syncDir(filepath.Dir(path))
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("txlog: %w", &TxLogError{Path: path, Err: err})
		}
		good = int64(len(txLogMagic))
	} else if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("txlog: cut the damaged tail: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	l.f, l.size, l.alloc, l.liveSize = f, good, good, good
	go l.commit()
	return l, txs, nil
}

// readTxLog returns the transactions of the log's good prefix and that
// prefix's length (0: no log, or not one).
func readTxLog(path string) ([]*Tx, int64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("txlog: %w", err)
	}
	if !bytes.HasPrefix(data, txLogMagic) {
		return nil, 0, nil
	}
	off := len(txLogMagic)
	seen := make(map[Hash]bool)
	var txs []*Tx
	for off+txLogRecord <= len(data) {
		rec := data[off : off+txLogRecord]
		body := rec[4:]
		if isZero(rec) { // the preallocated space after the last record
			break
		}
		if binary.BigEndian.Uint32(rec) != crc32.Checksum(body, crcTable) {
			break
		}
		tx, err := DecodeTx(body)
		if err != nil {
			break
		}
		off += txLogRecord
		if id := tx.ID(); !seen[id] {
			seen[id] = true
			txs = append(txs, tx)
		}
	}
	return txs, int64(off), nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func appendRecord(buf []byte, tx *Tx) []byte {
	var rec [txLogRecord]byte
	tx.put(rec[4:])
	binary.BigEndian.PutUint32(rec[:4], crc32.Checksum(rec[4:], crcTable))
	return append(buf, rec[:]...)
}

// Err is the log's failure while it cannot write, else nil.
func (l *TxLog) Err() error {
	if e := l.broken.Load(); e != nil {
		return e
	}
	return nil
}

// Append writes txs and returns once they are on disk (or the log is
// broken: a *TxLogError).
func (l *TxLog) Append(txs ...*Tx) error {
	if len(txs) == 0 {
		return nil
	}
	return l.append(txs, false)
}

func (l *TxLog) append(txs []*Tx, promised bool) error {
	return l.start(txs, promised).Wait()
}

// TxLogPending is an append under way: Wait returns once its records are
// on disk (or the log is broken: a *TxLogError).
type TxLogPending struct {
	b   *txLogBatch
	err error
}

// Wait waits for the append's sync. The zero TxLogPending (no log) is
// done at once.
func (w TxLogPending) Wait() error {
	if w.err != nil || w.b == nil {
		return w.err
	}
	<-w.b.done
	return w.b.err
}

// start puts txs' records into the current batch and wakes the writer as
// needed, without waiting for the sync.
func (l *TxLog) start(txs []*Tx, promised bool) TxLogPending {
	// Encoded outside the lock, which every submitter takes.
	var one [txLogRecord]byte
	recs := one[:0]
	if len(txs) > 1 {
		recs = make([]byte, 0, len(txs)*txLogRecord)
	}
	for _, tx := range txs {
		recs = appendRecord(recs, tx)
	}
	l.mu.Lock()
	if promised {
		l.open--
	}
	if l.closed {
		l.mu.Unlock()
		return TxLogPending{err: fmt.Errorf("txlog %s: closed: %w", l.path, ErrTxLogUnavailable)}
	}
	b := l.cur
	first := b.n == 0
	b.buf = append(b.buf, recs...)
	b.n += len(txs)
	// The writer needs waking for a new batch, and when a held one has
	// every promised record; in between it sleeps.
	wake := first || l.open <= 0
	l.mu.Unlock()
	if wake {
		l.wake()
	}
	return TxLogPending{b: b}
}

func (l *TxLog) wake() {
	select {
	case l.kick <- struct{}{}:
	default: // already woken
	}
}

// A TxLogPromise announces an Append before the work that leads to it (a
// submitter validating its transaction). While promises are open the
// writer holds its batch for them, up to TxLogOptions.Linger, instead of
// syncing without them: under load, submitters then share syncs instead
// of each paying one and waiting for the next. End a promise with one
// Append or Cancel; a nil promise does nothing.
type TxLogPromise struct {
	l     *TxLog
	ended bool
}

// Expect opens a promise.
func (l *TxLog) Expect() *TxLogPromise {
	l.mu.Lock()
	l.open++
	l.mu.Unlock()
	return &TxLogPromise{l: l}
}

// Append ends the promise by appending txs, as TxLog.Append.
func (p *TxLogPromise) Append(txs ...*Tx) error {
	return p.Start(txs...).Wait()
}

// Start ends the promise by appending txs without waiting for their sync:
// the caller goes on (checking the transaction's signature, say) while the
// writer syncs, and waits with Wait. A nil promise starts nothing.
func (p *TxLogPromise) Start(txs ...*Tx) TxLogPending {
	if p == nil {
		return TxLogPending{}
	}
	if p.ended { // a caller's bug: refuse rather than miscount the writer's wait
		return TxLogPending{err: fmt.Errorf("txlog %s: promise already ended: %w", p.l.path, ErrTxLogUnavailable)}
	}
	if len(txs) == 0 {
		p.Cancel()
		return TxLogPending{}
	}
	p.ended = true
	return p.l.start(txs, true)
}

// Cancel ends the promise without an append; after Append it does nothing,
// so it can be deferred.
func (p *TxLogPromise) Cancel() {
	if p == nil || p.ended {
		return
	}
	p.ended = true
	l := p.l
	l.mu.Lock()
	l.open--
	wake := l.open <= 0 && l.cur.n > 0
	l.mu.Unlock()
	if wake {
		l.wake()
	}
}

// hold lets the batch fill before it is written, for at most the linger.
// First it yields the processor while that brings new records and
// announced ones are still missing: every
// goroutine ready to run goes before the writer, so submitters answered
// by the last sync, or between their check and their append, get into
// this batch instead of waiting for the next one (when nothing else wants
// the processor, a yield returns at once and costs no latency). Then it
// waits while promised records are on their way.
func (l *TxLog) hold() {
	if l.opts.Linger < 0 {
		return
	}
	deadline := time.Now().Add(l.opts.Linger)
	held := false
	count := func() { // once a batch, when it is first held
		if !held {
			held = true
			l.holds.Add(1)
		}
	}
	for {
		l.mu.Lock()
		n, stop := l.cur.n, l.closed || len(l.compacts) > 0
		l.mu.Unlock()
		if stop || time.Now().After(deadline) {
			return
		}
		runtime.Gosched()
		l.mu.Lock()
		grew, open := l.cur.n > n, l.open
		l.mu.Unlock()
		if !grew {
			break
		}
		count()
		if open == 0 {
			// Every announced record is in. Another yield would put the
			// writer behind the admission groups' signature checks (a
			// yield goes to the back of the run queue) and delay this
			// sync by one of them: 100–250 µs a sync with 8 submitters
			// (docs/BENCHMARKS.md).
			break
		}
	}
	var timer *time.Timer
	for {
		l.mu.Lock()
		waiting := l.open > 0 && l.cur.n > 0 && !l.closed && len(l.compacts) == 0
		l.mu.Unlock()
		wait := time.Until(deadline)
		if !waiting || wait <= 0 {
			break
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			count()
		}
		select {
		case <-l.kick:
			continue
		case <-timer.C:
		}
		break
	}
	if timer != nil {
		timer.Stop()
	}
}

// commit is the one writer: woken by a batch's first record, it holds the
// batch for promised records, then writes it with one write and one sync
// and answers everyone in it at once.
func (l *TxLog) commit() {
	defer close(l.done)
	for {
		<-l.kick
		l.hold()
		l.mu.Lock()
		var b *txLogBatch
		if l.cur.n > 0 {
			b, l.cur = l.cur, newTxLogBatch()
		}
		compacts := l.compacts
		l.compacts = nil
		closed := l.closed
		l.mu.Unlock()
		if b != nil {
			l.writeBatch(b, len(compacts) > 0)
		}
		if len(compacts) > 0 {
			err := l.compact(l.opts.Live())
			if err != nil {
				err = l.fail(err)
			} else {
				l.broken.Store(nil)
			}
			for _, c := range compacts {
				c <- err
			}
		}
		if closed {
			return
		}
	}
}

// writeBatch writes b (recovering a broken log first, at most once a
// RetryInterval), answers its appenders and compacts a grown log unless a
// compaction follows anyway.
func (l *TxLog) writeBatch(b *txLogBatch, compacting bool) {
	err := l.Err()
	if err != nil {
		err = l.recover()
	}
	if err == nil {
		err = l.write(b.buf)
	}
	if err == nil { // counted before the answers, for their callers
		l.batches.Add(1)
		l.records.Add(int64(b.n))
	}
	b.err = err
	close(b.done)
	if err == nil && !compacting && l.size > l.opts.CompactAt && l.size > 2*l.liveSize {
		if err := l.compact(l.opts.Live()); err != nil {
			l.fail(err)
		}
	}
}

func (l *TxLog) write(buf []byte) error {
	end := l.size + int64(len(buf))
	if end > l.alloc && l.opts.Prealloc > 0 {
		l.grow(end)
	}
	start := time.Now()
	if _, err := l.f.WriteAt(buf, l.size); err != nil {
		return l.fail(err)
	}
	// fdatasync: inside the zeroed space the file's size and blocks do not
	// change, so the disk writes the records and no journal commit.
	if err := datasync(l.f); err != nil {
		return l.fail(err)
	}
	l.writeNanos.Add(int64(time.Since(start)))
	l.size, l.alloc = end, max(l.alloc, end)
	return nil
}

// zeros is what the file grows by, a chunk at a time.
var zeros = make([]byte, 64<<10)

// grow zero-fills the file to hold at least end, rounded up to Prealloc.
// On a nearly full disk it gives the space back and appends go on without
// it (the fdatasync then also writes the new size).
func (l *TxLog) grow(end int64) {
	to := (end + l.opts.Prealloc - 1) / l.opts.Prealloc * l.opts.Prealloc
	for off := l.alloc; off < to; {
		k := min(int64(len(zeros)), to-off)
		if _, err := l.f.WriteAt(zeros[:k], off); err != nil {
			l.f.Truncate(l.alloc)
			return
		}
		off += k
	}
	l.alloc = to
}

func (l *TxLog) fail(err error) error {
	var te *TxLogError
	if !errors.As(err, &te) {
		te = &TxLogError{Path: l.path, Err: err}
	}
	l.broken.Store(te)
	l.lastRetry = time.Now()
	return te
}

// recover tries, at most once a RetryInterval, to write the log anew.
func (l *TxLog) recover() error {
	if time.Since(l.lastRetry) < l.opts.RetryInterval {
		return l.Err()
	}
	l.lastRetry = time.Now()
	if err := l.compact(l.opts.Live()); err != nil {
		return l.fail(err)
	}
	l.broken.Store(nil)
	return nil
}

// compact writes live to a new file and renames it over the log.
func (l *TxLog) compact(live []*Tx) error {
	buf := make([]byte, 0, len(txLogMagic)+len(live)*txLogRecord)
	buf = append(buf, txLogMagic...)
	for _, tx := range live {
		buf = appendRecord(buf, tx)
	}
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return &TxLogError{Path: l.path, Err: err}
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, l.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(l.path))
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return &TxLogError{Path: l.path, Err: err}
	}
	l.f.Close()
	l.f = f
	l.size, l.alloc, l.liveSize = int64(len(buf)), int64(len(buf)), int64(len(buf))
	l.compactions.Add(1)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Compact rewrites the log to hold the live transactions only, on the
// writer (so no append is lost): call it once replayed transactions are
// re-admitted. On success a broken log works again.
func (l *TxLog) Compact() error {
	done := make(chan error, 1)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return fmt.Errorf("txlog %s: closed: %w", l.path, ErrTxLogUnavailable)
	}
	l.compacts = append(l.compacts, done)
	l.mu.Unlock()
	l.wake()
	return <-done
}

// TxLogStats counts the log's work since it was opened: batches (each one
// write and one fdatasync), records, compactions, holds (a batch held
// for promised appends), and the time the batches' writes and syncs took
// (WriteTime ÷ Batches is the disk's latency, the least a durable
// acknowledgement waits).
type TxLogStats struct {
	Batches, Records, Compactions, Holds int64
	WriteTime                            time.Duration
}

// Stats reports the counters.
func (l *TxLog) Stats() TxLogStats {
	return TxLogStats{Batches: l.batches.Load(), Records: l.records.Load(), Compactions: l.compactions.Load(), Holds: l.holds.Load(), WriteTime: time.Duration(l.writeNanos.Load())}
}

// Close waits for queued appends, compacts the log to the live
// transactions (a clean shutdown leaves a short file) and closes it.
func (l *TxLog) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.wake()
	<-l.done
	var err error
	if l.Err() == nil {
		err = l.compact(l.opts.Live())
	}
	return errors.Join(err, l.f.Close())
}
