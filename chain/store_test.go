package chain

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Side branches and their undo records survive a reopen: a reorg after
// reopening works, in both directions, across several reopens.
func TestStoreSideBranchAndReorgAfterReopen(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: TestParams().GenesisTime.Add(time.Hour)}
	alice, bob, carol := wallet(1), wallet(2), wallet(3)

	c := openTestChain(t, dir, clock)
	b2 := mine(t, c, clock, alice.Address()) // alice 50
	tx := alice.NewTx(testNet, bob.Address(), 10, 1, 0)
	submitAll(t, c, tx)
	a3 := mine(t, c, clock, alice.Address()) // alice 50-11+51 = 90, bob 10
	ts := a3.Timestamp
	s3 := childOf(t, c, b2, carol.Address(), ts+1)
	if res, err := c.AddBlock(s3); err != nil || res.Status != StatusSide {
		t.Fatalf("s3: %+v, %v; want side", res, err)
	}
	c.Close()

	c = openTestChain(t, dir, clock)
	if !c.HasBlock(s3.Hash()) || c.IsMain(s3.Hash()) || c.Tip().Hash != a3.Hash() {
		t.Fatal("after reopen: want s3 stored on a side branch, a3 the head")
	}
	if got, err := c.BlockByHash(s3.Hash()); err != nil || got.Hash() != s3.Hash() {
		t.Fatalf("read s3 after reopen: %v", err)
	}
	s4 := childOf(t, c, s3, carol.Address(), ts+2)
	res, err := c.AddBlock(s4)
	if err != nil || !res.Reorg || len(res.Disconnected) != 1 {
		t.Fatalf("s4 after reopen: %+v, %v; want a reorg undoing a3", res, err)
	}
	wantAccounts(t, c, map[Address]Account{
		alice.Address(): {50, 0}, bob.Address(): {0, 0}, carol.Address(): {100, 0},
	})
	if !c.Mempool().Has(tx.ID()) {
		t.Fatal("a3's tx not back in the mempool")
	}
	c.Close()

	// The reorg's result is what is on disk, and a3's branch (with undo
	// records for s3 and s4) can win back.
	c = openTestChain(t, dir, clock)
	if c.Tip().Hash != s4.Hash() {
		t.Fatal("reopened head is not s4")
	}
	wantAccounts(t, c, map[Address]Account{
		alice.Address(): {50, 0}, bob.Address(): {0, 0}, carol.Address(): {100, 0},
	})
	a4 := childOf(t, c, a3, alice.Address(), ts+3)
	a5 := childOf(t, c, a4, alice.Address(), ts+4)
	n, res, err := c.AddBlocks([]*Block{a4, a5})
	if n != 2 || err != nil || !res.Reorg || len(res.Disconnected) != 2 || len(res.Connected) != 3 {
		t.Fatalf("a4, a5: %d, %+v, %v; want a reorg of 2 out, 3 in", n, res, err)
	}
	want := map[Address]Account{
		alice.Address(): {50 - 11 + 51 + 50 + 50, 1}, bob.Address(): {10, 0}, carol.Address(): {0, 0},
	}
	wantAccounts(t, c, want)
	c.Close()
	c = openTestChain(t, dir, clock)
	wantAccounts(t, c, want)
	checkMainChain(t, c)
	if c.Tip().Hash != a5.Hash() || !c.HasBlock(s4.Hash()) || c.IsMain(s4.Hash()) {
		t.Fatal("after the last reopen: want a5 the head and s4 on a side branch")
	}
}

func wantAccounts(t testing.TB, c *Chain, want map[Address]Account) {
	t.Helper()
	for a, acct := range want {
		if got := c.Account(a); got != acct {
			t.Fatalf("account %s: %+v, want %+v", a, got, acct)
		}
	}
}

// checkMainChain walks the main chain from the genesis: indexes, links,
// and that the head state is the state replayed from the genesis. It
// returns the replayed state.
func checkMainChain(t testing.TB, c *Chain) map[Address]Account {
	t.Helper()
	p := c.Params()
	tip := c.Tip()
	g, err := c.BlockByIndex(1)
	if err != nil || g.Hash() != Genesis(p).Hash() || tip.Genesis != g.Hash() {
		t.Fatalf("block 1 is not the genesis: %v", err)
	}
	state := make(map[Address]Account)
	prev := g
	var total uint64
	for i := uint64(2); i <= tip.Index; i++ {
		b, err := c.BlockByIndex(i)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if b.Index != i || b.PrevHash != prev.Hash() {
			t.Fatalf("block %d (index %d) does not link to block %d", i, b.Index, i-1)
		}
		if !c.IsMain(b.Hash()) {
			t.Fatalf("block %d not on the main chain", i)
		}
		if err := CheckBlockSanity(b, p); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		var fees uint64
		for _, tx := range b.Txs[1:] {
			s := state[tx.Sender]
			if s.Nonce != tx.Nonce || s.Balance < tx.Amount+tx.Fee {
				t.Fatalf("block %d: tx %s does not apply on the replayed state", i, tx.ID())
			}
			s.Balance -= tx.Amount + tx.Fee
			s.Nonce++
			state[tx.Sender] = s
			r := state[tx.Recipient]
			r.Balance += tx.Amount
			state[tx.Recipient] = r
			fees += tx.Fee
		}
		cb := b.Txs[0]
		if cb.Amount != p.BlockReward+fees {
			t.Fatalf("block %d: coinbase %d, want %d", i, cb.Amount, p.BlockReward+fees)
		}
		m := state[cb.Recipient]
		m.Balance += cb.Amount
		state[cb.Recipient] = m
		total += p.BlockReward
		prev = b
	}
	if prev.Hash() != tip.Hash {
		t.Fatal("the walk did not end at the head")
	}
	var sum uint64
	for a, acct := range state {
		sum += acct.Balance
		if got := c.Account(a); got != acct {
			t.Fatalf("account %s: stored %+v, replayed %+v", a, got, acct)
		}
	}
	if want := p.BlockReward * (tip.Index - 1); sum != want || total != want {
		t.Fatalf("coins in existence %d, want reward × (blocks-1) = %d", sum, want)
	}
	return state
}

