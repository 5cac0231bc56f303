package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/pow"
)

// One test per validation rule. Each builds a valid block (or tx), breaks
// exactly one rule in a copy (resealing it so the Merkle root and proof of
// work stay right, except in the tests of those two rules), checks that the
// copy is refused with the rule's sentinel and leaves the chain as it was,
// and then, where it makes sense, that the unbroken original is accepted:
// proof that only the rule under test was broken.

// fixture is a chain with some history: alice has 50 coins (mined block 2),
// dave has 50 (block 3) and one pending transfer to erin in the mempool, so
// that "the mempool is unchanged" means something. New blocks are mined by
// carol, so alice's balance only moves with her own transactions.
type fixture struct {
	c                       *Chain
	clock                   *testClock
	alice, bob, carol, dave *Wallet
	erin                    *Wallet
	pending                 *Tx
	genesis, block2, block3 *Block
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	c, clock := newTestChain(t)
	return setupFixture(t, c, clock)
}

// newParamsChain opens a chain with custom rules in a fresh directory.
func newParamsChain(t testing.TB, p Params, opts Options) (*Chain, *testClock) {
	t.Helper()
	clock := &testClock{t: p.GenesisTime.Add(time.Hour)}
	opts.Params, opts.Now = p, clock.now
	c, err := Open(filepath.Join(t.TempDir(), "chain.db"), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, clock
}

func setupFixture(t testing.TB, c *Chain, clock *testClock) *fixture {
	t.Helper()
	f := &fixture{c: c, clock: clock, alice: wallet(1), bob: wallet(2), carol: wallet(3), dave: wallet(4), erin: wallet(5)}
	f.genesis = Genesis(c.Params())
	f.block2 = mine(t, c, clock, f.alice.Address())
	f.block3 = mine(t, c, clock, f.dave.Address())
	f.pending = f.dave.NewTx(NetworkID(c.Params()), f.erin.Address(), 7, 1, 0)
	if err := c.SubmitTx(f.pending); err != nil {
		t.Fatalf("submit dave's tx: %v", err)
	}
	return f
}

func (f *fixture) addrs() []Address {
	return []Address{f.alice.Address(), f.bob.Address(), f.carol.Address(), f.dave.Address(), f.erin.Address()}
}

// next builds (does not add) a valid block on the head, mined by carol,
// holding txs, one second after the previous one.
func (f *fixture) next(t testing.TB, txs ...*Tx) *Block {
	t.Helper()
	return nextBlock(t, f.c, f.clock, f.carol.Address(), txs...)
}

func nextBlock(t testing.TB, c *Chain, clock *testClock, miner Address, txs ...*Tx) *Block {
	t.Helper()
	clock.t = clock.t.Add(time.Second)
	tip, err := c.BlockByHash(c.Tip().Hash)
	if err != nil {
		t.Fatalf("read tip: %v", err)
	}
	return childOf(t, c, tip, miner, clock.t.UnixMilli(), txs...)
}

func (f *fixture) refuse(t testing.TB, b *Block, want error) error {
	t.Helper()
	return refuse(t, f.c, b, want, f.addrs()...)
}

func (f *fixture) accept(t testing.TB, b *Block) {
	t.Helper()
	accept(t, f.c, b)
}

// cloneBlock deep-copies b, so a test can break the copy.
func cloneBlock(b *Block) *Block {
	nb := &Block{Header: b.Header, Txs: make([]*Tx, len(b.Txs))}
	for i, tx := range b.Txs {
		cp := *tx
		nb.Txs[i] = &cp
	}
	return nb
}

// chainState is everything a refused block or transaction must leave as it was.
type chainState struct {
	tip     Tip
	accts   map[Address]Account
	pending []Hash
}

func snapshot(c *Chain, addrs ...Address) chainState {
	s := chainState{tip: c.Tip(), accts: make(map[Address]Account)}
	for _, a := range addrs {
		s.accts[a] = c.Account(a)
	}
	for _, tx := range c.Mempool().Pending() {
		s.pending = append(s.pending, tx.ID())
	}
	return s
}

func assertUnchanged(t testing.TB, c *Chain, before chainState) {
	t.Helper()
	now := c.Tip()
	if now.Hash != before.tip.Hash || now.Index != before.tip.Index || now.Work.Cmp(before.tip.Work) != 0 {
		t.Fatalf("tip moved: %d %s, was %d %s", now.Index, now.Hash, before.tip.Index, before.tip.Hash)
	}
	for a, acct := range before.accts {
		if got := c.Account(a); got != acct {
			t.Fatalf("account %s: %+v, was %+v", a, got, acct)
		}
	}
	var pending []Hash
	for _, tx := range c.Mempool().Pending() {
		pending = append(pending, tx.ID())
	}
	if !slices.Equal(pending, before.pending) {
		t.Fatalf("mempool changed: %v, was %v", pending, before.pending)
	}
}

// refuse adds b, wants an error matching want, and checks nothing changed.
func refuse(t testing.TB, c *Chain, b *Block, want error, addrs ...Address) error {
	t.Helper()
	before := snapshot(c, addrs...)
	res, err := c.AddBlock(b)
	if !errors.Is(err, want) {
		t.Fatalf("AddBlock: err %v (result %+v), want %v", err, res, want)
	}
	if err == want {
		t.Errorf("error %q carries no context", err)
	}
	assertUnchanged(t, c, before)
	return err
}

// accept adds b and wants it to become the head.
func accept(t testing.TB, c *Chain, b *Block) *AddResult {
	t.Helper()
	res, err := c.AddBlock(b)
	if err != nil {
		t.Fatalf("AddBlock of the valid block: %v", err)
	}
	if res.Status != StatusMain || c.Tip().Hash != b.Hash() {
		t.Fatalf("valid block %d not the head: %+v", b.Index, res)
	}
	return res
}

// failPoW searches a nonce whose hash does not meet b's target.
func failPoW(t testing.TB, b *Block) {
	t.Helper()
	target, err := pow.TargetFromBits(b.Bits)
	if err != nil {
		t.Fatal(err)
	}
	for b.Nonce = 0; ; b.Nonce++ {
		h := [32]byte(b.Hash())
		if !pow.HashMeetsTarget(&h, target) {
			return
		}
	}
}

func TestRuleBadPoW(t *testing.T) {
	f := newFixture(t)
	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0))
	bad := cloneBlock(good)
	failPoW(t, bad)
	f.refuse(t, bad, ErrBadPoW)
	if f.c.HasBlock(bad.Hash()) {
		t.Fatal("a block without proof of work was stored")
	}
	f.accept(t, good)
}

