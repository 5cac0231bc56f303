package pow

import (
	"fmt"
	"math/big"
)

// Layout of compact bits: the top byte is the length of the number in bytes
// (the exponent), bit 23 is the sign and bits 0-22 are its most significant
// bytes (the mantissa). It is Bitcoin's nBits.
const (
	mantissaMask = 0x007fffff
	signBit      = 0x00800000
)

// maxTarget returns 2^256-1, the widest target a 256-bit hash can be compared
// with. A function, not a variable, so no one can mutate a shared copy.
func maxTarget() *big.Int {
	one := big.NewInt(1)
	return new(big.Int).Sub(new(big.Int).Lsh(one, 256), one)
}

// CompactToBig decodes compact bits into the number they encode, with
// Bitcoin's semantics: mantissa bytes shifted out by a small exponent are
// dropped, and a set sign bit makes the number negative (a negative zero is
// zero).
func CompactToBig(bits uint32) *big.Int {
	mantissa := bits & mantissaMask
	exponent := uint(bits >> 24)

	n := new(big.Int)
	if exponent <= 3 {
		n.SetUint64(uint64(mantissa >> (8 * (3 - exponent))))
	} else {
		n.SetUint64(uint64(mantissa))
		n.Lsh(n, 8*(exponent-3))
	}
	if bits&signBit != 0 {
		n.Neg(n)
	}
	return n
}

// BigToCompact encodes n as compact bits, keeping its three most significant
// bytes, so the encoded value rounds toward zero. As in Bitcoin, a mantissa
// whose top bit would read as the sign is shifted one byte right. Numbers too
// long for the one-byte exponent (over 255 bytes) saturate to the largest
// encodable magnitude, keeping their sign.
func BigToCompact(n *big.Int) uint32 {
	if n.Sign() == 0 {
		return 0
	}
	abs := new(big.Int).Abs(n)
	exponent := uint((abs.BitLen() + 7) / 8)

	var mantissa uint32
	if exponent <= 3 {
		mantissa = uint32(abs.Uint64()) << (8 * (3 - exponent))
	} else {
		mantissa = uint32(abs.Rsh(abs, 8*(exponent-3)).Uint64())
	}
	if mantissa&signBit != 0 {
		mantissa >>= 8
		exponent++
	}
	if exponent > 0xff {
		exponent, mantissa = 0xff, mantissaMask
	}

	compact := uint32(exponent)<<24 | mantissa
	if n.Sign() < 0 {
		compact |= signBit
	}
	return compact
}

// TargetFromBits decodes bits into a target a hash can meet, rejecting with
// ErrInvalidBits the negative and zero targets (nothing could meet them) and
// those wider than 256 bits (everything would).
func TargetFromBits(bits uint32) (*big.Int, error) {
	t := CompactToBig(bits)
	switch {
	case t.Sign() < 0:
		return nil, fmt.Errorf("bits %#08x: negative target: %w", bits, ErrInvalidBits)
	case t.Sign() == 0:
		return nil, fmt.Errorf("bits %#08x: zero target: %w", bits, ErrInvalidBits)
	case t.BitLen() > 256:
		return nil, fmt.Errorf("bits %#08x: target exceeds 2^256-1: %w", bits, ErrInvalidBits)
	}
	return t, nil
}

// BitsForLeadingZeros returns the bits whose target is 2^(256-n)-1 rounded
// down by the compact encoding, so only hashes with at least n leading zero
// bits can meet it: 16 gives 0x1f00ffff, hashes whose hex starts "0000".
// n must be in 1..255; any other n returns 0, which TargetFromBits rejects.
func BitsForLeadingZeros(n uint) uint32 {
	if n < 1 || n > 255 {
		return 0
	}
	one := big.NewInt(1)
	t := new(big.Int).Lsh(one, 256-n)
	return BigToCompact(t.Sub(t, one))
}

// Work returns the expected number of hashes needed to meet the target of
// bits, 2^256 / (target+1), Bitcoin's CalcWork; fork choice sums it. Invalid
// bits are worth 0.
func Work(bits uint32) *big.Int {
	t, err := TargetFromBits(bits)
	if err != nil {
		return new(big.Int)
	}
	t.Add(t, big.NewInt(1))
	return t.Quo(new(big.Int).Lsh(big.NewInt(1), 256), t)
}
