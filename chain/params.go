package chain

import (
	"time"

	"github.com/gossipchain/gossipchain/pow"
)

// Params are the rules of one network. Every node of a network must use the
// same values: the genesis block commits to them, so nodes that disagree have
// different genesis hashes and refuse each other.
type Params struct {
	Name             string        // network name, committed to by the genesis
	InitialBits      uint32        // compact difficulty of the genesis and first blocks
	LimitBits        uint32        // easiest difficulty retargeting may reach
	TargetSpacing    time.Duration // wanted time between blocks
	RetargetInterval uint64        // retarget every N blocks (0 = never)
	BlockReward      uint64        // coins created by each coinbase
	MaxBlockTxs      int           // including the coinbase
	MaxBlockBytes    int           // encoded block size
	MaxFutureDrift   time.Duration // how far ahead of our clock a timestamp may be
	GenesisTime      time.Time     // fixed, so the genesis is deterministic
}

// DefaultParams is the public network: the tutorial's "four hex zeros"
// (16 bits) at the start, one block every 10 s, retargeting every 60 blocks.
func DefaultParams() Params {
	return Params{
		Name:             "gossipchain",
		InitialBits:      pow.BitsForLeadingZeros(16),
		LimitBits:        pow.BitsForLeadingZeros(8),
		TargetSpacing:    10 * time.Second,
		RetargetInterval: 60,
		BlockReward:      50,
		MaxBlockTxs:      4000,
		MaxBlockBytes:    1 << 20,
		// Small against the 600 s retarget window: a miner may set a
		// window's last timestamp this far ahead of the clock and so
		// make the window look this much longer than it was (Bitcoin's
		// 2 h against its two weeks is 0.6 %; 2 h here would be 12
		// windows). A minute eases one retarget by at most 10 %, and
		// the next window starts from that same timestamp, so it cannot
		// accumulate.
		MaxFutureDrift: time.Minute,
		GenesisTime:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
}

// TestParams is an easy network for tests: 4 bits of difficulty (16 hashes a
// block on average) and no retargeting.
func TestParams() Params {
	p := DefaultParams()
	p.Name = "gossipchain-test"
	p.InitialBits = pow.BitsForLeadingZeros(4)
	p.LimitBits = pow.BitsForLeadingZeros(1)
	p.RetargetInterval = 0
	return p
}

// WithDifficulty returns p with the initial difficulty set to n leading zero
// bits (the --difficulty flag). The limit follows if it would be harder.
func (p Params) WithDifficulty(n uint) Params {
	p.InitialBits = pow.BitsForLeadingZeros(n)
	if n < 8 {
		p.LimitBits = pow.BitsForLeadingZeros(1)
	}
	return p
}
