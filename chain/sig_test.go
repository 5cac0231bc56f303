package chain

import (
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// sigVector is one input to the signature rule of chain/sig.go and the
// answers every verifier of ours must give it. sigVectors generates them,
// so that other tests (the batch verifier's) check the same table.
type sigVector struct {
	name string
	tx   *Tx
	// bare is the bare ZIP-215 verifier's answer on the tx's signing
	// bytes for testNet, before any address rule.
	bare bool
	// stdlib is crypto/ed25519's (cofactorless) answer, where the vector
	// pins it; nil where it does not matter.
	stdlib *bool
	// want is CheckTxSanity's answer: nil (accepted) or the sentinel.
	want error
}

var p25519 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// smallOrderEncodings lists every 32-byte string that decodes to a point
// of small order: the eight torsion points' canonical encodings, and the
// non-canonical ones (y + p where y + p < 2^255, and the sign bit set where
// x = 0). Derived here from the curve, not copied from a vector file.
func smallOrderEncodings(tb testing.TB) (canonical, nonCanonical [][32]byte) {
	tb.Helper()
	seen := make(map[[32]byte]bool)
	for _, pt := range curve.EIGHT_TORSION {
		var c curve.CompressedEdwardsY
		c.SetEdwardsPoint(pt)
		if !seen[c] {
			seen[c] = true
			canonical = append(canonical, c)
		}
	}
	for _, c := range canonical {
		y := leToInt(c)
		y.SetBit(y, 255, 0)
		var cands [][32]byte
		for _, yy := range []*big.Int{y, new(big.Int).Add(y, p25519)} {
			if yy.BitLen() > 255 {
				continue
			}
			e := intToLE(yy)
			cands = append(cands, e, withSign(e))
		}
		for _, e := range cands {
			if seen[e] {
				continue
			}
			var ce curve.CompressedEdwardsY
			copy(ce[:], e[:])
			var pt curve.EdwardsPoint
			if _, err := pt.SetCompressedY(&ce); err != nil || !pt.IsSmallOrder() {
				continue
			}
			seen[e] = true
			if ce.IsCanonicalVartime() {
				tb.Fatalf("%x: canonical small-order encoding not among the torsion points", e)
			}
			nonCanonical = append(nonCanonical, e)
		}
	}
	if len(canonical) != 8 || len(nonCanonical) != 6 {
		tb.Fatalf("%d canonical and %d non-canonical small-order encodings, want 8 and 6", len(canonical), len(nonCanonical))
	}
	return canonical, nonCanonical
}

func leToInt(e [32]byte) *big.Int {
	var be [32]byte
	for i := range e {
		be[31-i] = e[i]
	}
	return new(big.Int).SetBytes(be[:])
}

func intToLE(x *big.Int) [32]byte {
	var be, e [32]byte
	x.FillBytes(be[:])
	for i := range e {
		e[31-i] = be[i]
	}
	return e
}

func withSign(e [32]byte) [32]byte {
	e[31] |= 0x80
	return e
}

func boolp(b bool) *bool { return &b }

// sigVectors generates the table. Every vector says why it is there.
func sigVectors(tb testing.TB) []sigVector {
	tb.Helper()
	alice, bob := wallet(1), wallet(2)
	var vs []sigVector

	// A plain transfer signed by crypto/ed25519: what every wallet makes.
	// Both verifiers accept it; the rule must not refuse it.
	vs = append(vs, sigVector{name: "valid", tx: alice.NewTx(testNet, bob.Address(), 5, 1, 0), bare: true, stdlib: boolp(true)})

	canonical, nonCanonical := smallOrderEncodings(tb)
	identity := [32]byte{1}
	for _, enc := range append(canonical, nonCanonical...) {
		// A small-order key as sender, with the key-less "signature"
		// R = a small-order point, S = 0: [8][S]B = [8]R + [8][k]A holds
		// for any message, so the bare ZIP-215 verifier accepts it and
		// anyone could spend from this address. CheckAddress refuses the
		// sender (00…00, an order-4 point, is the coinbase sender and is
		// refused as a coinbase in the wrong place).
		tx := &Tx{Sender: Address(enc), Recipient: bob.Address(), Amount: 5, Fee: 1}
		copy(tx.Signature[:32], identity[:])
		want := ErrBadAddress
		if Address(enc) == CoinbaseSender {
			want = ErrBadCoinbase
		}
		vs = append(vs, sigVector{name: fmt.Sprintf("small-order sender %x, key-less signature", enc), tx: tx, bare: true, want: want})

		// A small-order key as recipient of a properly signed transfer:
		// coins sent there could be spent by anyone with the key-less
		// signature above, so the transfer is refused.
		vs = append(vs, sigVector{name: fmt.Sprintf("small-order recipient %x", enc), tx: alice.NewTx(testNet, Address(enc), 5, 1, 0), bare: true, want: ErrBadAddress})
	}

	// S + ℓ: the same signature with a non-canonical scalar. ZIP-215
	// (like RFC 8032) requires S < ℓ, else signatures are malleable.
	{
		tx := alice.NewTx(testNet, bob.Address(), 5, 1, 0)
		var s [32]byte
		copy(s[:], tx.Signature[32:])
		ell := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 252), mustInt("27742317777372353535851937790883648493"))
		s = intToLE(new(big.Int).Add(leToInt(s), ell))
		copy(tx.Signature[32:], s[:])
		vs = append(vs, sigVector{name: "non-canonical S (S + ℓ)", tx: tx, bare: false, want: ErrBadSignature})
	}

	// Non-canonical encodings (y + p) of keys that are not of small order.
	// Only points with y < 19 have one; ZIP-215 would decode them, but an
	// address must be canonical, else one key would be two accounts.
	for y := int64(2); y < 19; y++ {
		e := intToLE(big.NewInt(y))
		var ce curve.CompressedEdwardsY
		copy(ce[:], e[:])
		var pt curve.EdwardsPoint
		if _, err := pt.SetCompressedY(&ce); err != nil || pt.IsSmallOrder() {
			continue
		}
		nc := intToLE(new(big.Int).Add(big.NewInt(y), p25519))
		tx := &Tx{Sender: Address(nc), Recipient: bob.Address(), Amount: 5, Fee: 1}
		tx.Signature = alice.NewTx(testNet, bob.Address(), 5, 1, 0).Signature
		vs = append(vs, sigVector{name: fmt.Sprintf("non-canonical sender y=%d+p", y), tx: tx, bare: false, want: ErrBadAddress})
		vs = append(vs, sigVector{name: fmt.Sprintf("non-canonical recipient y=%d+p", y), tx: alice.NewTx(testNet, Address(nc), 5, 1, 0), bare: true, want: ErrBadAddress})
	}

	// A mixed-order key A' = [a]B + T (T of order 8) with a signature made
	// for it: S = r + k·a. The cofactored equation holds, so our rule
	// accepts it (the key is canonical and not of small order); the
	// cofactorless equation of crypto/ed25519 is off by [k]T, so it
	// refuses. This is the documented difference between the two rules,
	// and the reason a batch verifier (always cofactored) needs ZIP-215.
	vs = append(vs, sigVector{name: "mixed-order key", tx: mixedOrderTx(tb, bob.Address()), bare: true, stdlib: boolp(false)})

	// Signed for another network (the default network's genesis): the
	// signature commits to the network, so it is invalid here.
	vs = append(vs, sigVector{name: "other network", tx: alice.NewTx(NetworkID(DefaultParams()), bob.Address(), 5, 1, 0), bare: false, want: ErrBadSignature})

	// Signed over the old v1 bytes ("gossipchain/tx/v1" ‖ encoding, no
	// network): not valid under v2.
	{
		tx := &Tx{Sender: alice.Address(), Recipient: bob.Address(), Amount: 5, Fee: 1}
		v1 := append([]byte("gossipchain/tx/v1"), tx.Bytes()[:TxSize-64]...)
		copy(tx.Signature[:], ed25519.Sign(alice.key, v1))
		vs = append(vs, sigVector{name: "v1 signing bytes", tx: tx, bare: false, stdlib: boolp(false), want: ErrBadSignature})
	}
	return vs
}