func TestRuleBadDifficulty(t *testing.T) {
	p := TestParams()
	limit, _ := pow.TargetFromBits(p.LimitBits)
	easierThanLimit := pow.BigToCompact(new(big.Int).Lsh(limit, 1))
	if tgt, err := pow.TargetFromBits(easierThanLimit); err != nil || tgt.Cmp(limit) <= 0 {
		t.Fatalf("test bits %08x: %v", easierThanLimit, err)
	}
	cases := []struct {
		name  string
		bits  uint32
		solve bool
	}{
		{"harder than expected", pow.BitsForLeadingZeros(5), true},
		{"easier than expected, within limit", pow.BitsForLeadingZeros(3), true},
		{"easier than the network limit", easierThanLimit, true},
		{"zero target", 0, false},
		{"negative target", 0x04923456, false},
		{"target over 256 bits", 0x22123456, false},
		{"no bits", pow.BitsForLeadingZeros(0), false},
	}
	f := newFixture(t)
	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := cloneBlock(good)
			bad.Bits = tc.bits
			if tc.solve {
				reseal(t, bad) // the proof of work meets the wrong bits
			}
			f.refuse(t, bad, ErrBadDifficulty)
		})
	}
	f.accept(t, good)
}

func TestRuleUnknownParentInBatch(t *testing.T) {
	f := newFixture(t)
	parent := f.next(t) // never added
	orphan := childOf(t, f.c, parent, f.carol.Address(), parent.Timestamp+1000)

	before := snapshot(f.c, f.addrs()...)
	n, _, err := f.c.AddBlocks([]*Block{orphan})
	if n != 0 || !errors.Is(err, ErrUnknownParent) {
		t.Fatalf("AddBlocks(orphan): %d, %v; want 0, ErrUnknownParent", n, err)
	}
	assertUnchanged(t, f.c, before)
	if f.c.HasBlock(orphan.Hash()) {
		t.Fatal("a batch's orphan was kept")
	}

	// A batch that breaks the link after a good block keeps the good one.
	good := f.next(t)
	stray := childOf(t, f.c, parent, f.carol.Address(), good.Timestamp+1000)
	n, _, err = f.c.AddBlocks([]*Block{good, stray})
	if n != 1 || !errors.Is(err, ErrBadPrevHash) {
		t.Fatalf("AddBlocks(good, stray): %d, %v; want 1, ErrBadPrevHash", n, err)
	}
	if f.c.Tip().Hash != good.Hash() {
		t.Fatal("the batch's valid first block was not kept")
	}
}

// TestRuleWrongPrevHashInBatch: a batch block whose parent is known, but is
// not the block before it in the batch, breaks the batch's chain: the
// blocks before it are kept, it and the rest are not.
func TestRuleWrongPrevHashInBatch(t *testing.T) {
	f := newFixture(t)
	tip, _ := f.c.BlockByHash(f.c.Tip().Hash)
	a := f.next(t)
	b := childOf(t, f.c, a, f.carol.Address(), a.Timestamp+1000)
	side := childOf(t, f.c, tip, f.carol.Address(), a.Timestamp+2000) // parent known, not b
	n, _, err := f.c.AddBlocks([]*Block{a, b, side})
	if n != 2 || !errors.Is(err, ErrBadPrevHash) {
		t.Fatalf("AddBlocks(a, b, side): %d, %v; want 2, ErrBadPrevHash", n, err)
	}
	if f.c.Tip().Hash != b.Hash() || f.c.HasBlock(side.Hash()) {
		t.Fatal("want a and b kept, the unlinked block refused")
	}
}

