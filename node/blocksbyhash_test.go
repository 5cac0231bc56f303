package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	bolt "go.etcd.io/bbolt"
)

// TestServeDamagedRecord: a server sends blocks from their stored bytes
// without decoding them, so a record damaged on its disk must still never
// reach a peer, which would take it for an invalid block and ban an honest
// node. A request that reaches the damaged record is refused (the stream
// reset, which the asker does not blame on the server); a sync from that
// server and a good one ends with the whole chain, the good one serving
// what the damaged one cannot, and nobody penalised.
func TestServeDamagedRecord(t *testing.T) {
	p := chain.TestParams()
	blocks := downloadChain(p, 600)
	dir := t.TempDir()
	srv := testNode(t, dir, func(c *Config) { c.NoAutoSync = true })
	if k, _, err := srv.Chain().AddBlocks(blocks); err != nil {
		t.Fatalf("add blocks: %d, %v", k, err)
	}
	srv.Close()
	bad := blocks[299]
	flipStoredTxByte(t, filepath.Join(dir, ChainFile), bad)
	damaged := testNode(t, dir, func(c *Config) { c.NoAutoSync = true })
	good := servingNode(t, blocks)
	d := testNode(t, "", func(c *Config) { c.NoAutoSync = true })
	connectNodes(t, d, damaged)
	connectNodes(t, d, good)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Asked for the block before it and the damaged one, the server sends
	// neither: a batch goes out whole or not at all.
	var got []*chain.Block
	req := encodeHashesRequest([]chain.Hash{blocks[298].Hash(), bad.Hash()}, dlReplyBytes)
	_, err := d.fetch(ctx, damaged.host.ID(), req, func(bs []*chain.Block) error {
		got = append(got, bs...)
		return nil
	})
	if err == nil || errors.Is(err, errPeerMisbehaved) || isProtocolViolation(err) {
		t.Fatalf("request over the damaged record: %v; want a failed stream, not the server's misbehaviour", err)
	}
	for _, b := range got {
		if b.Hash() == bad.Hash() || !bytes.Equal(b.Bytes(), blocks[b.Index-2].Bytes()) {
			t.Fatalf("block %d served not as stored", b.Index)
		}
	}

	if _, err := d.syncParallel(ctx, damaged.host.ID()); err != nil {
		t.Logf("sync: %v", err)
	}
	if d.Chain().Tip().Hash != blocks[len(blocks)-1].Hash() {
		t.Fatalf("head at %d, want %d", d.Chain().Tip().Index, blocks[len(blocks)-1].Index)
	}
	if d.Penalty(damaged.host.ID()) != 0 || d.bans.banned(damaged.host.ID()) {
		t.Errorf("the server with the damaged record was penalised (%v)", d.Penalty(damaged.host.ID()))
	}
	if got := damaged.Metrics().BlocksServed.Load(); got >= uint64(len(blocks)) {
		t.Errorf("the damaged server counts %d blocks served, the whole chain", got)
	}
}

// flipStoredTxByte changes a byte of b's coinbase in its stored record
// (a value: the record of a coinbase-only block is small), as a disk might.
func flipStoredTxByte(t *testing.T, path string, b *chain.Block) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var k [40]byte
	binary.BigEndian.PutUint64(k[:8], b.Index)
	h := b.Hash()
	copy(k[8:], h[:])
	err = db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("blocks"))
		v := bytes.Clone(bk.Get(k[:]))
		if !bytes.Equal(v, b.Bytes()) {
			t.Fatalf("block %d's record is not its encoding as a value", b.Index)
		}
		v[len(v)-1] ^= 1
		return bk.Put(k[:], v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStoredBatchFrame: a frame built from the stored bytes is, byte for
// byte, the frame encodeBatch makes of the decoded blocks, whole or cut at
// the byte budget (at least one block).
func TestStoredBatchFrame(t *testing.T) {
	p := chain.TestParams()
	blocks := downloadChain(p, 300)
	srv := servingNode(t, blocks)
	hs := make([]chain.Hash, len(blocks))
	for i, b := range blocks {
		hs[i] = b.Hash()
	}
	var buf []byte
	for _, tc := range []struct {
		budget, want int
	}{{batchBytes, 128}, {1, 1}, {3*blocks[0].Size() + 1, 3}} {
		var out bytes.Buffer
		k, size, err := srv.writeStoredBatch(&out, hs[:128], tc.budget, &buf)
		if err != nil || k != tc.want || size != tc.want*blocks[0].Size() {
			t.Fatalf("budget %d: %d blocks, %d bytes, %v; want %d blocks", tc.budget, k, size, err, tc.want)
		}
		frame, err := readFrame(bufio.NewReader(&out), srv.batchLimit())
		if err != nil || !bytes.Equal(frame, encodeBatch(blocks[:tc.want])) || out.Len() != 0 {
			t.Fatalf("budget %d: the frame is not encodeBatch's (%v, %d bytes left)", tc.budget, err, out.Len())
		}
	}
}
