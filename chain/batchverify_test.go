package chain

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// The batch path must give, for every input, the answer of the single
// rule (chain/sig.go): CheckAddress on both addresses, then ZIP-215. These
// tests compare the two on the signature-rule vectors and on random
// batches built from edge cases; FuzzBatchVerify explores further.

// sameVerdict reports whether two verifyTx-style errors are the same
// verdict: both nil, or both wrapping the same sentinel.
func sameVerdict(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	for _, s := range []error{ErrBadAddress, ErrBadSignature, ErrBadCoinbase} {
		if errors.Is(a, s) != errors.Is(b, s) {
			return false
		}
	}
	return true
}

// checkBatchAgainstSingle runs txs through VerifyTxs, verifyBlocksTxs and
// the bare batch verifier, and each through verifyTx and the bare single
// verifier, and fails on any difference.
func checkBatchAgainstSingle(t *testing.T, txs []*Tx, names []string) {
	t.Helper()
	got := VerifyTxs(txs, testNet)
	firstBad := -1
	for i, tx := range txs {
		want := verifyTx(tx, testNet)
		if !sameVerdict(got[i], want) {
			t.Errorf("%s (position %d of %d): batch %v, single %v", names[i], i, len(txs), got[i], want)
		}
		if want != nil && firstBad < 0 {
			firstBad = i
		}
	}
	// The block path: one transfer a block, so the first bad block is the
	// first bad transaction.
	blocks := make([]*Block, len(txs))
	for i, tx := range txs {
		blocks[i] = &Block{Header: Header{Index: uint64(i)}, Txs: []*Tx{{}, tx}}
	}
	if bad, err := verifyBlocksTxs(blocks, testNet, nil); bad != firstBad {
		t.Errorf("verifyBlocksTxs: first bad block %d (%v), single rule says %d", bad, err, firstBad)
	} else if bad >= 0 && !sameVerdict(err, verifyTx(txs[bad], testNet)) {
		t.Errorf("verifyBlocksTxs: block %d: %v, single %v", bad, err, verifyTx(txs[bad], testNet))
	}
	// The bare verifiers, before any address rule: small-order and
	// non-canonical keys reach the batch equation here.
	bv := voi.NewBatchVerifier()
	for _, tx := range txs {
		bv.AddWithOptions(tx.Sender[:], tx.signingBytes(testNet), tx.Signature[:], zip215)
	}
	all, valid := bv.Verify(nil)
	wantAll := true
	for i, tx := range txs {
		want := voi.VerifyWithOptions(tx.Sender[:], tx.signingBytes(testNet), tx.Signature[:], zip215)
		wantAll = wantAll && want
		if valid[i] != want {
			t.Errorf("%s (position %d of %d): bare batch %v, bare single %v", names[i], i, len(txs), valid[i], want)
		}
	}
	if all != wantAll {
		t.Errorf("bare batch says all valid = %v, single %v", all, wantAll)
	}
}

// TestBatchSigVectors runs every signature-rule vector through the batch
// path: alone, and in batches of valid transactions at the start, middle
// and end (a batch of fewer than batchMin is checked one by one).
func TestBatchSigVectors(t *testing.T) {
	valid := validTxs(12)
	for _, v := range sigVectors(t) {
		for _, pos := range []int{-1, 0, 5, 12} {
			var txs []*Tx
			var names []string
			if pos < 0 {
				txs, names = []*Tx{v.tx}, []string{v.name}
			} else {
				for i, tx := range valid {
					if i == pos {
						txs, names = append(txs, v.tx), append(names, v.name)
					}
					txs, names = append(txs, tx), append(names, "valid")
				}
				if pos == len(valid) {
					txs, names = append(txs, v.tx), append(names, v.name)
				}
			}
			checkBatchAgainstSingle(t, txs, names)
			// The vector's own verdict, as CheckTxSanity states it (the
			// 00…00 sender is a coinbase there, refused before the
			// addresses).
			at := pos
			if at < 0 {
				at = 0
			}
			got := VerifyTxs(txs, testNet)[at]
			if v.tx.IsCoinbase() {
				continue
			}
			if v.want == nil && got != nil || v.want != nil && !errors.Is(got, v.want) {
				t.Errorf("%s at %d: batch %v, vector wants %v", v.name, pos, got, v.want)
			}
			if bare := voi.VerifyWithOptions(v.tx.Sender[:], v.tx.signingBytes(testNet), v.tx.Signature[:], zip215); bare != v.bare {
				t.Errorf("%s: bare %v, vector says %v", v.name, bare, v.bare)
			}
		}
	}
}