func TestRuleOrphanWaitsForParent(t *testing.T) {
	f := newFixture(t)
	parent := f.next(t)
	child := childOf(t, f.c, parent, f.carol.Address(), parent.Timestamp+1000)
	grandchild := childOf(t, f.c, child, f.carol.Address(), parent.Timestamp+2000)

	before := snapshot(f.c, f.addrs()...)
	for _, o := range []*Block{grandchild, child} {
		res, err := f.c.AddBlock(o)
		if err != nil || res.Status != StatusOrphan || res.MissingParent != o.PrevHash {
			t.Fatalf("AddBlock(orphan %d): %+v, %v; want orphan missing %s", o.Index, res, err, o.PrevHash)
		}
		assertUnchanged(t, f.c, before)
		if !f.c.HasBlock(o.Hash()) {
			t.Fatal("orphan not kept")
		}
	}
	if _, err := f.c.AddBlock(child); !errors.Is(err, ErrKnownBlock) {
		t.Fatalf("orphan added twice: %v, want ErrKnownBlock", err)
	}

	res, err := f.c.AddBlock(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Connected) != 3 || res.Connected[0].Hash() != parent.Hash() || res.Connected[2].Hash() != grandchild.Hash() {
		t.Fatalf("parent's arrival connected %d blocks, want parent and both orphans", len(res.Connected))
	}
	if tip := f.c.Tip(); tip.Hash != grandchild.Hash() || !f.c.IsMain(child.Hash()) {
		t.Fatalf("tip %d %s, want the grandchild", tip.Index, tip.Hash)
	}
	if got := f.c.Account(f.carol.Address()).Balance; got != 150 {
		t.Fatalf("carol %d, want 150 for three blocks", got)
	}
}

func TestRuleBadIndex(t *testing.T) {
	f := newFixture(t)
	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0))
	for _, delta := range []int64{+1, -1, -int64(good.Index)} {
		bad := cloneBlock(good)
		bad.Index = uint64(int64(bad.Index) + delta)
		bad.Txs[0].Nonce = bad.Index // keep the coinbase well formed
		reseal(t, bad)
		f.refuse(t, bad, ErrBadIndex)
	}
	f.accept(t, good)
}

func TestRuleBadMerkleRoot(t *testing.T) {
	f := newFixture(t)
	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0), f.alice.NewTx(testNet, f.bob.Address(), 6, 1, 1))

	flipped := cloneBlock(good)
	flipped.MerkleRoot[0] ^= 1
	solve(t, flipped)
	f.refuse(t, flipped, ErrBadMerkleRoot)

	// The same transactions in another order commit to another root.
	swapped := cloneBlock(good)
	swapped.Txs[1], swapped.Txs[2] = swapped.Txs[2], swapped.Txs[1]
	solve(t, swapped)
	f.refuse(t, swapped, ErrBadMerkleRoot)

	// A transaction changed after the root was computed (the coinbase's
	// recipient: no signature to break).
	changed := cloneBlock(good)
	changed.Txs[0].Recipient = f.bob.Address()
	solve(t, changed)
	f.refuse(t, changed, ErrBadMerkleRoot)

	f.accept(t, good)
}

func TestRuleTimeTooNew(t *testing.T) {
	f := newFixture(t)
	p := f.c.Params()
	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0))
	limit := f.clock.now().Add(p.MaxFutureDrift).UnixMilli()

	bad := cloneBlock(good)
	bad.Timestamp = limit + 1
	reseal(t, bad)
	f.refuse(t, bad, ErrTimeTooNew)

	// Exactly at the limit is allowed.
	good.Timestamp = limit
	reseal(t, good)
	f.accept(t, good)
}

func TestRuleTimeTooOld(t *testing.T) {
	f := newFixture(t)
	for range 12 {
		mine(t, f.c, f.clock, f.carol.Address())
	}
	// The median of the head and its 10 ancestors.
	tip := f.c.Tip().Index
	var ts []int64
	for i := tip - 10; i <= tip; i++ {
		b, err := f.c.BlockByIndex(i)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, b.Timestamp)
	}
	slices.Sort(ts)
	mtp := ts[5]

	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0))
	bad := cloneBlock(good)
	bad.Timestamp = mtp
	reseal(t, bad)
	f.refuse(t, bad, ErrTimeTooOld)

	// One millisecond after the median is enough, though it is before the head.
	good.Timestamp = mtp + 1
	reseal(t, good)
	if good.Timestamp >= f.c.Tip().Time.UnixMilli() {
		t.Fatal("test meant a timestamp before the head's")
	}
	f.accept(t, good)
}

func TestRuleBadSignature(t *testing.T) {
	f := newFixture(t)
	tx := f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0)
	good := f.next(t, tx)

	flipped := *tx
	flipped.Signature[10] ^= 0x40
	// Valid signature, but for another amount.
	otherAmount := *tx
	otherAmount.Amount = 6
	// Valid signature, but by alice for a tx claimed to be bob's.
	otherSender := *tx
	otherSender.Sender = f.bob.Address()
	// No signature at all.
	zeroSig := *tx
	zeroSig.Signature = [64]byte{}

	for name, btx := range map[string]*Tx{"flipped byte": &flipped, "other amount": &otherAmount, "other sender": &otherSender, "zero": &zeroSig} {
		t.Run(name, func(t *testing.T) {
			bad := cloneBlock(good)
			bad.Txs[1] = btx
			bad.Txs[0].Amount = f.c.Params().BlockReward + btx.Fee
			reseal(t, bad)
			f.refuse(t, bad, ErrBadSignature)

			before := snapshot(f.c, f.addrs()...)
			// SubmitTx checks the balance before the signature, and
			// bob has nothing to spend.
			want := ErrBadSignature
			if btx.Sender == f.bob.Address() {
				want = ErrInsufficientBalance
			}
			if err := f.c.SubmitTx(btx); !errors.Is(err, want) {
				t.Fatalf("SubmitTx: %v, want %v", err, want)
			}
			assertUnchanged(t, f.c, before)
		})
	}
	f.accept(t, good)
}

