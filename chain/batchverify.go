package chain

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Batch verification of transaction signatures (issue 12).
//
// The rule is chain/sig.go's and does not change: addresses by CheckAddress,
// signatures by ZIP-215. The ZIP-215 equation is cofactored, so a batch of
// signatures checked at once with random 128-bit coefficients,
// [8](Σ zᵢ(SᵢB − Rᵢ − kᵢAᵢ)) = 0, holds exactly when every signature's own
// equation does (but with probability ~2⁻¹²⁸). curve25519-voi's batch
// verifier checks that, and when it fails re-checks each entry alone, so a
// failed batch names its bad signatures. Entries whose S is not canonical,
// or whose R or A does not decompress, are invalid before any arithmetic,
// as in the single check.
//
// Transactions are verified in chunks of batchChunk: one chunk is one
// batch, and chunks are handed to all cores. A bad signature costs its
// chunk's batch and then a single check of each of its entries, not the
// whole sync batch's.

// batchChunk is how many signatures one batch verification holds. Measured
// on the project's machine (BenchmarkBatchVerify): the rate per signature
// grows with the batch up to a few hundred and flattens after; a smaller
// chunk spreads better over the cores and bounds the re-check after a
// failure.
var batchChunk = 256

// checkAddress is what the batch path checks addresses with: the memo
// (checkAddressMemo) unless a benchmark turns it off.
var checkAddress = checkAddressMemo

// batchMin is the fewest signatures worth a batch; below it each is
// checked alone (a batch of one costs more than a single check).
const batchMin = 4

// verifyTxsChunk checks txs as verifyTx checks each one and sets errs[i]
// to verifyTx's error for txs[i], nil where it passed. Addresses first, as
// verifyTx does: a transaction whose address fails gets that error and no
// signature check; the others are verified as one batch.
func verifyTxsChunk(txs []*Tx, network Hash, errs []error, bv *voi.BatchVerifier, msg []byte) []byte {
	idx := make([]int, 0, len(txs)) // the txs in the batch
	for i, tx := range txs {
		sigChecks.Add(1)
		errs[i] = nil
		if err := checkAddress(tx.Sender); err != nil {
			errs[i] = fmt.Errorf("tx %s: sender: %w", tx.ID(), err)
			continue
		}
		if err := checkAddress(tx.Recipient); err != nil {
			errs[i] = fmt.Errorf("tx %s: recipient: %w", tx.ID(), err)
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) < batchMin {
		for _, i := range idx {
			errs[i] = txs[i].VerifySignature(network)
		}
		return msg
	}
	resetBatch(bv, len(idx))
	for _, i := range idx {
		tx := txs[i]
		msg = tx.appendSigningBytes(msg[:0], network)
		bv.AddWithOptions(tx.Sender[:], msg, tx.Signature[:], zip215)
	}
	if ok, valid := bv.Verify(nil); !ok {
		for k, v := range valid {
			if !v {
				errs[idx[k]] = fmt.Errorf("tx %s: %w", txs[idx[k]].ID(), ErrBadSignature)
			}
		}
	}
	return msg
}

// resetBatch empties bv for a batch of n. The verifier expands each key
// into a table while a batch holds fewer than 94 entries, and uses the
// tables only if it stays under that: for a bigger batch the first 93
// expansions would be wasted (17 % of a sync's verification time, in a
// profile), so it is told not to.
func resetBatch(bv *voi.BatchVerifier, n int) {
	bv.Reset()
	if n >= 94 {
		bv.ForceNoPublicKeyExpansion()
	}
}

// appendSigningBytes appends signingBytes to b: the batch path reuses one
// buffer (the verifier hashes the message at Add and keeps no reference).
func (tx *Tx) appendSigningBytes(b []byte, network Hash) []byte {
	b = append(b, sigDomain...)
	b = append(b, network[:]...)
	var full [TxSize]byte
	tx.put(full[:])
	return append(b, full[:TxSize-64]...)
}

// VerifyTxs checks many transfers as verifyTx checks each (addresses, then
// the signature, batch-verified on all cores) and returns one error per
// transaction, nil where it passed. It is the batch path of the signature
// rule; its answers equal CheckAddress and VerifySignature's for every
// input (TestBatchMatchesSingle, FuzzBatchVerify).
func VerifyTxs(txs []*Tx, network Hash) []error {
	errs := make([]error, len(txs))
	parallelChunks(len(txs), func(lo, hi int, bv *voi.BatchVerifier, msg []byte) []byte {
		return verifyTxsChunk(txs[lo:hi], network, errs[lo:hi], bv, msg)
	})
	return errs
}

// verifier is a batch verifier and a message buffer, pooled: a sync
// verifies thousands of chunks, and a verifier of 256 entries is about
// 100 KB to allocate and collect each time.
type verifier struct {
	bv  *voi.BatchVerifier
	msg []byte
}

var verifiers = sync.Pool{New: func() any {
	return &verifier{bv: voi.NewBatchVerifierWithCapacity(batchChunk), msg: make([]byte, 0, len(sigDomain)+32+TxSize)}
}}

// parallelChunks calls f on [lo, hi) chunks of n items of at most
// batchChunk, on up to GOMAXPROCS goroutines that take the next chunk from
// a shared counter (a core slowed by another process takes fewer). Each
// goroutine has its own verifier and message buffer.
func parallelChunks(n int, f func(lo, hi int, bv *voi.BatchVerifier, msg []byte) []byte) {
	chunk := batchChunk
	chunks := (n + chunk - 1) / chunk
	if chunks == 0 {
		return
	}
	// Spread a small batch over the cores rather than leave one idle:
	// down to 32 a core, which verify at the rate of 64
	// (BenchmarkBatchVerify), so a group of local submissions (node/admit.go)
	// or a gossiped burst is checked in half the time.
	if workers := runtime.GOMAXPROCS(0); chunks < workers && n >= workers*32 {
		chunk = (n + workers - 1) / workers
		chunks = (n + chunk - 1) / chunk
	}
	workers := min(runtime.GOMAXPROCS(0), chunks)
	if workers == 1 {
		// One chunk: checked here. A goroutine for it would put the
		// caller behind the scheduler twice, in the latency of every
		// small group (node/admit.go).
		v := verifiers.Get().(*verifier)
		v.msg = f(0, n, v.bv, v.msg)
		v.bv.Reset()
		verifiers.Put(v)
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := verifiers.Get().(*verifier)
			defer verifiers.Put(v)
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks {
					v.bv.Reset() // drop references to the last batch's keys
					return
				}
				v.msg = f(c*chunk, min(n, (c+1)*chunk), v.bv, v.msg)
			}
		}()
	}
	wg.Wait()
}

