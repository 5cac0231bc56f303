package chain

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// A sync's batches go through two stages (issue 12): PrecheckBlocks runs
// the checks that need no other block, signatures included, on all
// cores; AddPrechecked then runs those that need the tree (context, the
// low-work rule, state) and commits. A download prechecks the next batch
// while the previous one commits, so the commit's serial part overlaps the
// verification instead of leaving a core idle.
//
// Prechecking before the context breaks the cheapest-first order only
// for blocks whose headers were checked already: the download asks for
// the hashes of a header branch whose every header passed the proof of
// work and context checks (HeaderBranch.Add), and a block must hash to
// the header asked for. AddPrechecked checks the context again anyway.

// Prechecked is a batch of blocks that passed, up to the first that did
// not, every check that needs no other block: proof of work and limits,
// linking within the batch, body (Merkle root, coinbase, duplicates,
// amounts), addresses and signatures. The blocks must not be changed
// before AddPrechecked.
type Prechecked struct {
	blocks []*Block
	hashes []Hash
	enc    []blockEnc // the store records of blocks[:ok], made here rather than in the commit
	ok     int        // blocks[:ok] passed
	err    error      // why blocks[ok] did not (nil if ok == len(blocks))
}

// Len is the number of blocks in the batch.
func (pc *Prechecked) Len() int { return len(pc.blocks) }

// PrecheckBlocks runs the stateless checks of a batch that should be one
// branch (each block the parent of the next), signatures on all cores. It
// takes no lock: it may run while another batch is added.
//
// The checks keep their order (cheapest first: links, proof of work and
// limits of every block, then bodies, then signatures) and the batch stops
// at the first block that fails any of them; the bodies (transaction ids
// and Merkle root) are checked on all cores too, and the store records are
// made beside the signature checks, so that no core waits on a serial part
// (it left one idle for about a tenth of a 10-transaction sync's
// prechecks).
func (c *Chain) PrecheckBlocks(blocks []*Block) *Prechecked {
	p := c.p
	pc := &Prechecked{blocks: blocks, hashes: make([]Hash, len(blocks)), ok: len(blocks)}
	fail := func(i int, err error) {
		if i < pc.ok {
			pc.ok, pc.err = i, err
		}
	}
	for i, b := range blocks {
		pc.hashes[i] = b.Hash()
		if i > 0 && b.PrevHash != pc.hashes[i-1] {
			fail(i, fmt.Errorf("block %d of batch (%s) does not extend block %d: %w", i, pc.hashes[i], i-1, ErrBadPrevHash))
			break
		}
		if err := checkBlockCheap(b, pc.hashes[i], p); err != nil {
			fail(i, err)
			break
		}
	}
	if i, err := checkBodies(blocks[:pc.ok], pc.hashes); i >= 0 {
		fail(i, err)
	}
	// The store records of the blocks that passed so far, made while
	// their signatures are checked; those after a bad signature are
	// dropped.
	encoded := make(chan []blockEnc, 1)
	toEncode := blocks[:pc.ok]
	go func() { encoded <- encodeAllForStore(toEncode) }()
	// The blocks before a bad one are kept, so their signatures count.
	if i, err := verifyBlocksTxs(blocks[:pc.ok], c.network, c.sigs); i >= 0 {
		fail(i, err)
	}
	pc.enc = (<-encoded)[:pc.ok]
	return pc
}

// bodyChunk is how many blocks one worker of checkBodies takes at a time.
var bodyChunk = 64

// checkBodies runs checkBlockBody on every block, on all cores, and
// returns the index and error of the first that fails (-1, nil if none).
// A worker skips the blocks after a failure already found; the index of
// the first failure is read without a lock (a coinbase-only block's body
// takes about a microsecond, and a mutex taken per block by two workers
// would cost about that again).
func checkBodies(blocks []*Block, hashes []Hash) (int, error) {
	n := len(blocks)
	chunks := (n + bodyChunk - 1) / bodyChunk
	workers := min(runtime.GOMAXPROCS(0), chunks)
	var (
		next  atomic.Int64
		first atomic.Int64 // the first failing index found so far; n: none
		mu    sync.Mutex
		errs  = map[int]error{}
		wg    sync.WaitGroup
	)
	first.Store(int64(n))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= chunks {
					return
				}
				for i := k * bodyChunk; i < min(n, (k+1)*bodyChunk); i++ {
					if int64(i) > first.Load() {
						break
					}
					if err := checkBlockBody(blocks[i], hashes[i]); err != nil {
						mu.Lock() // writers take the lock; readers only load
						errs[i] = err
						if int64(i) < first.Load() {
							first.Store(int64(i))
						}
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if f := int(first.Load()); f < n {
		return f, errs[f]
	}
	return -1, nil
}

// AddPrechecked is AddBlocks for a prechecked batch: it checks the
// blocks' context against the tree and the low-work rule, applies and
// commits them, stopping at the first that fails any check (the
// precheck's included), and returns how many were accepted.
func (c *Chain) AddPrechecked(pc *Prechecked) (int, *AddResult, error) {
	return c.addBlocks(pc.blocks, pc)
}