func TestRuleBadAmount(t *testing.T) {
	f := newFixture(t)
	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0))
	for name, btx := range map[string]*Tx{
		"zero":                f.alice.NewTx(testNet, f.bob.Address(), 0, 1, 0),
		"zero, no fee":        f.alice.NewTx(testNet, f.bob.Address(), 0, 0, 0),
		"amount+fee overflow": f.alice.NewTx(testNet, f.bob.Address(), math.MaxUint64, 1, 0),
		"fee overflows":       f.alice.NewTx(testNet, f.bob.Address(), 2, math.MaxUint64-1, 0),
	} {
		t.Run(name, func(t *testing.T) {
			bad := cloneBlock(good)
			bad.Txs[1] = btx
			bad.Txs[0].Amount = f.c.Params().BlockReward + btx.Fee
			reseal(t, bad)
			f.refuse(t, bad, ErrBadAmount)

			before := snapshot(f.c, f.addrs()...)
			if err := f.c.SubmitTx(btx); !errors.Is(err, ErrBadAmount) {
				t.Fatalf("SubmitTx: %v, want ErrBadAmount", err)
			}
			assertUnchanged(t, f.c, before)
		})
	}
	f.accept(t, good)
}

func TestRuleInsufficientBalance(t *testing.T) {
	f := newFixture(t)
	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 49, 1, 0)) // exactly her 50

	t.Run("one tx", func(t *testing.T) {
		bad := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 50, 1, 0))
		f.refuse(t, bad, ErrInsufficientBalance)
		if !f.c.IsInvalid(bad.Hash()) {
			t.Fatal("block that failed state validation not marked invalid")
		}
	})
	t.Run("two txs that fit alone", func(t *testing.T) {
		bad := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 30, 0, 0), f.alice.NewTx(testNet, f.bob.Address(), 30, 0, 1))
		f.refuse(t, bad, ErrInsufficientBalance)
	})
	t.Run("no account", func(t *testing.T) {
		bad := f.next(t, f.bob.NewTx(testNet, f.alice.Address(), 1, 0, 0))
		f.refuse(t, bad, ErrInsufficientBalance)
	})
	t.Run("submit", func(t *testing.T) {
		before := snapshot(f.c, f.addrs()...)
		if err := f.c.SubmitTx(f.alice.NewTx(testNet, f.bob.Address(), 50, 1, 0)); !errors.Is(err, ErrInsufficientBalance) {
			t.Fatalf("SubmitTx: %v, want ErrInsufficientBalance", err)
		}
		if err := f.c.SubmitTx(f.bob.NewTx(testNet, f.alice.Address(), 1, 0, 0)); !errors.Is(err, ErrInsufficientBalance) {
			t.Fatalf("SubmitTx from an empty account: %v, want ErrInsufficientBalance", err)
		}
		// dave has 50 with 8 pending: 43 more is one too many.
		if err := f.c.SubmitTx(f.dave.NewTx(testNet, f.bob.Address(), 43, 0, 1)); !errors.Is(err, ErrInsufficientBalance) {
			t.Fatalf("SubmitTx over the pending balance: %v, want ErrInsufficientBalance", err)
		}
		assertUnchanged(t, f.c, before)
	})
	f.accept(t, good)
	if got := f.c.Account(f.alice.Address()); got.Balance != 0 || got.Nonce != 1 {
		t.Fatalf("alice %+v, want 0/1", got)
	}
}

func TestRuleBadNonce(t *testing.T) {
	f := newFixture(t)
	tx0 := f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0)
	f.accept(t, f.next(t, tx0))

	cases := map[string][]*Tx{
		"replay of a mined tx":  {tx0},
		"old nonce, new tx":     {f.alice.NewTx(testNet, f.bob.Address(), 6, 1, 0)},
		"gap":                   {f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 2)},
		"same nonce twice":      {f.alice.NewTx(testNet, f.bob.Address(), 1, 0, 1), f.alice.NewTx(testNet, f.bob.Address(), 2, 0, 1)},
		"out of order in block": {f.alice.NewTx(testNet, f.bob.Address(), 1, 0, 2), f.alice.NewTx(testNet, f.bob.Address(), 2, 0, 1)},
		"other sender's gap":    {f.dave.NewTx(testNet, f.alice.Address(), 1, 0, 1)},
	}
	for name, txs := range cases {
		t.Run(name, func(t *testing.T) {
			bad := f.next(t, txs...)
			f.refuse(t, bad, ErrBadNonce)
			if !f.c.IsInvalid(bad.Hash()) {
				t.Fatal("not marked invalid")
			}
		})
	}
	t.Run("submit", func(t *testing.T) {
		before := snapshot(f.c, f.addrs()...)
		for _, tx := range []*Tx{tx0, f.alice.NewTx(testNet, f.bob.Address(), 6, 1, 0), f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 2)} {
			if err := f.c.SubmitTx(tx); !errors.Is(err, ErrBadNonce) {
				t.Fatalf("SubmitTx nonce %d: %v, want ErrBadNonce", tx.Nonce, err)
			}
		}
		assertUnchanged(t, f.c, before)
	})
	f.accept(t, f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 1)))
}