// A store belongs to one network: opening it with other parameters fails,
// and does not damage it or leave it locked.
func TestStoreOtherNetworkRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chain.db")
	clock := &testClock{t: TestParams().GenesisTime.Add(time.Hour)}
	c := openTestChain(t, dir, clock)
	mine(t, c, clock, wallet(1).Address())
	tip := c.Tip()
	c.Close()

	others := map[string]func(*Params){
		"difficulty":     func(p *Params) { *p = p.WithDifficulty(5) },
		"name":           func(p *Params) { p.Name = "othernet" },
		"reward":         func(p *Params) { p.BlockReward = 51 },
		"genesis time":   func(p *Params) { p.GenesisTime = p.GenesisTime.Add(time.Second) },
		"retarget":       func(p *Params) { p.RetargetInterval = 10 },
		"block size":     func(p *Params) { p.MaxBlockBytes-- },
		"future drift":   func(p *Params) { p.MaxFutureDrift = 2 * time.Minute },
		"default (live)": func(p *Params) { *p = DefaultParams() },
	}
	for name, change := range others {
		p := TestParams()
		change(&p)
		if _, err := Open(path, Options{Params: p, Now: clock.now}); !errors.Is(err, ErrBadGenesis) {
			t.Fatalf("open with another %s: %v, want ErrBadGenesis", name, err)
		}
	}
	c = openTestChain(t, dir, clock)
	if c.Tip().Hash != tip.Hash {
		t.Fatal("store changed by the refused opens")
	}
}

// The batch path (one commit for many blocks) persists like AddBlock.
func TestStoreAddBlocksPersists(t *testing.T) {
	src, clock := newTestChain(t)
	alice, bob := wallet(1), wallet(2)
	for i := range 12 {
		if i > 0 && i%2 == 0 {
			n := src.Mempool().PendingNonce(alice.Address(), src.Account(alice.Address()))
			submitAll(t, src, alice.NewTx(testNet, bob.Address(), 3, 1, n))
		}
		mine(t, src, clock, alice.Address())
	}
	blocks, err := src.MainBlocks(2, 100)
	if err != nil || len(blocks) != 12 {
		t.Fatalf("MainBlocks: %d, %v", len(blocks), err)
	}

	dir := t.TempDir()
	dst := openTestChain(t, dir, clock)
	n, res, err := dst.AddBlocks(blocks)
	if n != 12 || err != nil || res.Status != StatusMain || len(res.Connected) != 12 {
		t.Fatalf("AddBlocks: %d, %+v, %v", n, res, err)
	}
	dst.Close()
	dst = openTestChain(t, dir, clock)
	if dst.Tip().Hash != src.Tip().Hash {
		t.Fatal("reopened batch-synced chain has another head")
	}
	wantAccounts(t, dst, map[Address]Account{alice.Address(): src.Account(alice.Address()), bob.Address(): src.Account(bob.Address())})
	checkMainChain(t, dst)
	// And it goes on from there.
	mine(t, dst, clock, bob.Address())
	checkMainChain(t, dst)
}

// Invalid status is stored: after a reopen the block and its children are
// still refused without revalidation.
func TestStoreInvalidStatusPersists(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: TestParams().GenesisTime.Add(time.Hour)}
	c := openTestChain(t, dir, clock)
	f := setupFixture(t, c, clock)
	bad := f.next(t, f.alice.NewTx(testNet, f.bob.Address(), 500, 0, 0))
	f.refuse(t, bad, ErrInsufficientBalance)
	c.Close()

	c = openTestChain(t, dir, clock)
	if !c.IsInvalid(bad.Hash()) {
		t.Fatal("invalid status lost on reopen")
	}
	refuse(t, c, bad, ErrInvalidAncestor)
	refuse(t, c, childOf(t, c, bad, f.carol.Address(), bad.Timestamp+1), ErrInvalidAncestor)
	mine(t, c, clock, f.carol.Address())
}

// TestStoreOfAnotherFormatIsRefused: a store written with another record
// layout is refused with a clear error, not misread.
func TestStoreOfAnotherFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{t: TestParams().GenesisTime.Add(time.Hour)}
	c := openTestChain(t, dir, clock)
	c.Close()
	db, err := bolt.Open(filepath.Join(dir, "chain.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(filepath.Join(dir, "chain.db"), Options{Params: TestParams()})
	if err == nil || !strings.Contains(err.Error(), "store format") {
		t.Fatalf("open of another format: %v", err)
	}
}
