package chain

import (
	"fmt"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// The consensus rules for keys and signatures. Every node must give the same
// answer for every input, and a batch verifier must agree with the single
// one, so the rule is stated here and nowhere else.
//
// Signatures follow ZIP-215 (Zcash's rule, also used by Cosmos and Solana's
// batch verifier): S must be canonical (< ℓ); R and A may be any encoding
// that decompresses, canonical or not, of any order; and the check is the
// cofactored equation [8][S]B = [8]R + [8][k]A. Unlike the cofactorless
// check of crypto/ed25519, this equation has the same answer whether one
// signature or a batch is checked, which the batch verifier relies on.
//
// Addresses are stricter than ZIP-215 on purpose: a sender or a recipient
// must be the canonical encoding of a point that is not of small order. A
// small-order key (the identity among them) verifies signatures that nobody
// holds a key for, so coins sent to it would be anyone's; and a
// non-canonical encoding would be a second account for the same key.

// sigDomain separates gossipchain transaction signatures from every other
// use of the same key. v2 adds the network (genesis hash) to the signed
// bytes, so a transaction signed for one network is invalid on all others.
const sigDomain = "gossipchain/tx/v2"

var zip215 = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// NetworkID is the hash of the network's genesis block: what a signature
// commits to, so it is valid on this network only.
func NetworkID(p Params) Hash { return Genesis(p).Hash() }

// signingBytes is what a sender signs: the domain tag, the network, and the
// encoding without the signature.
func (tx *Tx) signingBytes(network Hash) []byte {
	b := make([]byte, 0, len(sigDomain)+len(network)+TxSize-64)
	b = append(b, sigDomain...)
	b = append(b, network[:]...)
	var full [TxSize]byte
	tx.put(full[:])
	return append(b, full[:TxSize-64]...)
}

// VerifySignature checks a non-coinbase transaction's signature on network
// under the ZIP-215 rule. It does not check the addresses (CheckAddress).
func (tx *Tx) VerifySignature(network Hash) error {
	if tx.IsCoinbase() {
		return fmt.Errorf("tx %s: coinbase outside first position: %w", tx.ID(), ErrBadCoinbase)
	}
	if !voi.VerifyWithOptions(tx.Sender[:], tx.signingBytes(network), tx.Signature[:], zip215) {
		return fmt.Errorf("tx %s: %w", tx.ID(), ErrBadSignature)
	}
	return nil
}

// CheckAddress reports whether a can own coins: the canonical encoding of
// an ed25519 point that is not of small order. The coinbase sender "0" is
// not an address anyone can send to.
func CheckAddress(a Address) error {
	if a == CoinbaseSender {
		return fmt.Errorf("address 0 is the coinbase sender: %w", ErrBadAddress)
	}
	var y curve.CompressedEdwardsY
	if _, err := y.SetBytes(a[:]); err != nil {
		return fmt.Errorf("address %s: %w", a, ErrBadAddress)
	}
	if !y.IsCanonicalVartime() {
		return fmt.Errorf("address %s: not a canonical public key encoding: %w", a, ErrBadAddress)
	}
	var p curve.EdwardsPoint
	if _, err := p.SetCompressedY(&y); err != nil {
		return fmt.Errorf("address %s: not an ed25519 public key: %w", a, ErrBadAddress)
	}
	if p.IsSmallOrder() {
		return fmt.Errorf("address %s: a small-order key, whose signatures anyone can forge: %w", a, ErrBadAddress)
	}
	return nil
}
