package pow

import (
	"errors"
	"math/big"
	"testing"
)

func hexBig(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 0)
	if !ok {
		t.Fatalf("bad number %q", s)
	}
	return n
}

// Vectors from Bitcoin Core's arith_uint256 SetCompact/GetCompact tests.
var compactVectors = []struct {
	bits    uint32
	value   string
	reenc   uint32 // BigToCompact(value)
	invalid bool   // rejected by TargetFromBits
}{
	{0x00000000, "0", 0, true},
	{0x00123456, "0", 0, true},
	{0x01003456, "0", 0, true},
	{0x02000056, "0", 0, true},
	{0x03000000, "0", 0, true},
	{0x04000000, "0", 0, true},
	{0x00923456, "0", 0, true}, // negative zero is zero
	{0x01803456, "0", 0, true},
	{0x02800056, "0", 0, true},
	{0x03800000, "0", 0, true},
	{0x04800000, "0", 0, true},
	{0x01123456, "0x12", 0x01120000, false},
	{0x01fedcba, "-0x7e", 0x01fe0000, true},
	{0x02123456, "0x1234", 0x02123400, false},
	{0x03123456, "0x123456", 0x03123456, false},
	{0x04123456, "0x12345600", 0x04123456, false},
	{0x04923456, "-0x12345600", 0x04923456, true},
	{0x05009234, "0x92340000", 0x05009234, false},
	{0x20123456, "0x1234560000000000000000000000000000000000000000000000000000000000", 0x20123456, false},
	{0x1d00ffff, "0x00000000ffff0000000000000000000000000000000000000000000000000000", 0x1d00ffff, false},
	{0x2100ffff, "0xffff" + zeros(60), 0x2100ffff, false}, // widest valid compact target
	{0x21010000, "0x10000" + zeros(60), 0x21010000, true}, // 2^256: one too wide
	{0xff123456, "0x123456" + zeros(504), 0xff123456, true},
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

func TestCompactVectors(t *testing.T) {
	for _, v := range compactVectors {
		want := hexBig(t, v.value)
		if got := CompactToBig(v.bits); got.Cmp(want) != 0 {
			t.Errorf("CompactToBig(%#08x) = %#x, want %#x", v.bits, got, want)
		}
		if got := BigToCompact(want); got != v.reenc {
			t.Errorf("BigToCompact(%#x) = %#08x, want %#08x", want, got, v.reenc)
		}
		target, err := TargetFromBits(v.bits)
		switch {
		case v.invalid && !errors.Is(err, ErrInvalidBits):
			t.Errorf("TargetFromBits(%#08x) err = %v, want ErrInvalidBits", v.bits, err)
		case !v.invalid && (err != nil || target.Cmp(want) != 0):
			t.Errorf("TargetFromBits(%#08x) = %v, %v; want %#x", v.bits, target, err, want)
		}
	}
}

func TestBigToCompactSignShift(t *testing.T) {
	// 0x80 would read as the sign bit in a three-byte mantissa, so it moves
	// one byte right and the exponent grows.
	if got := BigToCompact(big.NewInt(0x80)); got != 0x02008000 {
		t.Errorf("BigToCompact(0x80) = %#08x, want 0x02008000", got)
	}
	if got := BigToCompact(big.NewInt(-0x80)); got != 0x02808000 {
		t.Errorf("BigToCompact(-0x80) = %#08x, want 0x02808000", got)
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 8*300)
	if got := BigToCompact(huge); got != 0xff7fffff {
		t.Errorf("BigToCompact(2^2400) = %#08x, want saturated 0xff7fffff", got)
	}
	if got := BigToCompact(huge.Neg(huge)); got != 0xffffffff {
		t.Errorf("BigToCompact(-2^2400) = %#08x, want saturated 0xffffffff", got)
	}
}

func TestBitsForLeadingZeros(t *testing.T) {
	if got := BitsForLeadingZeros(16); got != 0x1f00ffff {
		t.Errorf("BitsForLeadingZeros(16) = %#08x, want 0x1f00ffff", got)
	}
	one := big.NewInt(1)
	for n := uint(1); n <= 255; n++ {
		bits := BitsForLeadingZeros(n)
		target, err := TargetFromBits(bits)
		if err != nil {
			t.Fatalf("n=%d: bits %#08x: %v", n, bits, err)
		}
		ceiling := new(big.Int).Lsh(one, 256-n) // 2^(256-n)
		if target.Cmp(ceiling) >= 0 {
			t.Errorf("n=%d: target %#x admits a hash with fewer leading zeros", n, target)
		}
		// Rounding down loses less than one part in 2^15 (nothing when the
		// target fits the mantissa).
		floor := new(big.Int).Sub(ceiling, new(big.Int).Rsh(ceiling, 15))
		if floor.Sub(floor, one); target.Cmp(floor) < 0 {
			t.Errorf("n=%d: target %#x rounded down too far", n, target)
		}
	}
	for _, n := range []uint{0, 256, 1000} {
		if got := BitsForLeadingZeros(n); got != 0 {
			t.Errorf("BitsForLeadingZeros(%d) = %#08x, want 0", n, got)
		}
	}
}

func TestSixteenBitsIsFourHexZeros(t *testing.T) {
	target, err := TargetFromBits(BitsForLeadingZeros(16))
	if err != nil {
		t.Fatal(err)
	}
	var h [32]byte
	h[2] = 0x12 // "000012..."
	if !HashMeetsTarget(&h, target) {
		t.Error("hash 000012... should meet 16 bits")
	}
	h[1] = 0x01 // "000112..."
	if HashMeetsTarget(&h, target) {
		t.Error("hash 000112... should not meet 16 bits")
	}
}

func TestWork(t *testing.T) {
	cases := []struct {
		bits uint32
		want string
	}{
		{0x1d00ffff, "0x100010001"},     // Bitcoin's genesis block
		{0x01010000, "0x8" + zeros(63)}, // target 1: 2^255
		{0x2100ffff, "1"},               // widest: any hash but a few
		{0x2000ffff, "0x100"},           // 2^256 / (0xffff<<232 + 1)
		{0, "0"},
		{0x04923456, "0"},
		{0xff123456, "0"},
	}
	for _, c := range cases {
		if got := Work(c.bits); got.Cmp(hexBig(t, c.want)) != 0 {
			t.Errorf("Work(%#08x) = %#x, want %s", c.bits, got, c.want)
		}
	}
	// Sixteen leading zero bits: about 2^16 hashes.
	if got := Work(BitsForLeadingZeros(16)).Int64(); got != 65537 {
		t.Errorf("Work(16 bits) = %d, want 65537", got)
	}
}