var validTxCache []*Tx

func validTxs(n int) []*Tx {
	for len(validTxCache) < n {
		i := len(validTxCache)
		w := wallet(byte(10 + i%200))
		validTxCache = append(validTxCache, w.NewTx(testNet, wallet(2).Address(), uint64(1+i), 1, uint64(i)))
	}
	out := make([]*Tx, n)
	for i := range out {
		c := *validTxCache[i]
		out[i] = &c
	}
	return out
}

// edgeCases holds the encodings the mutations draw from.
type edgeCases struct {
	smallOrder  [][32]byte // canonical and not
	nonCanonKey [][32]byte // y + p of keys not of small order
	mixed       *Tx        // a valid signature by a mixed-order key
	sPlusL      [32]byte   // a valid S + ℓ
	highS       [32]byte   // S with the top bits set
}

func newEdgeCases(tb testing.TB) *edgeCases {
	e := &edgeCases{}
	can, non := smallOrderEncodings(tb)
	e.smallOrder = append(can, non...)
	for y := int64(2); y < 19; y++ {
		enc := intToLE(big.NewInt(y))
		var ce curve.CompressedEdwardsY
		copy(ce[:], enc[:])
		var pt curve.EdwardsPoint
		if _, err := pt.SetCompressedY(&ce); err != nil || pt.IsSmallOrder() {
			continue
		}
		e.nonCanonKey = append(e.nonCanonKey, intToLE(new(big.Int).Add(big.NewInt(y), p25519)))
	}
	e.mixed = mixedOrderTx(tb, wallet(2).Address())
	ell := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 252), mustInt("27742317777372353535851937790883648493"))
	var s [32]byte
	copy(s[:], validTxs(1)[0].Signature[32:])
	e.sPlusL = intToLE(new(big.Int).Add(leToInt(s), ell))
	e.highS = s
	e.highS[31] |= 0xe0
	return e
}

// mutate turns a valid transaction into one of the edge cases, chosen by
// op and arg (from the fuzzer or a seeded generator), and names it.
func (e *edgeCases) mutate(tx *Tx, op, arg byte, junk [32]byte) string {
	so := e.smallOrder[int(arg)%len(e.smallOrder)]
	switch op % 16 {
	case 0, 1, 2, 3, 4:
		return "valid"
	case 5: // a small-order sender with the key-less signature R = small order, S = 0
		tx.Sender = Address(so)
		tx.Signature = [64]byte{}
		copy(tx.Signature[:32], e.smallOrder[int(arg/16)%len(e.smallOrder)][:])
		return "small-order sender, key-less signature"
	case 6: // a small-order (possibly non-canonical) R on a real key
		copy(tx.Signature[:32], so[:])
		return "small-order R"
	case 7: // a small-order recipient
		tx.Recipient = Address(so)
		return "small-order recipient"
	case 8: // a non-canonical encoding of a key not of small order
		nc := e.nonCanonKey[int(arg)%len(e.nonCanonKey)]
		if arg&0x80 != 0 {
			tx.Recipient = Address(nc)
			return "non-canonical recipient"
		}
		tx.Sender = Address(nc)
		return "non-canonical sender"
	case 9:
		*tx = *e.mixed
		return "mixed-order key"
	case 10:
		copy(tx.Signature[32:], e.sPlusL[:])
		return "S + ℓ"
	case 11:
		copy(tx.Signature[32:], e.highS[:])
		return "S with the top bits set"
	case 12: // a bit of the signed bytes flipped
		tx.Amount ^= 1 << (arg % 64)
		return "signed bytes changed"
	case 13: // a bit of the signature flipped
		tx.Signature[int(arg)%64] ^= 1 << (arg / 64 % 8)
		return "signature bit flipped"
	case 14: // arbitrary bytes as R, S or sender
		switch arg % 3 {
		case 0:
			copy(tx.Signature[:32], junk[:])
		case 1:
			copy(tx.Signature[32:], junk[:])
		default:
			tx.Sender = Address(junk)
		}
		return "junk"
	default: // the key-less signature with a non-canonical small-order R on a small-order key, S = 0 or junk
		tx.Sender = Address(so)
		copy(tx.Signature[:32], e.smallOrder[len(e.smallOrder)-1-int(arg/16)%6][:])
		if arg&1 != 0 {
			copy(tx.Signature[32:], junk[:])
			tx.Signature[63] &= 0x0f
		} else {
			clear(tx.Signature[32:])
		}
		return "non-canonical small-order R, small-order key"
	}
}

