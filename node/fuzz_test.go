package node

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// Fuzz targets for every decoder of what a peer sends: sync frames and
// requests, status, block batches and tx announcements. Each must never
// panic, must refuse what is over its limit, and whatever it accepts must
// encode back to the same bytes (one encoding per message).

func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	writeFrame(&buf, []byte("hello"))
	f.Add(buf.Bytes(), 16)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1<<20)
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		limit = max(0, limit%(1<<16))
		b, err := readFrame(bufio.NewReader(bytes.NewReader(data)), limit)
		if err == nil && len(b) > limit {
			t.Fatalf("frame of %d bytes passed limit %d", len(b), limit)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add(encodeStatus(PeerStatus{Index: 7, Work: big.NewInt(1 << 40)}))
	f.Add(make([]byte, 73))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeStatus(data)
		if err != nil {
			return
		}
		// Work may carry leading zero bytes, which re-encode shorter.
		if again, err := decodeStatus(encodeStatus(s)); err != nil || again.Work.Cmp(s.Work) != 0 || again.Head != s.Head || again.Index != s.Index {
			t.Fatalf("status does not round-trip: %v", err)
		}
	})
}

func FuzzDecodeBlocksRequest(f *testing.F) {
	f.Add(encodeBlocksRequest([]chain.Hash{{1}, {2}}, 2000)[1:])
	f.Add([]byte{0x80, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		loc, limit, err := decodeBlocksRequest(data)
		if err != nil {
			return
		}
		if len(loc) > maxLocatorLen || limit < 0 {
			t.Fatalf("locator of %d, max %d accepted", len(loc), limit)
		}
	})
}

func FuzzDecodeChainRequest(f *testing.F) {
	f.Add(encodeChainRequest(1, 2000)[1:])
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, limit, err := decodeChainRequest(data); err == nil && limit < 0 {
			t.Fatalf("negative max %d", limit)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	p := chain.TestParams()
	g := chain.Genesis(p)
	f.Add(encodeBatch([]*chain.Block{g, g}))
	f.Add(encodeBatch(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := decodeBatch(data, 4, 4096)
		if err != nil {
			return
		}
		if len(blocks) > 4 {
			t.Fatalf("batch of %d blocks passed limit 4", len(blocks))
		}
		// Counts may be non-minimal uvarints (a batch is not hashed), so
		// compare what the bytes mean, not the bytes.
		again, err := decodeBatch(encodeBatch(blocks), 4, 4096)
		if err != nil || len(again) != len(blocks) {
			t.Fatalf("batch does not round-trip: %v", err)
		}
		for i := range blocks {
			if again[i].Hash() != blocks[i].Hash() {
				t.Fatalf("block %d changed in a round trip", i)
			}
		}
	})
}

func FuzzDecodeTxAnnouncement(f *testing.F) {
	w := chain.WalletFromSeed([32]byte{1})
	tx := w.NewTx(chain.NetworkID(chain.TestParams()), chain.WalletFromSeed([32]byte{2}).Address(), 5, 1, 0)
	f.Add(encodeTxAnnouncement(time.Unix(0, 1), []*chain.Tx{tx}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xe9, 0x07})
	f.Fuzz(func(t *testing.T, data []byte) {
		txs, err := decodeTxAnnouncement(data)
		if err != nil {
			return
		}
		if len(txs) == 0 || len(txs) > maxTxsPerAnnouncement {
			t.Fatalf("announcement of %d txs accepted", len(txs))
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(data)))
		if !bytes.Equal(encodeTxAnnouncement(at, txs), data) {
			t.Fatal("announcement does not round-trip")
		}
	})
}

// FuzzLoadBans: a damaged or hand-edited banned.json never panics, never
// holds more than the cap, and never holds an expired ban.
func FuzzLoadBans(f *testing.F) {
	f.Add([]byte(`{"banned":[{"peer":"12D3KooWQaLpHhbFoTgLwcqeo5WkFdLSKByEf91XJ2QjWSwuA1pW","until":"2999-01-01T00:00:00Z","reason":"x"}]}`))
	f.Add([]byte(`{"banned":[{"peer":"nope","until":"1999-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), BanFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		b := newBanList(path, time.Hour, slog.New(slog.DiscardHandler))
		b.maxBans = 4
		if err := b.load(); err != nil {
			return
		}
		list := b.list()
		if len(list) > 4 {
			t.Fatalf("%d bans loaded, cap 4", len(list))
		}
		for _, ban := range list {
			if !time.Now().Before(ban.Until) {
				t.Fatalf("expired ban loaded: %+v", ban)
			}
		}
	})
}
