package chain

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rawChain stores format2Gen's blocks (four coinbase-only records, stored
// as values, then three of 60 transfers, stored as nested buckets) and
// returns the store's path and the main chain from the genesis on.
func rawChain(t *testing.T) (string, []*Block) {
	t.Helper()
	p := format2Params()
	path := filepath.Join(t.TempDir(), "chain.db")
	now := p.GenesisTime.Add(10 * 365 * 24 * time.Hour)
	c, err := Open(path, Options{Params: p, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	_, blocks := format2Gen(t)
	if n, _, err := c.AddBlocks(blocks); err != nil || n != len(blocks) {
		t.Fatalf("AddBlocks: %d, %v", n, err)
	}
	c.Close()
	return path, append([]*Block{Genesis(p)}, blocks...)
}

func openRaw(t *testing.T, path string) *Chain {
	t.Helper()
	p := format2Params()
	now := p.GenesisTime.Add(10 * 365 * 24 * time.Hour)
	c, err := Open(path, Options{Params: p, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func hashesOf(blocks []*Block) []Hash {
	hs := make([]Hash, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Hash()
	}
	return hs
}

// rawRead collects what RawBlocksUpTo gives (copies: each encoding is
// valid only during its call).
func rawRead(c *Chain, hs []Hash, maxBytes int) ([][]byte, int, error) {
	var got [][]byte
	n, err := c.RawBlocksUpTo(hs, maxBytes, func(enc []byte) { got = append(got, bytes.Clone(enc)) })
	return got, n, err
}

// TestRawBlocksUpTo: the stored encodings are the blocks' own, for small
// records and nested-bucket ones, in order, cut at the byte budget (at
// least one block).
func TestRawBlocksUpTo(t *testing.T) {
	path, blocks := rawChain(t)
	c := openRaw(t, path)
	got, n, err := rawRead(c, hashesOf(blocks), -1)
	if err != nil || n != len(blocks) || len(got) != n {
		t.Fatalf("RawBlocksUpTo: %d (%d given), %v; want %d", n, len(got), err, len(blocks))
	}
	for i, b := range blocks {
		if !bytes.Equal(got[i], b.Bytes()) {
			t.Errorf("block %d: the stored encoding is not the block's", b.Index)
		}
	}
	// Out of order, as a request may name them: each is found anyway.
	order := []*Block{blocks[5], blocks[2], blocks[3], blocks[7], blocks[1]}
	got, n, err = rawRead(c, hashesOf(order), -1)
	if err != nil || n != len(order) {
		t.Fatalf("out of order: %d, %v", n, err)
	}
	for i, b := range order {
		if !bytes.Equal(got[i], b.Bytes()) {
			t.Errorf("out of order, block %d: not the block's encoding", b.Index)
		}
	}
	two := blocks[1].Size() + blocks[2].Size()
	if _, n, err := rawRead(c, hashesOf(blocks[1:]), two); err != nil || n != 2 {
		t.Errorf("budget of two blocks: %d blocks, %v", n, err)
	}
	if _, n, err := rawRead(c, hashesOf(blocks[5:]), 1); err != nil || n != 1 {
		t.Errorf("budget under one block: %d blocks, %v; want the first anyway", n, err)
	}
}

// TestRawBlocksDamaged: a block record whose bytes were changed on disk
// (a transaction, the header, the length) is a StoreDamageError from the
// raw read, as from the decoding one, and is not given out: a server would
// otherwise send it, and its peer ban the server for a bad block. The
// blocks before it are given; the store goes on serving the others.
func TestRawBlocksDamaged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		which int // a position in rawChain's blocks: 3 is a value, 6 a nested bucket
		harm  func([]byte) []byte
	}{
		{"transaction byte of a small record", 3, func(v []byte) []byte { v[len(v)-70] ^= 1; return v }},
		{"transaction byte of a nested record", 6, func(v []byte) []byte { v[len(v)-70] ^= 1; return v }},
		{"header byte", 3, func(v []byte) []byte { v[10] ^= 1; return v }},
		{"cut short", 6, func(v []byte) []byte { return v[:len(v)-TxSize] }},
		{"a byte too many", 3, func(v []byte) []byte { return append(v, 0) }},
		{"count too big", 3, func(v []byte) []byte { v[HeaderSize] = 2; return v }},
		{"empty", 3, func(v []byte) []byte { return v[:0:0] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, blocks := rawChain(t)
			bad := blocks[tc.which]
			damageRecord(t, path, keyOf(bad.Index, bad.Hash()), tc.harm)
			c := openRaw(t, path)
			got, n, err := rawRead(c, hashesOf(blocks[tc.which-1:]), -1)
			if !errors.Is(err, ErrStoreDamaged) {
				t.Fatalf("raw read over the damaged record: %v", err)
			}
			if n != 1 || len(got) != 1 || !bytes.Equal(got[0], blocks[tc.which-1].Bytes()) {
				t.Errorf("%d counted, %d given; want only the block before it", n, len(got))
			}
			if _, err := c.BlocksByHash([]Hash{bad.Hash()}); !errors.Is(err, ErrStoreDamaged) {
				t.Errorf("the decoding read disagrees: %v", err)
			}
			if _, n, err := rawRead(c, hashesOf(blocks[tc.which+1:]), -1); err != nil || n != len(blocks)-tc.which-1 {
				t.Errorf("the records after it: %d, %v", n, err)
			}
		})
	}
}

// damageRecord rewrites a block record in the store file, as a value or in
// its nested bucket, whichever it is.
func damageRecord(t *testing.T, path string, k recordKey, harm func([]byte) []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlocks)
		if nested := b.Bucket(k[:]); nested != nil {
			return nested.Put(largeValueKey, harm(bytes.Clone(nested.Get(largeValueKey))))
		}
		return b.Put(k[:], harm(bytes.Clone(b.Get(k[:]))))
	})
	if err != nil {
		t.Fatal(err)
	}
}