// TestBatchMatchesSingle: random batches of 1 to 300 transactions (both
// sides of the verifier's key-expansion threshold of 94 and of batchChunk),
// mostly valid, the rest drawn from the edge cases.
func TestBatchMatchesSingle(t *testing.T) {
	e := newEdgeCases(t)
	rng := rand.New(rand.NewPCG(12, 1))
	sizes := []int{1, 3, 4, 5, 17, 64, 93, 94, 95, 200, 257, 300}
	if testing.Short() {
		sizes = sizes[:7]
	}
	pool := validTxs(300)
	for _, n := range sizes {
		for round := range 3 {
			txs := validTxs(n)
			_ = pool
			names := make([]string, n)
			for i := range txs {
				var junk [32]byte
				for k := range junk {
					junk[k] = byte(rng.Uint32())
				}
				op := byte(rng.IntN(16))
				if round == 0 {
					op = byte(rng.IntN(5)) // all valid
				} else if rng.IntN(4) != 0 {
					op = 0 // most valid, a few bad
				}
				names[i] = e.mutate(txs[i], op, byte(rng.Uint32()), junk)
			}
			checkBatchAgainstSingle(t, txs, names)
		}
	}
}

// FuzzBatchVerify: the fuzzer picks, for each of up to 24 transactions,
// a mutation and its argument (two bytes each) and 32 bytes of junk for the
// whole batch; batch and single verdicts must agree.
func FuzzBatchVerify(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 32))
	f.Add([]byte{0, 0, 5, 1, 0, 0, 6, 9, 0, 0, 9, 0, 0, 0, 0, 0}, make([]byte, 32))
	f.Add([]byte{10, 0, 0, 0, 0, 0, 0, 0, 11, 0, 15, 3, 15, 4, 0, 0}, []byte("0123456789abcdef0123456789abcdef"))
	f.Add([]byte{7, 3, 8, 0x80, 8, 1, 12, 7, 13, 200, 14, 2, 0, 0, 0, 0}, []byte("0123456789abcdef0123456789abcdef"))
	e := newEdgeCases(f)
	f.Fuzz(func(t *testing.T, ops []byte, junkIn []byte) {
		n := min(len(ops)/2, 24)
		if n == 0 {
			return
		}
		var junk [32]byte
		copy(junk[:], junkIn)
		txs := validTxs(n)
		names := make([]string, n)
		for i := range txs {
			names[i] = e.mutate(txs[i], ops[2*i], ops[2*i+1], junk)
		}
		checkBatchAgainstSingle(t, txs, names)
	})
}

// BenchmarkBatchVerify measures signatures per second through VerifyTxs
// (addresses and batch verification, all cores) against verifyTx one by
// one on all cores: the figures behind batchChunk and the sync floor.
func BenchmarkBatchVerify(b *testing.B) {
	txs := validTxs(2048)
	for _, chunk := range []int{32, 64, 128, 256, 512, 1024} {
		b.Run("chunk="+itoa(chunk), func(b *testing.B) {
			old := batchChunk
			batchChunk = chunk
			defer func() { batchChunk = old }()
			for b.Loop() {
				for _, err := range VerifyTxs(txs, testNet) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(txs)*b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}

// BenchmarkBatchVerifyBad: the cost of a chunk with one bad signature
// against an all-valid one (the verifier then checks each entry alone).
func BenchmarkBatchVerifyBad(b *testing.B) {
	for _, bad := range []bool{false, true} {
		b.Run(map[bool]string{false: "all-valid", true: "one-bad"}[bad], func(b *testing.B) {
			txs := validTxs(batchChunk)
			if bad {
				txs[batchChunk/2].Signature[5] ^= 1
			}
			bv := voi.NewBatchVerifier()
			errs := make([]error, len(txs))
			for b.Loop() {
				verifyTxsChunk(txs, testNet, errs, bv, nil)
			}
			b.ReportMetric(float64(len(txs)*b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// BenchmarkAddressMemo: the batch path with and without the memo of
// addresses that passed CheckAddress (64 recipients, one sender here).
func BenchmarkAddressMemo(b *testing.B) {
	txs := validTxs(2048)
	for _, memo := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[memo], func(b *testing.B) {
			if !memo {
				checkAddress = CheckAddress
				defer func() { checkAddress = checkAddressMemo }()
			}
			for b.Loop() {
				VerifyTxs(txs, testNet)
			}
			b.ReportMetric(float64(len(txs)*b.N)/b.Elapsed().Seconds(), "sigs/s")
		})
	}
}
