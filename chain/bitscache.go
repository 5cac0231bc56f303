package chain

import (
	"math/big"
	"sync/atomic"

	"github.com/gossipchain/gossipchain/pow"
)

// What a block's bits mean (target, work), remembered for the last bits
// seen. Consecutive blocks carry the same bits for a whole retarget
// interval, and each block needed two big-number conversions and a 256-bit
// division (pow.Work) two or three times over (sync profile, issue 12):
// one entry is enough, and bits an attacker varies only miss it.

type bitsInfo struct {
	bits   uint32
	err    error      // TargetFromBits' error: bits that mean no target
	target pow.Target // as bytes, to compare hashes without allocating
	work   *big.Int   // shared: never modified
}

var lastBits, limitBits atomic.Pointer[bitsInfo]

func infoOf(slot *atomic.Pointer[bitsInfo], bits uint32) *bitsInfo {
	if e := slot.Load(); e != nil && e.bits == bits {
		return e
	}
	e := &bitsInfo{bits: bits}
	t, err := pow.TargetFromBits(bits)
	if err != nil {
		e.err, e.work = err, new(big.Int)
	} else {
		e.target = pow.TargetBytes(t)
		e.work = pow.Work(bits)
	}
	slot.Store(e)
	return e
}

// bitsOf is the target and work of bits.
func bitsOf(bits uint32) *bitsInfo { return infoOf(&lastBits, bits) }

// workOf is pow.Work(bits), shared: callers must not modify it.
func workOf(bits uint32) *big.Int { return bitsOf(bits).work }
