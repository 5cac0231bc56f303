package node

import (
	"bufio"
	"encoding/binary"
	"fmt"

	"github.com/gossipchain/gossipchain/chain"
)

// The "blocks by hashes" request of the parallel download (node/download.go):
// the client names the blocks it wants, in chain order, from the header
// branch it proved; the server sends those it stores, in that order, as
// batch frames ended by an empty batch, stopping at the first it does not
// store (an honest peer on another branch, or one behind) and once the
// reply's blocks reach the byte budget the client gave (at least one
// block). The client re-asks the rest elsewhere.
const (
	reqBlocksByHash byte = 5

	// maxHashesPerRequest bounds one request: 1,024 hashes, 32 KiB, under
	// maxRequestBytes.
	maxHashesPerRequest = 1024
	// maxReplyBytes is the largest byte budget a server honours.
	maxReplyBytes = 64 << 20
)

func encodeHashesRequest(hs []chain.Hash, maxBytes int) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*2+len(hs)*32)
	b = append(b, reqBlocksByHash)
	b = binary.AppendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return binary.AppendUvarint(b, uint64(maxBytes))
}

// decodeHashesRequest reads a request's body (after the type byte): a
// uvarint count of at most maxHashesPerRequest, the hashes, and a uvarint
// byte budget, capped at maxReplyBytes. Nothing may follow.
func decodeHashesRequest(b []byte) ([]chain.Hash, int, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > maxHashesPerRequest || uint64(len(b)-k) < n*32 {
		return nil, 0, fmt.Errorf("blocks-by-hash request: count: %w", errBadMessage)
	}
	b = b[k:]
	hs := make([]chain.Hash, n)
	for i := range hs {
		copy(hs[i][:], b[i*32:])
	}
	b = b[n*32:]
	budget, k := binary.Uvarint(b)
	if k <= 0 || k != len(b) || budget == 0 {
		return nil, 0, fmt.Errorf("blocks-by-hash request: budget: %w", errBadMessage)
	}
	return hs, int(min(budget, maxReplyBytes)), nil
}

// serveBlocksByHash answers a blocks-by-hash request.
func (n *Node) serveBlocksByHash(w *bufio.Writer, req []byte) error {
	hs, budget, err := decodeHashesRequest(req)
	if err != nil {
		return err
	}
	hs = hs[:n.chain.StoredPrefix(hs)]
	sent := 0
	buf := getSendBuf()
	defer func() { putFrameBuf(buf) }()
	for len(hs) > 0 && sent < budget {
		k, size, err := n.writeStoredBatch(w, hs[:min(len(hs), n.cfg.SyncBatchBlocks)], min(batchBytes, budget-sent), &buf)
		if err != nil {
			return err
		}
		sent += size
		n.metrics.BlocksServed.Add(uint64(k))
		hs = hs[k:]
	}
	return writeFrame(w, encodeBatch(nil))
}
