package chain

import (
	"fmt"

	"github.com/gossipchain/gossipchain/pow"
)

// GenesisMismatchError is opening a store made for another network: its
// genesis differs from the one the parameters make. The genesis header's
// bits tell the difficulty the store was made with (0 if not found).
type GenesisMismatchError struct {
	Stored, Ours         Hash
	StoredBits, OursBits uint32
}

func (e *GenesisMismatchError) Error() string {
	s := fmt.Sprintf("store holds network with genesis %s, ours is %s", e.Stored, e.Ours)
	if e.StoredBits != 0 && e.StoredBits != e.OursBits {
		s += fmt.Sprintf(" (made with difficulty %d bits, ours is %d)", LeadingZeroBits(e.StoredBits), LeadingZeroBits(e.OursBits))
	}
	return s + ": " + ErrBadGenesis.Error()
}

func (e *GenesisMismatchError) Unwrap() error { return ErrBadGenesis }

// LeadingZeroBits converts compact bits to the --difficulty unit: the
// number of leading zero bits a hash needs at least; 0 for invalid bits.
func LeadingZeroBits(bits uint32) int {
	t, err := pow.TargetFromBits(bits)
	if err != nil {
		return 0
	}
	return 256 - t.BitLen()
}