// goodAddrs remembers addresses that passed CheckAddress. CheckAddress is
// a pure function of the 32 bytes (a decompression, a canonical check and
// a small-order check: about a quarter of the batch path's time when done
// twice a transaction), so a remembered pass is the same answer; failures
// are not remembered. Senders and recipients repeat (a miner, an exchange),
// which is where it pays. Bounded: when full it is emptied.
var goodAddrs = struct {
	sync.RWMutex
	m map[Address]struct{}
}{m: make(map[Address]struct{})}

// goodAddrsMax bounds the memo: 65,536 addresses, about 4 MB.
const goodAddrsMax = 1 << 16

// checkAddressMemo is CheckAddress with the memo of passes.
func checkAddressMemo(a Address) error {
	goodAddrs.RLock()
	_, ok := goodAddrs.m[a]
	goodAddrs.RUnlock()
	if ok {
		return nil
	}
	if err := CheckAddress(a); err != nil {
		return err
	}
	goodAddrs.Lock()
	if len(goodAddrs.m) >= goodAddrsMax {
		clear(goodAddrs.m)
	}
	goodAddrs.m[a] = struct{}{}
	goodAddrs.Unlock()
	return nil
}

// MeasureBatchRate is the floor a sync is measured against: signatures per
// second that the batch verifier alone checks on the calling goroutine
// (one core), in batches of batchChunk (signing bytes built, no address
// checks, no scheduling), repeated for at least d. txs must be valid
// transfers of network.
func MeasureBatchRate(txs []*Tx, network Hash, d time.Duration) (float64, error) {
	if len(txs) == 0 {
		return 0, fmt.Errorf("no transactions to measure with")
	}
	bv := voi.NewBatchVerifierWithCapacity(batchChunk)
	var msg []byte
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for lo := 0; lo < len(txs); lo += batchChunk {
			resetBatch(bv, min(len(txs), lo+batchChunk)-lo)
			for _, tx := range txs[lo:min(len(txs), lo+batchChunk)] {
				msg = tx.appendSigningBytes(msg[:0], network)
				bv.AddWithOptions(tx.Sender[:], msg, tx.Signature[:], zip215)
			}
			if !bv.VerifyBatchOnly(nil) {
				return 0, fmt.Errorf("a batch of valid transactions failed")
			}
			n += min(len(txs), lo+batchChunk) - lo
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// MeasureSingleRate is MeasureBatchRate for one signature at a time, for
// comparison.
func MeasureSingleRate(txs []*Tx, network Hash, d time.Duration) float64 {
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for _, tx := range txs {
			tx.VerifySignature(network)
			n++
		}
	}
	return float64(n) / time.Since(start).Seconds()
}
