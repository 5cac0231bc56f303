package chain

import (
	"errors"
	"testing"
)

// BenchmarkRejectCost measures what each class of bad block costs a node to
// refuse, against accepting a valid block of the same size (3,999 signed
// transfers and the coinbase): the cheap checks come first, so a block an
// attacker can make for almost nothing is refused for almost nothing.
//
//	go test -run='^$' -bench=RejectCost -benchtime=20x ./chain/
func BenchmarkRejectCost(b *testing.B) {
	p := TestParams()
	n := p.MaxBlockTxs - 1
	g := newBlockGen(p)
	var funding []*Block
	for g.balance < uint64(2*n) {
		funding = append(funding, g.next(b, 0))
	}
	base := g.tip
	valid := g.next(b, n)
	if len(valid.Txs) != p.MaxBlockTxs {
		b.Fatalf("valid block has %d txs", len(valid.Txs))
	}
	open := func() *Chain {
		c := benchChain(b, p, Options{})
		if _, _, err := c.AddBlocks(funding); err != nil {
			b.Fatal(err)
		}
		return c
	}
	variant := func(mutate func(*Block)) *Block {
		v := cloneBlock(valid)
		mutate(v)
		reseal(b, v)
		return v
	}

	b.Run("accept valid", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			c := open()
			b.StartTimer()
			if _, err := c.AddBlock(valid); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			c.Close()
			b.StartTimer()
		}
	})

	c := open()
	lowWork := func() *Block { // a branch from the genesis: far less work than the head
		v := cloneBlock(valid)
		v.Index, v.PrevHash, v.Txs[0].Nonce = 2, Genesis(p).Hash(), 2
		v.Timestamp = Genesis(p).Timestamp + 1000
		reseal(b, v)
		return v
	}()
	badPoW := cloneBlock(valid)
	failPoW(b, badPoW)
	badRoot := cloneBlock(valid)
	badRoot.MerkleRoot[0] ^= 1
	solve(b, badRoot)
	cases := []struct {
		name  string
		block *Block
		want  error
	}{
		{"wrong bits", variant(func(v *Block) { v.Bits = p.LimitBits }), ErrBadDifficulty},
		{"bad PoW", badPoW, ErrBadPoW},
		{"low-work side branch", lowWork, ErrLowWorkBranch},
		{"bad Merkle root", badRoot, ErrBadMerkleRoot},
		{"bad timestamp", variant(func(v *Block) { v.Timestamp = base.Timestamp - 10_000 }), ErrTimeTooOld},
		{"bad last signature", variant(func(v *Block) { v.Txs[n].Signature[0] ^= 1 }), ErrBadSignature},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.AddBlock(tc.block); !errors.Is(err, tc.want) {
					b.Fatalf("err %v, want %v", err, tc.want)
				}
			}
		})
	}
	made := 0
	b.Run("orphan", func(b *testing.B) {
		// Each op a new orphan (another timestamp), as an attacker's would be.
		orphans := make([]*Block, 0, b.N)
		for range b.N {
			made++
			o := variant(func(v *Block) { v.PrevHash = Hash{1}; v.Timestamp += int64(made) })
			orphans = append(orphans, o)
		}
		b.ResetTimer()
		for i := range b.N {
			if res, err := c.AddBlock(orphans[i]); err != nil || res.Status != StatusOrphan {
				b.Fatalf("orphan: %+v, %v", res, err)
			}
		}
	})
}