func TestRuleDuplicateTx(t *testing.T) {
	f := newFixture(t)
	tx := f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0)
	good := f.next(t, tx)
	bad := cloneBlock(good)
	dup := *tx
	bad.Txs = append(bad.Txs, &dup)
	bad.Txs[0].Amount += tx.Fee
	reseal(t, bad)
	f.refuse(t, bad, ErrDuplicateTx)
	// Duplicating the last of an odd count gives the same Merkle root as the
	// block without it (CVE-2012-2459): the rule must hold all the same.
	odd := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0), f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 1))
	mutated := cloneBlock(odd)
	last := *odd.Txs[2]
	mutated.Txs = append(mutated.Txs, &last)
	if MerkleRoot(mutated.Txs) != odd.MerkleRoot {
		t.Fatal("expected the duplicate-leaf mutation to keep the root")
	}
	f.refuse(t, mutated, ErrDuplicateTx)
	// The mutated block has the same hash as the valid one: refusing it
	// must not mark that hash invalid.
	if mutated.Hash() != odd.Hash() || f.c.IsInvalid(odd.Hash()) {
		t.Fatal("the mutation's hash was marked invalid")
	}
	f.accept(t, odd)
}

func TestRuleBadCoinbase(t *testing.T) {
	f := newFixture(t)
	tx := f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0)
	good := f.next(t, tx)
	reward := f.c.Params().BlockReward
	cases := []struct {
		name   string
		mutate func(b *Block)
		state  bool // caught by state validation: the block is marked invalid
	}{
		{"missing: no txs", func(b *Block) { b.Txs = nil }, false},
		{"transfer at 0, coinbase at 1", func(b *Block) { b.Txs[0], b.Txs[1] = b.Txs[1], b.Txs[0] }, false},
		{"transfer only", func(b *Block) { b.Txs = b.Txs[1:] }, false},
		{"second coinbase at 1", func(b *Block) {
			cb2 := *b.Txs[0]
			cb2.Recipient = f.bob.Address()
			b.Txs = append(b.Txs[:1], &cb2, b.Txs[1])
		}, false},
		{"second coinbase last", func(b *Block) {
			cb2 := *b.Txs[0]
			cb2.Amount = 1
			b.Txs = append(b.Txs, &cb2)
		}, false},
		{"fee on the coinbase", func(b *Block) { b.Txs[0].Fee = 1 }, false},
		{"nonce not the index", func(b *Block) { b.Txs[0].Nonce++ }, false},
		{"signature on the coinbase", func(b *Block) { b.Txs[0].Signature[0] = 1 }, false},
		{"paid to the zero address", func(b *Block) { b.Txs[0].Recipient = CoinbaseSender }, false},
		{"more than reward+fees", func(b *Block) { b.Txs[0].Amount = reward + tx.Fee + 1 }, true},
		{"less than reward+fees", func(b *Block) { b.Txs[0].Amount = reward }, true},
		{"maximal amount", func(b *Block) { b.Txs[0].Amount = math.MaxUint64 }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := cloneBlock(good)
			tc.mutate(bad)
			reseal(t, bad)
			f.refuse(t, bad, ErrBadCoinbase)
			if f.c.IsInvalid(bad.Hash()) != tc.state {
				t.Fatalf("IsInvalid %v, want %v", !tc.state, tc.state)
			}
		})
	}
	t.Run("submit a coinbase", func(t *testing.T) {
		before := snapshot(f.c, f.addrs()...)
		if err := f.c.SubmitTx(good.Txs[0]); !errors.Is(err, ErrBadCoinbase) {
			t.Fatalf("SubmitTx(coinbase): %v, want ErrBadCoinbase", err)
		}
		assertUnchanged(t, f.c, before)
	})
	f.accept(t, good)
}

func TestRuleBadRecipient(t *testing.T) {
	f := newFixture(t)
	good := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0))
	btx := f.alice.NewTx(testNet, CoinbaseSender, 5, 1, 0)
	bad := cloneBlock(good)
	bad.Txs[1] = btx
	reseal(t, bad)
	f.refuse(t, bad, ErrBadAddress)
	before := snapshot(f.c, f.addrs()...)
	if err := f.c.SubmitTx(btx); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("SubmitTx to the zero address: %v, want ErrBadAddress", err)
	}
	assertUnchanged(t, f.c, before)
	f.accept(t, good)
}

