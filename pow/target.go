package pow

import (
	"encoding/binary"
	"math/big"
)

// Target is a target as a big-endian 256-bit number, ready to compare with
// hashes without allocating, as the miner does for every nonce.
type Target [32]byte

// TargetBytes converts t for allocation-free comparison. Targets outside
// 0..2^256-1 are clamped to the nearest end; get them from TargetFromBits,
// which rejects such bits.
func TargetBytes(t *big.Int) Target {
	var out Target
	switch {
	case t == nil || t.Sign() <= 0:
	case t.BitLen() > 256:
		for i := range out {
			out[i] = 0xff
		}
	default:
		t.FillBytes(out[:])
	}
	return out
}

// Met reports whether hash, read as a big-endian number, is at most t.
// Comparing 64-bit words from the top decides on the first word for all but
// a tiny fraction of hashes.
func (t Target) Met(hash *[32]byte) bool {
	for i := 0; i < len(t); i += 8 {
		h, w := binary.BigEndian.Uint64(hash[i:]), binary.BigEndian.Uint64(t[i:])
		if h != w {
			return h < w
		}
	}
	return true
}

// Big returns t as a number.
func (t Target) Big() *big.Int {
	return new(big.Int).SetBytes(t[:])
}

// HashMeetsTarget reports whether hash, read as a big-endian 256-bit number,
// is at most target. A nil or negative target is never met.
func HashMeetsTarget(hash *[32]byte, target *big.Int) bool {
	if target == nil || target.Sign() < 0 {
		return false
	}
	return TargetBytes(target).Met(hash)
}
