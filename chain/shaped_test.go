package chain

import (
	"errors"
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
		if err := CheckBlockShape(b, c.Params()); err != nil {
			t.Fatalf("shape: %v", err)
		}
		if _, err := c.AddShapedBlock(b); !errors.Is(err, bad.want) {
			t.Fatalf("AddShapedBlock: %v, want %v", err, bad.want)
		}
		if c.Tip().Hash != tip.Hash() || c.IsMain(b.Hash()) {
			t.Fatal("a refused block changed the head")
		}
	}
	good := childOf(t, c, tip, bob.Address(), ts, alice.NewTx(testNet, bob.Address(), 10, 1, 0))
	if err := CheckBlockShape(good, c.Params()); err != nil {
		t.Fatal(err)
	}
	if res, err := c.AddShapedBlock(good); err != nil || res.Status != StatusMain {
		t.Fatalf("AddShapedBlock of a valid block: %+v, %v", res, err)
	}
	wantAccounts(t, c, map[Address]Account{alice.Address(): {39, 1}, bob.Address(): {61, 0}})
}
