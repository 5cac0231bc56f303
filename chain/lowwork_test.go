package chain

import (
	"errors"
	"testing"
)

// branch builds k blocks on parent (not added), one second apart from ts.
func branch(t *testing.T, c *Chain, parent *Block, miner Address, ts int64, k int) []*Block {
	t.Helper()
	var out []*Block
	for i := range k {
		b := childOf(t, c, parent, miner, ts+int64(i+1)*1000)
		out = append(out, b)
		parent = b
	}
	return out
}

func headersOf(blocks []*Block) []Header {
	hs := make([]Header, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Header
	}
	return hs
}

func TestLowWorkBranchRefused(t *testing.T) {
	f := newFixture(t)
	for range 10 {
		mine(t, f.c, f.clock, f.carol.Address())
	}
	tip := f.c.Tip() // index 13
	mallory := wallet(66).Address()

	// A branch forking at the genesis, far below the head's work.
	low := branch(t, f.c, f.genesis, mallory, f.genesis.Timestamp, 3)
	f.refuse(t, low[0], ErrLowWorkBranch)
	before := snapshot(f.c, f.addrs()...)
	if n, _, err := f.c.AddBlocks(low); n != 0 || !errors.Is(err, ErrLowWorkBranch) {
		t.Fatalf("AddBlocks(low branch): %d, %v; want 0, ErrLowWorkBranch", n, err)
	}
	assertUnchanged(t, f.c, before)
	for _, b := range low {
		if f.c.HasBlock(b.Hash()) {
			t.Fatalf("low-work block %d stored", b.Index)
		}
	}

	// A competing block at the head's height is a normal stale race: kept.
	parent, _ := f.c.BlockByIndex(tip.Index - 1)
	rival := childOf(t, f.c, parent, mallory, f.clock.now().UnixMilli())
	if res, err := f.c.AddBlock(rival); err != nil || res.Status != StatusSide || !f.c.HasBlock(rival.Hash()) {
		t.Fatalf("competing block: %+v, %v; want stored on a side branch", res, err)
	}
	// So is a branch LowWorkMargin blocks behind; one more is not.
	at, _ := f.c.BlockByIndex(tip.Index - LowWorkMargin - 1)
	near := childOf(t, f.c, at, mallory, f.clock.now().UnixMilli())
	if _, err := f.c.AddBlock(near); err != nil {
		t.Fatalf("branch %d blocks behind: %v", LowWorkMargin, err)
	}
	at, _ = f.c.BlockByIndex(tip.Index - LowWorkMargin - 2)
	f.refuse(t, childOf(t, f.c, at, mallory, f.clock.now().UnixMilli()), ErrLowWorkBranch)
}

// A heavier branch from the genesis arrives in batches shorter than the
// fork: its first batches have less work than our head. They are stored
// only once its headers proved the branch heavier; then it wins.
func TestProvenBranchReorganises(t *testing.T) {
	f := newFixture(t)
	for range 10 {
		mine(t, f.c, f.clock, f.carol.Address())
	}
	heavy := branch(t, f.c, f.genesis, wallet(70).Address(), f.genesis.Timestamp, 20) // index 21 > 13

	// Without proof the first batch is refused.
	if n, _, err := f.c.AddBlocks(heavy[:5]); n != 0 || !errors.Is(err, ErrLowWorkBranch) {
		t.Fatalf("unproven first batch: %d, %v; want 0, ErrLowWorkBranch", n, err)
	}
	// Headers that do not reach our work prove nothing.
	short := f.c.NewHeaderBranch(100)
	if err := short.Add(headersOf(heavy[:8])); err != nil {
		t.Fatal(err)
	}
	if short.Prove() {
		t.Fatal("8 headers proved a branch lighter than 13 blocks")
	}
	hb := f.c.NewHeaderBranch(100)
	if err := hb.Add(headersOf(heavy[:10])); err != nil {
		t.Fatal(err)
	}
	if err := hb.Add(headersOf(heavy[10:])); err != nil {
		t.Fatal(err)
	}
	if !hb.Prove() {
		t.Fatal("20 headers did not prove the heavier branch")
	}
	for i := 0; i < len(heavy); i += 5 {
		if n, _, err := f.c.AddBlocks(heavy[i : i+5]); n != 5 || err != nil {
			t.Fatalf("proven batch at %d: %d, %v", i, n, err)
		}
	}
	if f.c.Tip().Hash != heavy[len(heavy)-1].Hash() {
		t.Fatal("the proven heavier branch did not win")
	}
}

// One batch that holds a whole heavier branch proves itself.
func TestBatchProvesItsOwnBranch(t *testing.T) {
	f := newFixture(t)
	for range 5 {
		mine(t, f.c, f.clock, f.carol.Address())
	}
	heavy := branch(t, f.c, f.genesis, wallet(70).Address(), f.genesis.Timestamp, 12)
	if n, _, err := f.c.AddBlocks(heavy); n != 12 || err != nil || f.c.Tip().Hash != heavy[11].Hash() {
		t.Fatalf("AddBlocks(heavier branch): %d, %v", n, err)
	}
}

func TestHeaderBranchRules(t *testing.T) {
	f := newFixture(t)
	blocks := branch(t, f.c, f.block3, f.carol.Address(), f.block3.Timestamp, 4)
	hs := headersOf(blocks)

	over := f.c.NewHeaderBranch(3)
	if err := over.Add(hs); !errors.Is(err, ErrTooManyHeaders) {
		t.Fatalf("4 headers in a session of 3: %v", err)
	}
	// Headers we already hold are skipped: a branch from block 2.
	known := f.c.NewHeaderBranch(10)
	if err := known.Add(append([]Header{f.block2.Header, f.block3.Header}, hs...)); err != nil || known.Len() != 4 {
		t.Fatalf("known headers first: %v, len %d", err, known.Len())
	}
	wrongBits := hs[1]
	wrongBits.Bits = f.c.Params().LimitBits
	b := &Block{Header: wrongBits}
	solve(t, b)
	for name, tc := range map[string]struct {
		hs   []Header
		want error
	}{
		"unknown parent": {hs[1:], ErrUnknownParent},
		"wrong bits":     {[]Header{hs[0], b.Header}, ErrBadDifficulty},
		"bad PoW":        {[]Header{func() Header { x := &Block{Header: hs[0]}; failPoW(t, x); return x.Header }()}, ErrBadPoW},
		"time too old": {[]Header{func() Header {
			x := &Block{Header: hs[0]}
			x.Timestamp = f.genesis.Timestamp
			solve(t, x)
			return x.Header
		}()}, ErrTimeTooOld},
	} {
		hb := f.c.NewHeaderBranch(10)
		if err := hb.Add(tc.hs); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
