package pow

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestTargetMetMatchesBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randBytes := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	for range 2000 {
		var h, tb [32]byte
		randBytes(h[:])
		randBytes(tb[:])
		// Share a random-length prefix so later words get compared too.
		copy(tb[:rng.IntN(33)], h[:])
		target := new(big.Int).SetBytes(tb[:])
		want := new(big.Int).SetBytes(h[:]).Cmp(target) <= 0
		if got := TargetBytes(target).Met(&h); got != want {
			t.Fatalf("Met(%x, %x) = %v, want %v", h, tb, got, want)
		}
		if got := HashMeetsTarget(&h, target); got != want {
			t.Fatalf("HashMeetsTarget(%x, %x) = %v, want %v", h, tb, got, want)
		}
		if TargetBytes(target).Big().Cmp(target) != 0 {
			t.Fatal("Big does not invert TargetBytes")
		}
	}
}

func TestTargetEdges(t *testing.T) {
	var zero, ones [32]byte
	for i := range ones {
		ones[i] = 0xff
	}
	if !(Target{}).Met(&zero) || (Target{}).Met(&ones) {
		t.Error("zero target must be met by the zero hash only")
	}
	if HashMeetsTarget(&zero, big.NewInt(-1)) || HashMeetsTarget(&zero, nil) {
		t.Error("negative or nil target must never be met")
	}
	wide := new(big.Int).Lsh(big.NewInt(1), 300)
	if TargetBytes(wide) != Target(ones) || !HashMeetsTarget(&ones, wide) {
		t.Error("targets over 256 bits must clamp to all ones")
	}
	if TargetBytes(big.NewInt(-5)) != (Target{}) {
		t.Error("negative targets must clamp to zero")
	}
}
