package node

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/gossipchain/gossipchain/chain"
)

// The sync protocol's messages. Every message is a frame: a uvarint length
// and that many bytes, read only after the length is checked against the
// limit for that message. Requests carry a type byte. A reply is one frame
// (status) or a run of batch frames ended by an empty batch (blocks).
const (
	SyncProtocol = "/gossipchain/sync/1.0.0"

	reqStatus byte = 1 // → status frame
	reqBlocks byte = 2 // locator, max → batches of the main chain after the fork point
	reqChain  byte = 3 // from index, max → batches of the main chain from that index

	maxRequestBytes = 64 << 10
	maxLocatorLen   = 128
	maxStatusBytes  = 32 + 32 + 8 + 1 + 64
)

var (
	errFrameTooBig = errors.New("frame over size limit")
	errBadMessage  = errors.New("malformed sync message")
)

func writeFrame(w io.Writer, payload []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(payload)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func readFrame(r *bufio.Reader, limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("frame of %d bytes, limit %d: %w", n, limit, errFrameTooBig)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// PeerStatus is what a peer says of its chain.
type PeerStatus struct {
	Genesis chain.Hash
	Head    chain.Hash
	Index   uint64
	Work    *big.Int
}

func encodeStatus(s PeerStatus) []byte {
	b := make([]byte, 0, maxStatusBytes)
	b = append(b, s.Genesis[:]...)
	b = append(b, s.Head[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Index)
	w := s.Work.Bytes()
	b = append(b, byte(len(w)))
	return append(b, w...)
}

func decodeStatus(b []byte) (PeerStatus, error) {
	var s PeerStatus
	if len(b) < 73 || len(b) != 73+int(b[72]) || int(b[72]) > 64 {
		return s, fmt.Errorf("status: %w", errBadMessage)
	}
	copy(s.Genesis[:], b[:32])
	copy(s.Head[:], b[32:64])
	s.Index = binary.BigEndian.Uint64(b[64:72])
	s.Work = new(big.Int).SetBytes(b[73:])
	return s, nil
}

func encodeBlocksRequest(locator []chain.Hash, max int) []byte {
	b := []byte{reqBlocks}
	b = binary.AppendUvarint(b, uint64(len(locator)))
	for _, h := range locator {
		b = append(b, h[:]...)
	}
	return binary.AppendUvarint(b, uint64(max))
}

func decodeBlocksRequest(b []byte) ([]chain.Hash, int, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxLocatorLen || uint64(len(b)-k) < n*32 {
		return nil, 0, fmt.Errorf("locator: %w", errBadMessage)
	}
	b = b[k:]
	loc := make([]chain.Hash, n)
	for i := range loc {
		copy(loc[i][:], b[i*32:])
	}
	b = b[n*32:]
	max, k := binary.Uvarint(b)
	if k <= 0 || k != len(b) {
		return nil, 0, fmt.Errorf("blocks request: %w", errBadMessage)
	}
	return loc, int(min(max, 1<<20)), nil
}

func encodeChainRequest(from uint64, max int) []byte {
	b := []byte{reqChain}
	b = binary.AppendUvarint(b, from)
	return binary.AppendUvarint(b, uint64(max))
}

func decodeChainRequest(b []byte) (uint64, int, error) {
	from, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, fmt.Errorf("chain request: %w", errBadMessage)
	}
	max, k2 := binary.Uvarint(b[k:])
	if k2 <= 0 || k+k2 != len(b) {
		return 0, 0, fmt.Errorf("chain request: %w", errBadMessage)
	}
	return from, int(min(max, 1<<20)), nil
}

// A batch frame: uvarint count, then each block as uvarint length + encoding.
func encodeBatch(blocks []*chain.Block) []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(blocks)))
	for _, blk := range blocks {
		enc := blk.Bytes()
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	return b
}

// writeStoredBatch writes hs's blocks as one batch frame, as far as
// maxBytes goes (at least one block), straight from their stored
// encodings (chain.RawBlocksUpTo): a server no longer decodes and
// re-encodes what it sends. *buf is reused from batch to batch. It
// returns how many blocks went and their encoded bytes.
func (n *Node) writeStoredBatch(w io.Writer, hs []chain.Hash, maxBytes int, buf *[]byte) (blocks, size int, err error) {
	// Room at the front for the frame's length and the count, known only
	// at the end, so that the frame goes out in one write.
	const room = 2 * binary.MaxVarintLen64
	frame := append((*buf)[:0], make([]byte, room)...)
	blocks, err = n.chain.RawBlocksUpTo(hs, maxBytes, func(enc []byte) {
		frame = binary.AppendUvarint(frame, uint64(len(enc)))
		frame = append(frame, enc...)
		size += len(enc)
	})
	*buf = frame
	if err != nil {
		return 0, 0, err
	}
	var length, count [binary.MaxVarintLen64]byte
	c := binary.PutUvarint(count[:], uint64(blocks))
	l := binary.PutUvarint(length[:], uint64(c+len(frame)-room))
	start := room - c - l
	copy(frame[start:], length[:l])
	copy(frame[start+l:], count[:c])
	_, err = w.Write(frame[start:])
	return blocks, size, err
}

func decodeBatch(b []byte, maxBlocks, maxBlockBytes int) ([]*chain.Block, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(maxBlocks) {
		return nil, fmt.Errorf("batch of %d blocks (limit %d): %w", n, maxBlocks, errBadMessage)
	}
	b = b[k:]
	blocks := make([]*chain.Block, 0, n)
	for range n {
		size, k := binary.Uvarint(b)
		if k <= 0 || size > uint64(len(b)-k) {
			return nil, fmt.Errorf("batch block length: %w", errBadMessage)
		}
		blk, err := chain.DecodeBlock(b[k:k+int(size)], maxBlockBytes)
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, blk)
		b = b[k+int(size):]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after batch: %w", len(b), errBadMessage)
	}
	return blocks, nil
}
