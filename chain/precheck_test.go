package chain

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// A prechecked batch is accepted or refused exactly as AddBlocks would:
// the same count of blocks kept and the same rule named, for a valid
// batch, a bad signature, a broken link and a bad Merkle root, and for
// batches with two faults, where the first block at fault and its
// cheapest check win; with the bodies checked a block at a time and in
// chunks spread over the cores (bodyChunk).
func TestPrecheckedMatchesAddBlocks(t *testing.T) {
	cases := []struct {
		name    string
		spoil   func(t *testing.T, bs []*Block)
		want    int // blocks accepted
		wantErr error
	}{
		{"valid", func(*testing.T, []*Block) {}, 6, nil},
		{"bad signature in block 3", func(t *testing.T, bs []*Block) {
			bs[3].Txs[2].Signature[5] ^= 1
			reseal(t, bs[3])
		}, 3, ErrBadSignature},
		{"block 4 does not link", func(t *testing.T, bs []*Block) {
			bs[4].PrevHash[0] ^= 1
			solve(t, bs[4])
		}, 4, ErrBadPrevHash},
		{"bad Merkle root in block 2", func(t *testing.T, bs []*Block) {
			bs[2].Txs[1].Amount++
			solve(t, bs[2]) // the root is not recomputed
		}, 2, ErrBadMerkleRoot},
		{"block 3 before the median time (context)", func(t *testing.T, bs []*Block) {
			bs[3].Timestamp = bs[0].Timestamp - 1
			solve(t, bs[3])
		}, 3, ErrTimeTooOld},
		{"bad Merkle root in block 4, bad link in block 5", func(t *testing.T, bs []*Block) {
			bs[4].Txs[1].Amount++
			solve(t, bs[4])
			bs[5].PrevHash[0] ^= 1
			solve(t, bs[5])
		}, 4, ErrBadMerkleRoot},
		{"bad Merkle roots in blocks 1 and 4", func(t *testing.T, bs []*Block) {
			for _, i := range []int{4, 1} {
				bs[i].Txs[1].Amount++
				solve(t, bs[i])
			}
		}, 1, ErrBadMerkleRoot},
		{"bad signature in block 1, bad Merkle root in block 3", func(t *testing.T, bs []*Block) {
			bs[1].Txs[2].Signature[5] ^= 1
			reseal(t, bs[1])
			bs[3].Txs[1].Amount++
			solve(t, bs[3])
		}, 1, ErrBadSignature},
		{"bad signature in block 4, bad Merkle root in block 2", func(t *testing.T, bs []*Block) {
			bs[4].Txs[2].Signature[5] ^= 1
			reseal(t, bs[4])
			bs[2].Txs[1].Amount++
			solve(t, bs[2])
		}, 2, ErrBadMerkleRoot},
	}
	for _, chunk := range []int{64, 1, 2} {
		old := bodyChunk
		bodyChunk = chunk
		defer func() { bodyChunk = old }()
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s, bodies by %d", tc.name, chunk), func(t *testing.T) {
				g, a := fundedGen(t, TestParams())
				b := benchChain(t, TestParams(), Options{})
				if _, err := b.AddBlock(a.main[1].blockFrom(t, a)); err != nil {
					t.Fatal(err)
				}
				var bs []*Block
				for range 6 {
					bs = append(bs, g.next(t, 5))
				}
				tc.spoil(t, bs)
				n1, _, err1 := a.AddBlocks(bs)
				n2, _, err2 := b.AddPrechecked(b.PrecheckBlocks(bs))
				if n1 != tc.want || n2 != tc.want {
					t.Fatalf("accepted: AddBlocks %d, AddPrechecked %d, want %d", n1, n2, tc.want)
				}
				if !errors.Is(err1, tc.wantErr) || !errors.Is(err2, tc.wantErr) || (err1 == nil) != (tc.wantErr == nil) {
					t.Fatalf("errors: AddBlocks %v, AddPrechecked %v, want %v", err1, err2, tc.wantErr)
				}
				if a.Tip().Hash != b.Tip().Hash {
					t.Fatalf("heads differ: %s and %s", a.Tip().Hash, b.Tip().Hash)
				}
				// What was committed is stored: the blocks read back from the
				// store are the ones accepted.
				for _, blk := range bs[:n2] {
					got, err := b.BlockByHash(blk.Hash())
					if err != nil || !bytes.Equal(got.Bytes(), blk.Bytes()) {
						t.Fatalf("block %s not stored as sent: %v", blk.Hash(), err)
					}
				}
			})
		}
	}
}

// blockFrom reads the node's block from c's store.
func (n *blockNode) blockFrom(t *testing.T, c *Chain) *Block {
	t.Helper()
	b, err := c.BlockByHash(n.hash)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
