package pow

import (
	"errors"
	"math/big"
	"testing"
)

// FuzzCompactBits checks that decoding any bits and re-encoding the value
// gives the same value and canonical bits, and that TargetFromBits never
// panics and accepts exactly the targets in 1..2^256-1. Seeds run as
// ordinary tests.
func FuzzCompactBits(f *testing.F) {
	for _, v := range compactVectors {
		f.Add(v.bits)
	}
	for _, b := range []uint32{0x1f00ffff, 0x207fffff, 0x21008000, 0x2100ffff, 0x21010000, 0xff7fffff, 0xffffffff, 0x00800000, 0x03800001} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, bits uint32) {
		n := CompactToBig(bits)
		canon := BigToCompact(n)
		if back := CompactToBig(canon); back.Cmp(n) != 0 {
			t.Fatalf("%#08x: value %#x re-encodes as %#08x = %#x", bits, n, canon, back)
		}
		if again := BigToCompact(CompactToBig(canon)); again != canon {
			t.Fatalf("%#08x: canonical %#08x is not stable: %#08x", bits, canon, again)
		}

		target, err := TargetFromBits(bits)
		valid := n.Sign() > 0 && n.BitLen() <= 256
		switch {
		case valid && (err != nil || target.Cmp(n) != 0):
			t.Fatalf("%#08x: TargetFromBits = %v, %v; want %#x", bits, target, err, n)
		case !valid && !errors.Is(err, ErrInvalidBits):
			t.Fatalf("%#08x: TargetFromBits err = %v, want ErrInvalidBits", bits, err)
		}
		if w := Work(bits); valid != (w.Sign() > 0) {
			t.Fatalf("%#08x: Work = %v with valid = %v", bits, w, valid)
		}
	})
}

// FuzzBigToCompact checks that encoding any number keeps its sign and rounds
// its magnitude down by less than one unit of the kept precision.
func FuzzBigToCompact(f *testing.F) {
	f.Add([]byte{0x80}, false)
	f.Add([]byte{0x12, 0x34, 0x56, 0x78}, true)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, mag []byte, neg bool) {
		if len(mag) > 64 {
			mag = mag[:64]
		}
		n := new(big.Int).SetBytes(mag)
		if neg {
			n.Neg(n)
		}
		bits := BigToCompact(n)
		back := CompactToBig(bits)
		if back.Sign() != n.Sign() {
			t.Fatalf("%#x → %#08x → %#x: sign changed", n, bits, back)
		}
		diff := new(big.Int).Sub(new(big.Int).Abs(n), new(big.Int).Abs(back))
		// Kept precision: the top 16 to 24 bits of the magnitude.
		unit := new(big.Int).Lsh(big.NewInt(1), uint(max(0, n.BitLen()-16)))
		if diff.Sign() < 0 || diff.Cmp(unit) >= 0 {
			t.Fatalf("%#x → %#08x → %#x: off by %#x", n, bits, back, diff)
		}
		if BigToCompact(back) != bits {
			t.Fatalf("%#x → %#08x is not canonical", n, bits)
		}
	})
}