func TestRuleBlockTooBig(t *testing.T) {
	p := TestParams()
	// Room for the coinbase and one transfer, with the widest count prefix.
	p.MaxBlockBytes = HeaderSize + maxTxCountPrefix + 2*TxSize
	c, clock := newParamsChain(t, p, Options{})
	f := setupFixture(t, c, clock)
	net := NetworkID(p)
	tx0, tx1 := f.alice.NewTx(net, f.bob.Address(), 5, 1, 0), f.alice.NewTx(net, f.bob.Address(), 5, 1, 1)

	bad := f.next(t, tx0, tx1)
	if bad.Size() <= p.MaxBlockBytes {
		t.Fatalf("test block of %d bytes fits %d", bad.Size(), p.MaxBlockBytes)
	}
	f.refuse(t, bad, ErrBlockTooBig)
	if _, err := DecodeBlock(bad.Bytes(), p.MaxBlockBytes); !errors.Is(err, ErrBlockTooBig) {
		t.Fatalf("DecodeBlock over the limit: %v, want ErrBlockTooBig", err)
	}

	// The template stays within the limit.
	for _, tx := range []*Tx{tx0, tx1} {
		if err := c.SubmitTx(tx); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := c.NewBlockTemplate(f.carol.Address())
	if tmpl.Size() > p.MaxBlockBytes || len(tmpl.Txs) != 2 {
		t.Fatalf("template of %d bytes with %d txs, limit %d bytes", tmpl.Size(), len(tmpl.Txs), p.MaxBlockBytes)
	}
	solve(t, tmpl)
	accept(t, c, tmpl)
}

func TestRuleTooManyTxs(t *testing.T) {
	p := TestParams()
	p.MaxBlockTxs = 3
	c, clock := newParamsChain(t, p, Options{})
	f := setupFixture(t, c, clock)
	var txs []*Tx
	for n := range uint64(3) {
		txs = append(txs, f.alice.NewTx(NetworkID(p), f.bob.Address(), 5, 1, n))
	}
	bad := f.next(t, txs...)
	f.refuse(t, bad, ErrTooManyTxs)

	for _, tx := range txs {
		if err := c.SubmitTx(tx); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := c.NewBlockTemplate(f.carol.Address())
	if len(tmpl.Txs) != p.MaxBlockTxs {
		t.Fatalf("template with %d txs, want the limit %d", len(tmpl.Txs), p.MaxBlockTxs)
	}
	solve(t, tmpl)
	accept(t, c, tmpl)
}

func TestRuleMalformed(t *testing.T) {
	f := newFixture(t)
	blk := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0), f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 1))
	enc := blk.Bytes()
	if got, err := DecodeBlock(enc, 0); err != nil || !bytes.Equal(got.Bytes(), enc) {
		t.Fatalf("valid block does not decode: %v", err)
	}
	withCount := func(n uint64, prefix []byte) []byte {
		b := append([]byte(nil), enc[:HeaderSize]...)
		if prefix != nil {
			b = append(b, prefix...)
		} else {
			b = binary.AppendUvarint(b, n)
		}
		return append(b, enc[HeaderSize+1:]...)
	}
	blocks := map[string][]byte{
		"empty":                   nil,
		"header only":             enc[:HeaderSize],
		"truncated by one":        enc[:len(enc)-1],
		"truncated mid-header":    enc[:HeaderSize-1],
		"extra byte":              append(append([]byte(nil), enc...), 0),
		"extra tx bytes":          append(append([]byte(nil), enc...), enc[HeaderSize+1:HeaderSize+1+TxSize]...),
		"count says more":         withCount(4, nil),
		"count says fewer":        withCount(2, nil),
		"count says none":         withCount(0, nil),
		"count not minimal":       withCount(0, []byte{0x83, 0x00}),
		"count too wide":          withCount(0, []byte{0x83, 0x80, 0x80, 0x80, 0x80, 0x00}),
		"count overflows":         withCount(0, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
		"huge count, few bytes":   withCount(1<<34, nil),
		"count unterminated":      append(append([]byte(nil), enc[:HeaderSize]...), 0x80),
		"max count, little after": withCount(1<<35-1, nil),
	}
	for name, b := range blocks {
		if _, err := DecodeBlock(b, 1<<20); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeBlock %s: %v, want ErrMalformed", name, err)
		}
	}
	txb := blk.Txs[1].Bytes()
	for name, b := range map[string][]byte{"empty": nil, "short": txb[:TxSize-1], "long": append(append([]byte(nil), txb...), 0)} {
		if _, err := DecodeTx(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeTx %s: %v, want ErrMalformed", name, err)
		}
	}
	hb := blk.Header.Bytes()
	for name, b := range map[string][]byte{"empty": nil, "short": hb[:HeaderSize-1], "long": append(append([]byte(nil), hb...), 0)} {
		if _, err := DecodeHeader(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeHeader %s: %v, want ErrMalformed", name, err)
		}
	}
	for _, s := range []string{"", "00", "zz" + blk.Hash().String()[2:], blk.Hash().String() + "00"} {
		if _, err := ParseHash(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseHash(%q): %v, want ErrMalformed", s, err)
		}
	}
	for _, s := range []string{"", "1", "00", "0x" + f.alice.Address().String(), f.alice.Address().String()[1:]} {
		if _, err := ParseAddress(s); !errors.Is(err, ErrBadAddress) {
			t.Errorf("ParseAddress(%q): %v, want ErrBadAddress", s, err)
		}
	}
	if _, err := decodeUndo([]byte{0, 0, 0, 1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("decodeUndo with a missing entry: %v", err)
	}
	if _, err := decodeAccount(make([]byte, 15)); !errors.Is(err, ErrMalformed) {
		t.Errorf("decodeAccount short: %v", err)
	}
}

// A block that breaks a state rule is remembered as invalid: it is refused
// again without being re-validated, and so are its descendants, whichever
// path they come by.
func TestInvalidBlockAndItsChildren(t *testing.T) {
	f := newFixture(t)
	bad := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 3)) // nonce gap
	f.refuse(t, bad, ErrBadNonce)
	if !f.c.IsInvalid(bad.Hash()) || !f.c.HasBlock(bad.Hash()) {
		t.Fatal("invalid block not remembered as invalid")
	}
	f.refuse(t, bad, ErrInvalidAncestor)

	child := childOf(t, f.c, bad, f.carol.Address(), bad.Timestamp+1000)
	f.refuse(t, child, ErrInvalidAncestor)
	grandchild := childOf(t, f.c, child, f.carol.Address(), bad.Timestamp+2000)
	before := snapshot(f.c, f.addrs()...)
	if n, _, err := f.c.AddBlocks([]*Block{child, grandchild}); n != 0 || !errors.Is(err, ErrInvalidAncestor) {
		t.Fatalf("AddBlocks(child, grandchild): %d, %v; want 0, ErrInvalidAncestor", n, err)
	}
	assertUnchanged(t, f.c, before)
	f.accept(t, f.next(t))
}

