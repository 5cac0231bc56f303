package pow

import (
	"math"
	"math/big"
	"time"
)

// Retarget returns the bits for the next difficulty period, Bitcoin's rule:
// the new target is the old one scaled by actualTimespan/targetTimespan, so
// blocks that came too slowly make the target wider (easier) and blocks that
// came too fast make it narrower. The actual timespan is first clamped to
// [targetTimespan/4, targetTimespan*4] so one period, or a skewed timestamp,
// can move difficulty at most fourfold; the result is capped at the target
// of limitBits, the easiest difficulty the network allows.
//
// Retarget is pure arithmetic: the caller (the chain) decides when a period
// ends (every N blocks) and measures actualTimespan from block timestamps.
//
// Degenerate inputs give a usable answer rather than an error: invalid
// prevBits restart at limitBits, a non-positive targetTimespan keeps
// prevBits, an invalid limitBits caps at 2^256-1, and the target never
// shrinks below 1.
func Retarget(prevBits uint32, actualTimespan, targetTimespan time.Duration, limitBits uint32) uint32 {
	limit, err := TargetFromBits(limitBits)
	if err != nil {
		limit = maxTarget()
	}
	if targetTimespan <= 0 {
		return prevBits
	}
	old, err := TargetFromBits(prevBits)
	if err != nil {
		return BigToCompact(limit)
	}

	lo, hi := targetTimespan/4, targetTimespan*4
	if targetTimespan > math.MaxInt64/4 {
		hi = math.MaxInt64
	}
	actual := min(max(actualTimespan, lo), hi)

	t := old.Mul(old, big.NewInt(int64(actual)))
	t.Quo(t, big.NewInt(int64(targetTimespan)))
	if t.Cmp(limit) > 0 {
		t = limit
	}
	if t.Sign() == 0 {
		t.SetInt64(1)
	}
	return BigToCompact(t)
}
