package chain

import (
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
)

// AddShapedBlock skips only the shape CheckBlockShape checked: a block of
// the right shape with a bad signature, or spending what its sender does
// not have, is refused and changes nothing; a valid one is added.
func TestAddShapedBlockChecksTheRest(t *testing.T) {
	c, clock := newTestChain(t)
	alice, bob := wallet(1), wallet(2)
	tip := mine(t, c, clock, alice.Address()) // alice 50
	ts := tip.Timestamp + 1

	forged := alice.NewTx(testNet, bob.Address(), 10, 1, 0)
	forged.Signature[0] ^= 1
	overdrawn := alice.NewTx(testNet, bob.Address(), 60, 1, 0)
	for _, bad := range []struct {
		tx   *Tx
		want error
	}{{forged, ErrBadSignature}, {overdrawn, ErrInsufficientBalance}} {
		b := childOf(t, c, tip, bob.Address(), ts, bad.tx)
		sb, err := CheckBlockShape(b, c.Params())
		if err != nil {
			t.Fatalf("shape: %v", err)
		}
		if _, err := c.AddShapedBlock(sb); !errors.Is(err, bad.want) {
			t.Fatalf("AddShapedBlock: %v, want %v", err, bad.want)
		}
		if c.Tip().Hash != tip.Hash() || c.IsMain(b.Hash()) {
			t.Fatal("a refused block changed the head")
		}
	}
	good := childOf(t, c, tip, bob.Address(), ts, alice.NewTx(testNet, bob.Address(), 10, 1, 0))
	sb, err := CheckBlockShape(good, c.Params())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c.AddShapedBlock(sb); err != nil || res.Status != StatusMain {
		t.Fatalf("AddShapedBlock of a valid block: %+v, %v", res, err)
	}
	wantAccounts(t, c, map[Address]Account{alice.Address(): {39, 1}, bob.Address(): {61, 0}})
}

// CheckBlockShapeIDs checks the root against the ids it is given, the
// ids must be one a transaction, and AddShapedBlock asks the signature
// cache with them: a block of pooled transactions checks no signature and
// takes their entries out.
func TestCheckBlockShapeIDs(t *testing.T) {
	c, clock := newTestChain(t)
	alice, bob := wallet(1), wallet(2)
	tip := mine(t, c, clock, alice.Address()) // alice 50
	var txs []*Tx
	for i := range smallBlockTxs + 4 { // ids kept only above smallBlockTxs
		tx := alice.NewTx(testNet, bob.Address(), 1, 0, uint64(i))
		if err := c.SubmitTx(tx); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	b := childOf(t, c, tip, bob.Address(), tip.Timestamp+1, txs...)
	ids := make([]Hash, len(b.Txs))
	for i, tx := range b.Txs {
		ids[i] = tx.ID()
	}
	if sb, err := CheckBlockShapeIDs(b, ids[1:], c.Params()); err == nil || sb != nil {
		t.Fatalf("ids one short: %v, %v", sb, err)
	}
	// The ids are what the root is checked against.
	swapped := slices.Clone(ids)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	if _, err := CheckBlockShapeIDs(b, swapped, c.Params()); !errors.Is(err, ErrBadMerkleRoot) {
		t.Fatalf("ids out of order: %v, want %v", err, ErrBadMerkleRoot)
	}
	dup := &Block{Header: b.Header, Txs: append(slices.Clone(b.Txs), b.Txs[1])}
	reseal(t, dup)
	if _, err := CheckBlockShapeIDs(dup, append(slices.Clone(ids), ids[1]), c.Params()); !errors.Is(err, ErrDuplicateTx) {
		t.Fatalf("a repeated tx: %v, want %v", err, ErrDuplicateTx)
	}
	sb, err := CheckBlockShapeIDs(b, ids, c.Params())
	if err != nil {
		t.Fatal(err)
	}
	own, err := CheckBlockShape(b, c.Params())
	if err != nil || !slices.Equal(own.ids, ids) {
		t.Fatalf("CheckBlockShape's ids differ from the transactions': %v", err)
	}
	before := c.sigs.len()
	if res, err := c.AddShapedBlock(sb); err != nil || res.Status != StatusMain {
		t.Fatalf("AddShapedBlock: %+v, %v", res, err)
	}
	if took := before - c.sigs.len(); took != len(txs) {
		t.Fatalf("the block took %d signature-cache entries, want %d", took, len(txs))
	}
	if c.Mempool().Len() != 0 {
		t.Fatalf("%d txs left in the pool", c.Mempool().Len())
	}
}

// merkleRootOfIDs works in place; it must give the root of the plain
// level-by-level definition for every count, odd levels included.
func TestMerkleRootInPlace(t *testing.T) {
	reference := func(level []Hash) Hash {
		for len(level) > 1 {
			var next []Hash
			for i := 0; i < len(level); i += 2 {
				j := min(i+1, len(level)-1)
				next = append(next, sha256.Sum256(append(level[i][:], level[j][:]...)))
			}
			level = next
		}
		return level[0]
	}
	for n := 1; n <= 70; n++ {
		ids := make([]Hash, n)
		for i := range ids {
			ids[i] = sha256.Sum256([]byte{byte(i), byte(n)})
		}
		want := reference(slices.Clone(ids))
		if got := merkleRootOfIDs(slices.Clone(ids)); got != want {
			t.Fatalf("%d ids: root %s, want %s", n, got, want)
		}
	}
}

// applyBlock's undo record names every account the block writes once,
// with its value before the block, whichever role it plays (sender,
// recipient, miner); and it refuses an overlay that holds accounts already.
func TestApplyBlockUndo(t *testing.T) {
	a, b, m := Address{1}, Address{2}, Address{3}
	state := map[Address]Account{a: {Balance: 100, Nonce: 4}, m: {Balance: 7}}
	get := func(x Address) Account { return state[x] }
	blk := &Block{Txs: []*Tx{
		{Recipient: m, Amount: 50 + 3, Nonce: 9},
		{Sender: a, Recipient: b, Amount: 10, Fee: 1, Nonce: 4},
		{Sender: a, Recipient: a, Amount: 5, Fee: 1, Nonce: 5},
		{Sender: b, Recipient: m, Amount: 2, Fee: 1, Nonce: 0},
	}}
	o := newOverlay(get)
	undo, err := applyBlock(o, blk, 50)
	if err != nil {
		t.Fatal(err)
	}
	want := []undoEntry{{a, state[a]}, {b, Account{}}, {m, state[m]}}
	if !slices.Equal(undo, want) {
		t.Fatalf("undo %v, want %v", undo, want)
	}
	if got := o.accts[a]; got != (Account{Balance: 88, Nonce: 6}) { // 100 - 11 - 6 + 5
		t.Fatalf("sender after the block: %+v", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("applyBlock on a used overlay did not refuse")
		}
	}()
	applyBlock(o, blk, 50)
}