// A heavier branch whose second block breaks a state rule: the valid first
// block wins the reorg if it alone has more work, the rest is marked invalid.
func TestInvalidBlockInHeavierBranch(t *testing.T) {
	f := newFixture(t)
	main4 := f.next(t)
	f.accept(t, main4)
	// Side branch from block 3: s4 (valid, ties main4), s5 (invalid), s6.
	ts := main4.Timestamp
	s4 := childOf(t, f.c, f.block3, f.bob.Address(), ts+1)
	if res, err := f.c.AddBlock(s4); err != nil || res.Status != StatusSide {
		t.Fatalf("s4: %+v, %v; want side", res, err)
	}
	s5 := childOf(t, f.c, s4, f.bob.Address(), ts+2, f.alice.NewTx(testNet, f.bob.Address(), 500, 0, 0))
	f.refuse(t, s5, ErrInsufficientBalance)
	// s4 has the same work as main4: ties keep the first seen.
	if f.c.Tip().Hash != main4.Hash() || !f.c.IsInvalid(s5.Hash()) || f.c.IsInvalid(s4.Hash()) {
		t.Fatal("after the invalid s5: want main4 as head, s5 invalid, s4 not")
	}
	s6 := childOf(t, f.c, s5, f.bob.Address(), ts+3)
	refuse(t, f.c, s6, ErrInvalidAncestor, f.addrs()...)
}

// Retargeting through the chain: with an interval of 4 and blocks coming
// twice as slowly as wanted, the block at the retarget height must carry
// easier bits; the old bits are refused.
func TestRetargetThroughChain(t *testing.T) {
	p := TestParams()
	p.RetargetInterval = 4
	c, clock := newParamsChain(t, p, Options{})
	miner := wallet(9).Address()
	at := func(i uint64, spacing time.Duration) { clock.t = p.GenesisTime.Add(time.Duration(i-1) * spacing) }

	// Blocks 2..4 every 2×TargetSpacing: the first window is measured from
	// block 2 (not the genesis), 2×20 s for 2×10 s wanted.
	slow := 2 * p.TargetSpacing
	for i := uint64(2); i <= 4; i++ {
		at(i, slow)
		b := c.NewBlockTemplate(miner)
		if b.Bits != p.InitialBits {
			t.Fatalf("block %d bits %08x, want the initial %08x", i, b.Bits, p.InitialBits)
		}
		solve(t, b)
		accept(t, c, b)
	}
	want := pow.Retarget(p.InitialBits, 2*slow, 2*p.TargetSpacing, p.LimitBits)
	oldT, _ := pow.TargetFromBits(p.InitialBits)
	newT, _ := pow.TargetFromBits(want)
	twice := new(big.Int).Lsh(oldT, 1)
	almost := new(big.Int).Quo(new(big.Int).Mul(twice, big.NewInt(999)), big.NewInt(1000))
	if newT.Cmp(twice) > 0 || newT.Cmp(almost) < 0 {
		t.Fatalf("retarget %08x -> %08x is not about twice as easy", p.InitialBits, want)
	}

	at(5, slow)
	b5 := c.NewBlockTemplate(miner)
	if b5.Bits != want {
		t.Fatalf("template at the retarget height: bits %08x, want %08x", b5.Bits, want)
	}
	old := cloneBlock(b5)
	old.Bits = p.InitialBits
	reseal(t, old)
	refuse(t, c, old, ErrBadDifficulty, miner)
	solve(t, b5)
	accept(t, c, b5)
	if c.Tip().Bits != want {
		t.Fatalf("tip bits %08x, want %08x", c.Tip().Bits, want)
	}

	// Between retargets the bits stay; the next period comes too fast
	// (a quarter of the wanted time is the clamp) and makes it harder.
	for i := uint64(6); i <= 8; i++ {
		clock.t = b5.Header.Time().Add(time.Duration(i-5) * p.TargetSpacing / 8)
		b := c.NewBlockTemplate(miner)
		if b.Bits != want {
			t.Fatalf("block %d bits %08x, want %08x", i, b.Bits, want)
		}
		keep := cloneBlock(b)
		keep.Bits = p.InitialBits
		reseal(t, keep)
		refuse(t, c, keep, ErrBadDifficulty, miner)
		solve(t, b)
		accept(t, c, b)
	}
	clock.t = clock.t.Add(time.Millisecond)
	b9 := c.NewBlockTemplate(miner)
	// The window is measured over 4 intervals, from block 4 (the last of
	// the previous window) to block 8: one slow interval, three fast.
	harder := pow.Retarget(want, slow+3*p.TargetSpacing/8, 4*p.TargetSpacing, p.LimitBits)
	if b9.Bits != harder || pow.Work(harder).Cmp(pow.Work(want)) <= 0 {
		t.Fatalf("block 9 bits %08x, want harder %08x", b9.Bits, harder)
	}
	solve(t, b9)
	accept(t, c, b9)
}

