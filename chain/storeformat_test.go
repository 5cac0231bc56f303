package chain

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// format2Params and format2Gen make the blocks of testdata/format2.db.gz,
// a store written by the format 2 build (main at b1f2d75, every record a
// value) with TestFormat2Fixture there: four coinbase-only blocks, then
// three of 60 transfers, each block (9 KB) and undo record (3 KB) large by
// format 3's measure. The generator is deterministic, so the test rebuilds the same
// blocks to compare and to go on from.
func format2Params() Params {
	return TestParams()
}

func format2Gen(t testing.TB) (*blockGen, []*Block) {
	g := newBlockGen(format2Params())
	var blocks []*Block
	for range 4 { // small: coinbase only, funding the transfers
		blocks = append(blocks, g.next(t, 0))
	}
	for range 3 {
		blocks = append(blocks, g.next(t, 60))
	}
	return g, blocks
}

// TestStoreFormat2Opens: a data directory written by the previous format
// opens, serves its blocks and undo records, takes new blocks (written the
// new way, next to the old values) and passes CheckStore, after a reopen
// too.
func TestStoreFormat2Opens(t *testing.T) {
	gz, err := os.ReadFile(filepath.Join("testdata", "format2.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chain.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	p := format2Params()
	now := p.GenesisTime.Add(10 * 365 * 24 * time.Hour)
	open := func() *Chain {
		t.Helper()
		c, err := Open(path, Options{Params: p, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return c
	}
	g, old := format2Gen(t)
	var added []*Block
	for range 2 {
		added = append(added, g.next(t, 60))
	}

	// `gossipchain store check` reads it read-only, as it is.
	if r, err := CheckStore(path); err != nil || r.Blocks != len(old)+1 {
		t.Fatalf("CheckStore of the format 2 store: %+v, %v", r, err)
	}
	c := open()
	if got := c.Tip(); got.Index != uint64(len(old)+1) || got.Hash != old[len(old)-1].Hash() {
		t.Fatalf("tip of the old store: %d %s", got.Index, got.Hash)
	}
	readAll := func(c *Chain, want []*Block) {
		t.Helper()
		for _, b := range want {
			got, err := c.BlockByIndex(b.Index)
			if err != nil || got.Hash() != b.Hash() {
				t.Fatalf("block %d: %v", b.Index, err)
			}
			if _, err := c.store.undoRecord(keyOf(b.Index, b.Hash())); err != nil {
				t.Fatalf("undo record %d: %v", b.Index, err)
			}
		}
		if bs, err := c.MainBlocks(2, len(want)); err != nil || len(bs) != len(want) {
			t.Fatalf("MainBlocks: %d, %v", len(bs), err)
		}
	}
	readAll(c, old)
	if n, _, err := c.AddBlocks(added); err != nil || n != len(added) {
		t.Fatalf("add to the old store: %d, %v", n, err)
	}
	readAll(c, append(old, added...))
	c.Close()

	// Old records are still values, new ones nested buckets, and the
	// store says format 3 now.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if f := string(tx.Bucket(bucketMeta).Get(keyFormat)); f != storeFormat {
			t.Errorf("format after open: %q", f)
		}
		for _, set := range []struct {
			b      *Block
			nested bool
		}{{old[len(old)-1], false}, {added[0], true}} {
			k := keyOf(set.b.Index, set.b.Hash())
			for _, name := range [][]byte{bucketBlocks, bucketUndo} {
				if nested := tx.Bucket(name).Bucket(k[:]) != nil; nested != set.nested {
					t.Errorf("%s record of block %d: nested bucket %v, want %v", name, set.b.Index, nested, set.nested)
				}
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	if r, err := CheckStore(path); err != nil || r.Blocks != len(old)+len(added)+1 {
		t.Fatalf("CheckStore: %+v, %v", r, err)
	}
	// A reorg away from the old blocks and back puts their undo records
	// again, now as nested buckets where values were.
	c = open()
	defer c.Close()
	readAll(c, append(old, added...))
	fork := old[3] // the last coinbase-only block
	parent, ts := fork, added[len(added)-1].Timestamp
	for range int(added[len(added)-1].Index-fork.Index) + 1 {
		ts++
		parent = childOf(t, c, parent, wallet(9).Address(), ts)
		if _, err := c.AddBlock(parent); err != nil {
			t.Fatalf("side block %d: %v", parent.Index, err)
		}
	}
	if c.Tip().Hash != parent.Hash() {
		t.Fatal("the side branch did not take over")
	}
	back := []*Block{g.next(t, 60), g.next(t, 60)}
	for _, b := range back {
		if _, err := c.AddBlock(b); err != nil {
			t.Fatalf("block %d back on the old branch: %v", b.Index, err)
		}
	}
	if c.Tip().Hash != back[1].Hash() {
		t.Fatal("the old branch did not win back")
	}
	readAll(c, append(append(old, added...), back...))
	c.Close()
	if _, err := CheckStore(path); err != nil {
		t.Fatalf("CheckStore after the reorgs: %v", err)
	}
}

// TestStoreLargeRecordLost: a large block record is a nested bucket; one
// that lost its value is damage on read and in CheckStore, as a missing
// value was.
func TestStoreLargeRecordLost(t *testing.T) {
	path, blocks := rawChain(t)
	p := format2Params()
	now := p.GenesisTime.Add(10 * 365 * 24 * time.Hour)
	big := blocks[len(blocks)-1]
	k := keyOf(big.Index, big.Hash())
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		nested := tx.Bucket(bucketBlocks).Bucket(k[:])
		if nested == nil {
			t.Fatal("a 60-transfer block's record is not a nested bucket")
		}
		return nested.Delete(largeValueKey)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckStore(path); !errors.Is(err, ErrStoreDamaged) || !strings.Contains(err.Error(), "without its value") {
		t.Fatalf("CheckStore: %v", err)
	}
	c, err := Open(path, Options{Params: p, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.BlockByIndex(big.Index); !errors.Is(err, ErrStoreDamaged) {
		t.Fatalf("read of the lost record: %v", err)
	}
	if got, err := c.BlockByIndex(big.Index - 1); err != nil || got.Hash() != blocks[len(blocks)-2].Hash() {
		t.Fatalf("read of the record before it: %v", err)
	}
}
