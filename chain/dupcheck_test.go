package chain

import (
	"errors"
	"slices"
	"testing"
)

// distinctPrefixes: true only when no two ids share their first 8 bytes.
func TestDistinctPrefixes(t *testing.T) {
	ids := make([]Hash, 40)
	for i := range ids {
		ids[i][0], ids[i][7], ids[i][31] = byte(i), byte(i*7), 1
	}
	if !distinctPrefixes(ids) {
		t.Fatal("distinct prefixes reported equal")
	}
	same := slices.Clone(ids)
	same[30] = same[4] // a repeat
	if distinctPrefixes(same) {
		t.Fatal("a repeated id not seen")
	}
	near := slices.Clone(ids)
	copy(near[30][:8], near[4][:8]) // one prefix, two ids
	near[30][31] = 2
	if distinctPrefixes(near) {
		t.Fatal("a shared prefix not seen")
	}
}

// The duplicate check of a block above smallBlockTxs: ids that share a
// prefix but differ pass (through the map), a repeat fails, and a block
// with a bad field before its repeat gets the field's error, as it did
// when every block was checked id by id.
func TestCheckBlockBodyDuplicatesByPrefix(t *testing.T) {
	alice, bob := wallet(1), wallet(2)
	var txs []*Tx
	for i := range smallBlockTxs + 8 {
		txs = append(txs, alice.NewTx(testNet, bob.Address(), 1, 0, uint64(i)))
	}
	block := func(txs []*Tx, ids []Hash) *Block {
		b := &Block{Header: Header{Index: 2, Timestamp: 1, Bits: TestParams().InitialBits},
			Txs: append([]*Tx{{Recipient: bob.Address(), Amount: 50, Nonce: 2}}, txs...)}
		level := slices.Clone(ids)
		b.MerkleRoot = merkleRootOfIDs(level)
		return b
	}
	idsOf := func(b *Block) []Hash {
		ids := make([]Hash, len(b.Txs))
		for i, tx := range b.Txs {
			ids[i] = tx.ID()
		}
		return ids
	}
	b := block(txs, nil)
	ids := idsOf(b)
	b = block(txs, ids)
	if err := checkBlockBodyIDs(b, b.Hash(), ids); err != nil {
		t.Fatalf("a valid body: %v", err)
	}
	// Two different ids with one prefix (as if ground): not a repeat.
	near := slices.Clone(ids)
	copy(near[9][:8], near[3][:8])
	nb := block(txs, near)
	if err := checkBlockBodyIDs(nb, nb.Hash(), near); err != nil {
		t.Fatalf("ids sharing a prefix: %v", err)
	}
	// A repeated transaction.
	rep := append(slices.Clone(txs), txs[5])
	rb := block(rep, nil)
	rids := idsOf(rb)
	rb = block(rep, rids)
	if err := checkBlockBodyIDs(rb, rb.Hash(), rids); !errors.Is(err, ErrDuplicateTx) {
		t.Fatalf("a repeated tx: %v, want %v", err, ErrDuplicateTx)
	}
	// A bad amount at position 3, a repeat at the end: the amount's error.
	bad := *txs[2]
	bad.Amount = 0
	mixed := append(slices.Clone(txs), txs[5])
	mixed[2] = &bad
	mb := block(mixed, nil)
	mids := idsOf(mb)
	mb = block(mixed, mids)
	if err := checkBlockBodyIDs(mb, mb.Hash(), mids); !errors.Is(err, ErrBadAmount) {
		t.Fatalf("a bad amount before a repeat: %v, want %v", err, ErrBadAmount)
	}
	// The same with no repeat (the sorted path): the amount's error too.
	ob := block(mixed[:len(mixed)-1], nil)
	oids := idsOf(ob)
	ob = block(mixed[:len(mixed)-1], oids)
	if err := checkBlockBodyIDs(ob, ob.Hash(), oids); !errors.Is(err, ErrBadAmount) {
		t.Fatalf("a bad amount: %v, want %v", err, ErrBadAmount)
	}
}