func mustInt(s string) *big.Int {
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return x
}

// mixedOrderTx signs a transfer by hand for the key [a]B + T8, with an r
// for which k is not a multiple of 8 (else [k]T = 0 and the cofactorless
// check would pass too).
func mixedOrderTx(tb testing.TB, to Address) *Tx {
	tb.Helper()
	wide := func(parts ...[]byte) *scalar.Scalar {
		h := sha512.New()
		for _, p := range parts {
			h.Write(p)
		}
		s, err := scalar.NewFromBytesModOrderWide(h.Sum(nil))
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	a := wide([]byte("mixed-order key"))
	var A, T, Apr curve.EdwardsPoint
	A.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, a)
	T.Set(curve.EIGHT_TORSION[1])
	Apr.Add(&A, &T)
	var enc curve.CompressedEdwardsY
	enc.SetEdwardsPoint(&Apr)
	tx := &Tx{Sender: Address(enc), Recipient: to, Amount: 5, Fee: 1}
	msg := tx.signingBytes(testNet)
	for i := byte(0); ; i++ {
		r := wide([]byte("nonce"), []byte{i})
		var R curve.EdwardsPoint
		R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
		var Renc curve.CompressedEdwardsY
		Renc.SetEdwardsPoint(&R)
		k := wide(Renc[:], enc[:], msg)
		var kb [32]byte
		if err := k.ToBytes(kb[:]); err != nil {
			tb.Fatal(err)
		}
		if kb[0]%8 == 0 {
			continue
		}
		var s scalar.Scalar
		s.Mul(k, a)
		s.Add(&s, r)
		copy(tx.Signature[:32], Renc[:])
		if err := s.ToBytes(tx.Signature[32:]); err != nil {
			tb.Fatal(err)
		}
		return tx
	}
}

// TestSignatureRuleVectors pins the rule of chain/sig.go: ZIP-215 for
// signatures, CheckAddress for senders and recipients.
func TestSignatureRuleVectors(t *testing.T) {
	for _, v := range sigVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			msg := v.tx.signingBytes(testNet)
			if got := voi.VerifyWithOptions(v.tx.Sender[:], msg, v.tx.Signature[:], zip215); got != v.bare {
				t.Errorf("bare ZIP-215 verifier: %v, want %v", got, v.bare)
			}
			if v.stdlib != nil {
				if got := ed25519.Verify(v.tx.Sender[:], msg, v.tx.Signature[:]); got != *v.stdlib {
					t.Errorf("crypto/ed25519: %v, want %v", got, *v.stdlib)
				}
			}
			err := CheckTxSanity(v.tx, testNet)
			if v.want == nil && err != nil || v.want != nil && !errors.Is(err, v.want) {
				t.Errorf("CheckTxSanity: %v, want %v", err, v.want)
			}
		})
	}
}
