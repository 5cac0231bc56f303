package chain

import (
	"math/big"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/pow"
)

// tipMTP is the median time past of the head.
func tipMTP(c *Chain) int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return medianTimePast(c.main[len(c.main)-1])
}

// addAt builds the next block on the head with timestamp ts and adds it.
func addAt(t *testing.T, c *Chain, miner Address, ts int64) *Block {
	t.Helper()
	b := c.NewBlockTemplate(miner)
	b.Timestamp = ts
	reseal(t, b)
	if _, err := c.AddBlock(b); err != nil {
		t.Fatalf("block %d at %d: %v", b.Index, ts, err)
	}
	return b
}

// TestNoTimeWarp: a miner with all the hash power sets every window's last
// timestamp at the future limit and every other at the median time past
// plus one. Whether the clock stands still or runs at the target rate,
// difficulty may ease by no more than the drift allows (the window looks
// drift longer than it was), and that easing does not compound over
// several periods. Under the old rule (n−1 intervals from the window's
// first block, a 2 h drift) it quartered every period.
func TestNoTimeWarp(t *testing.T) {
	for _, clockRuns := range []bool{false, true} {
		name := map[bool]string{false: "clock stands still", true: "clock runs at the target rate"}[clockRuns]
		t.Run(name, func(t *testing.T) {
			p := DefaultParams()
			p.Name = "timewarp"
			p.InitialBits = pow.BitsForLeadingZeros(6)
			p.LimitBits = pow.BitsForLeadingZeros(1)
			// DefaultParams's 600 s window and future drift, in fewer blocks.
			p.RetargetInterval, p.TargetSpacing = 12, 50*time.Second
			window := time.Duration(p.RetargetInterval) * p.TargetSpacing
			c, clock := newParamsChain(t, p, Options{})
			miner := wallet(9).Address()
			start := p.GenesisTime.Add(30 * 24 * time.Hour)

			// Two honest windows at the target spacing, ending now.
			n := p.RetargetInterval
			for i := uint64(2); i <= 2*n; i++ {
				clock.t = start.Add(time.Duration(i) * p.TargetSpacing)
				addAt(t, c, miner, clock.t.UnixMilli())
			}
			initial, _ := pow.TargetFromBits(c.Tip().Bits)
			// The most a window may ease: (window + drift) / window, with
			// the drift at most a tenth of the window.
			if p.MaxFutureDrift > window/10 {
				t.Fatalf("future drift %v is over a tenth of the %v window", p.MaxFutureDrift, window)
			}
			bound := new(big.Int).Mul(initial, big.NewInt(int64(window+window/10)))
			bound.Quo(bound, big.NewInt(int64(window)))
			bound.Add(bound, new(big.Int).Rsh(initial, 7)) // compact rounding

			for period := 1; period <= 4; period++ {
				for range n {
					if clockRuns {
						clock.t = clock.t.Add(p.TargetSpacing)
					}
					ts := tipMTP(c) + 1
					if (c.Tip().Index+1)%n == 0 { // the window's last block
						ts = clock.t.Add(p.MaxFutureDrift).UnixMilli()
					}
					addAt(t, c, miner, ts)
				}
				got, _ := pow.TargetFromBits(c.Tip().Bits)
				if got.Cmp(bound) > 0 {
					t.Fatalf("period %d: target %x eased beyond %x (initial %x): time-warp", period, got, bound, initial)
				}
			}
		})
	}
}

// TestFirstRetargetKeepsDifficulty: blocks at exactly the target spacing,
// mined months after the genesis's fixed timestamp, keep the initial
// difficulty at the first retarget (the genesis's timestamp is not a
// mining time, so the first window starts at block 2).
func TestFirstRetargetKeepsDifficulty(t *testing.T) {
	p := TestParams()
	p.RetargetInterval = 60
	c, clock := newParamsChain(t, p, Options{})
	miner := wallet(9).Address()
	start := p.GenesisTime.Add(90 * 24 * time.Hour)
	for i := uint64(2); i <= p.RetargetInterval; i++ {
		clock.t = start.Add(time.Duration(i) * p.TargetSpacing)
		addAt(t, c, miner, clock.t.UnixMilli())
	}
	clock.t = clock.t.Add(p.TargetSpacing)
	if got := c.NewBlockTemplate(miner).Bits; got != p.InitialBits {
		t.Fatalf("first retarget: bits %08x, want the initial %08x", got, p.InitialBits)
	}
	// And a second window at the same rate keeps it too.
	for range p.RetargetInterval {
		addAt(t, c, miner, clock.t.UnixMilli())
		clock.t = clock.t.Add(p.TargetSpacing)
	}
	if got := c.NewBlockTemplate(miner).Bits; got != p.InitialBits {
		t.Fatalf("second retarget: bits %08x, want the initial %08x", got, p.InitialBits)
	}
}