// A batch whose later block is malformed must still have the signatures of
// its earlier blocks checked before they are stored.
func TestAddBlocksChecksSignaturesBeforeALaterShapeError(t *testing.T) {
	f := newFixture(t)
	forged := f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0)
	forged.Amount = 45 // signature now valid for another amount
	b4 := f.next(t, forged)
	b5 := childOf(t, f.c, b4, f.carol.Address(), b4.Timestamp+1000)
	b5.MerkleRoot[0] ^= 1
	solve(t, b5)

	before := snapshot(f.c, f.addrs()...)
	n, _, err := f.c.AddBlocks([]*Block{b4, b5})
	if n != 0 || !errors.Is(err, ErrBadSignature) {
		t.Fatalf("AddBlocks(forged signature, bad root): %d, %v; want 0, ErrBadSignature", n, err)
	}
	assertUnchanged(t, f.c, before)
	if f.c.HasBlock(b4.Hash()) {
		t.Fatal("block with a forged signature stored")
	}
}

// The batch path applies the same rules: the first bad block ends it and
// the blocks before it stay.
func TestAddBlocksStopsAtFirstBadBlock(t *testing.T) {
	f := newFixture(t)
	b4 := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 0))
	b5 := childOf(t, f.c, b4, f.carol.Address(), b4.Timestamp+1000, f.alice.NewTx(testNet, f.bob.Address(), 5, 1, 5))
	b6 := childOf(t, f.c, b5, f.carol.Address(), b4.Timestamp+2000)
	n, res, err := f.c.AddBlocks([]*Block{b4, b5, b6})
	if n != 1 || !errors.Is(err, ErrBadNonce) {
		t.Fatalf("AddBlocks: %d, %v; want 1, ErrBadNonce", n, err)
	}
	if f.c.Tip().Hash != b4.Hash() || len(res.Connected) != 1 {
		t.Fatalf("tip %s, connected %d; want b4 and 1", f.c.Tip().Hash, len(res.Connected))
	}
	if !f.c.IsInvalid(b5.Hash()) || f.c.HasBlock(b6.Hash()) {
		t.Fatal("b5 not invalid, or b6 stored")
	}
	// Known blocks in a batch are skipped, not errors.
	b5ok := childOf(t, f.c, b4, f.carol.Address(), b4.Timestamp+1000)
	n, _, err = f.c.AddBlocks([]*Block{b4, b5ok})
	if n != 2 || err != nil || f.c.Tip().Hash != b5ok.Hash() {
		t.Fatalf("AddBlocks(known, new): %d, %v", n, err)
	}
}

// The orphan pool is bounded: the oldest orphans go first.
func TestOrphanPoolBounded(t *testing.T) {
	c, clock := newParamsChain(t, TestParams(), Options{MaxOrphans: 3})
	f := setupFixture(t, c, clock)
	var parents, orphans []*Block
	for i := range 5 {
		parent := childOf(t, c, f.block3, wallet(byte(20+i)).Address(), f.block3.Timestamp+int64(i)+1)
		parents = append(parents, parent)
		orphans = append(orphans, childOf(t, c, parent, f.carol.Address(), parent.Timestamp+1000))
	}
	for _, o := range orphans {
		if res, err := c.AddBlock(o); err != nil || res.Status != StatusOrphan {
			t.Fatalf("orphan: %+v, %v", res, err)
		}
	}
	for i, o := range orphans {
		if c.HasBlock(o.Hash()) != (i >= 2) {
			t.Fatalf("orphan %d kept: %v, want only the newest 3", i, c.HasBlock(o.Hash()))
		}
	}
	// An evicted orphan's parent arrives: only the parent is added.
	res, err := c.AddBlock(parents[0])
	if err != nil || len(res.Connected) != 1 {
		t.Fatalf("parent of an evicted orphan: %+v, %v", res, err)
	}
	// A kept orphan's parent (a tie with the head: side) brings it along,
	// and the orphan's extra work makes that branch the main chain.
	res, err = c.AddBlock(parents[4])
	if err != nil || !res.Reorg || c.Tip().Hash != orphans[4].Hash() {
		t.Fatalf("parent of a kept orphan: %+v, %v", res, err)
	}
}

// TestBodyDuplicateBothWays: checkBlockBody finds a repeated transaction
// by a scan in a small block and by a map in a big one (smallBlockTxs);
// both ways refuse it wherever the copy sits, and pass the block without.
func TestBodyDuplicateBothWays(t *testing.T) {
	alice := WalletFromSeed([32]byte{1})
	bob := WalletFromSeed([32]byte{2})
	for _, n := range []int{2, smallBlockTxs - 1, smallBlockTxs, smallBlockTxs + 1, 40} {
		txs := []*Tx{{Recipient: bob.Address(), Amount: 50, Nonce: 7}}
		for i := range n {
			txs = append(txs, alice.NewTx(testNet, bob.Address(), 5, 1, uint64(i)))
		}
		b := &Block{Header: Header{Index: 7}, Txs: txs}
		b.MerkleRoot = MerkleRoot(b.Txs)
		if err := checkBlockBody(b, b.Hash()); err != nil {
			t.Fatalf("%d transfers, none repeated: %v", n, err)
		}
		for _, at := range []int{1, n / 2, n} {
			dup := *txs[at]
			bad := &Block{Header: b.Header, Txs: append(slices.Clone(txs), &dup)}
			bad.MerkleRoot = MerkleRoot(bad.Txs)
			if err := checkBlockBody(bad, bad.Hash()); !errors.Is(err, ErrDuplicateTx) {
				t.Fatalf("%d transfers, #%d repeated last: %v, want ErrDuplicateTx", n, at, err)
			}
		}
	}
}
