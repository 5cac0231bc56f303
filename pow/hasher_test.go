package pow

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

func testHeader(n int) []byte {
	h := make([]byte, n)
	for i := range h {
		h[i] = byte(i*7 + 3)
	}
	return h
}

// withNonce returns a copy of header with its nonce set to n.
func withNonce(header []byte, n uint64) []byte {
	h := append([]byte(nil), header...)
	binary.BigEndian.PutUint64(h[len(h)-NonceSize:], n)
	return h
}

// Lengths around every boundary: no prefix, padding spilling into a second
// block, the nonce straddling a block, several prefix blocks.
var headerLens = []int{8, 9, 40, 55, 56, 63, 64, 65, 68, 71, 72, 73, 92, 119, 120, 127, 128, 129, 200, 1000}

func TestNonceHasherMatchesSum256(t *testing.T) {
	nonces := []uint64{0, 1, 255, 1 << 32, 0x0123456789abcdef, ^uint64(0)}
	for _, fast := range []bool{true, false} {
		for _, n := range headerLens {
			header := testHeader(n)
			w := newNonceHasher(header, fast)
			if fast && !w.fast {
				t.Fatalf("len %d: fast path unavailable", n)
			}
			for _, nonce := range nonces {
				if got, want := *w.hash(nonce), sha256.Sum256(withNonce(header, nonce)); got != want {
					t.Fatalf("fast=%v len %d nonce %#x: %x, want %x", fast, n, nonce, got, want)
				}
			}
			if string(header) != string(testHeader(n)) {
				t.Fatalf("len %d: header modified", n)
			}
		}
	}
}

func TestNonceHasherNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race makes the stdlib's AppendBinary allocate; run without -race")
	}
	for _, fast := range []bool{true, false} {
		w := newNonceHasher(testHeader(92), fast)
		var n uint64
		if allocs := testing.AllocsPerRun(1000, func() { w.hash(n); n++ }); allocs != 0 {
			t.Errorf("fast=%v: %v allocs per hash, want 0", fast, allocs)
		}
	}
}
