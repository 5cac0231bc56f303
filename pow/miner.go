package pow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// batchSize is how many hashes a worker does between looks at the stop flag
// and updates of the shared counter: a fraction of a millisecond, so
// cancellation is prompt, while the shared cache lines are touched rarely
// enough not to slow the workers down.
const batchSize = 4096

// Miner searches nonces on several goroutines. The zero value mines on all
// cores. Set Workers before the first Search and do not copy a Miner after
// it; Search, HashRate and TotalHashes are safe for concurrent use.
type Miner struct {
	// Workers is the number of goroutines a Search uses; 0 or less means
	// runtime.NumCPU().
	Workers int

	hashes atomic.Uint64

	// The busy period behind HashRate: from when the miner went from idle
	// to searching until it went idle again.
	mu          sync.Mutex
	active      int
	busyStart   time.Time
	busyEnd     time.Time
	startHashes uint64
	endHashes   uint64
}

// NewMiner returns a Miner with the given worker count (0 = all cores).
func NewMiner(workers int) *Miner {
	return &Miner{Workers: workers}
}

// workers returns the number of goroutines a Search uses.
func (m *Miner) workers() int {
	if m.Workers <= 0 {
		return runtime.NumCPU()
	}
	return m.Workers
}

// Search looks for a nonce that makes SHA-256 of header meet target, the
// nonce being the header's last NonceSize bytes as a big-endian uint64. It
// returns the nonce and the hash of the header with that nonce; the caller's
// slice is left as it was.
//
// Worker i of W tries nonces i, i+W, i+2W, ... so no nonce is tried twice.
// Search returns once a worker finds a nonce, or with ctx.Err() once ctx is
// done; either way every worker has stopped, which takes at most one batch
// of a few thousand hashes. If every nonce fails, it returns
// ErrNonceSpaceExhausted. Which nonce wins when several meet the target is
// not specified.
func (m *Miner) Search(ctx context.Context, header []byte, target Target) (nonce uint64, hash [32]byte, err error) {
	if len(header) < NonceSize {
		return 0, hash, fmt.Errorf("header of %d bytes: %w", len(header), ErrHeaderTooShort)
	}
	if err := ctx.Err(); err != nil {
		return 0, hash, err
	}
	hdr := bytes.Clone(header) // the workers' copy: the caller's slice is never touched
	workers := m.workers()

	m.begin()
	defer m.end()

	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()

	var (
		wg     sync.WaitGroup
		won    atomic.Bool
		winner uint64
	)
	for i := range workers {
		wg.Go(func() {
			first, stride := uint64(i), uint64(workers)
			w := newNonceHasher(hdr, true)
			n, ok := w.search(target, first, stride, lastNonce(first, stride), &stop, &m.hashes)
			if ok && won.CompareAndSwap(false, true) {
				winner = n
				stop.Store(true)
			}
		})
	}
	wg.Wait()

	if won.Load() {
		// Hash once more with the reference function, so what we return
		// does not rest on the fast path alone.
		binary.BigEndian.PutUint64(hdr[len(hdr)-NonceSize:], winner)
		return winner, sha256.Sum256(hdr), nil
	}
	if err := ctx.Err(); err != nil {
		return 0, hash, err
	}
	return 0, hash, ErrNonceSpaceExhausted
}

// lastNonce returns the largest nonce in first, first+stride, ... .
func lastNonce(first, stride uint64) uint64 {
	return first + (math.MaxUint64-first)/stride*stride
}

// search is a worker's inner loop: it tries first, first+stride, ... up to
// and including last, until one meets t or stop is set, adding the hashes it
// does to hashes batch by batch.
func (w *nonceHasher) search(t Target, first, stride, last uint64, stop *atomic.Bool, hashes *atomic.Uint64) (uint64, bool) {
	n := first
	for !stop.Load() {
		for i := uint64(1); i <= batchSize; i++ {
			if t.Met(w.hash(n)) {
				hashes.Add(i)
				return n, true
			}
			if n == last {
				hashes.Add(i)
				return 0, false
			}
			n += stride
		}
		hashes.Add(batchSize)
	}
	return 0, false
}

// begin and end bracket a Search, tracking the busy period.
func (m *Miner) begin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active == 0 {
		m.busyStart = time.Now()
		m.startHashes = m.hashes.Load()
	}
	m.active++
}

func (m *Miner) end() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active--
	if m.active == 0 {
		m.busyEnd = time.Now()
		m.endHashes = m.hashes.Load()
	}
}

// HashRate returns hashes per second over the most recent busy period: from
// the start of the Search that found the miner idle until the end of the
// last overlapping one — or until now while a Search is running. It is 0
// before the first Search. While running it lags by up to one batch per
// worker, since workers count in batches.
func (m *Miner) HashRate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busyStart.IsZero() {
		return 0
	}
	elapsed, hashes := m.busyEnd.Sub(m.busyStart), m.endHashes-m.startHashes
	if m.active > 0 {
		elapsed, hashes = time.Since(m.busyStart), m.hashes.Load()-m.startHashes
	}
	if elapsed <= 0 {
		return 0
	}
	return float64(hashes) / elapsed.Seconds()
}

// TotalHashes returns the number of hashes done by all searches so far.
func (m *Miner) TotalHashes() uint64 {
	return m.hashes.Load()
}
