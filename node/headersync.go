package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Headers-first sync, as Bitcoin Core does it. Before a node downloads a
// single block from a peer, it asks for the peer's headers after our
// locator and checks them against the tree (linking, proof of work,
// expected bits, median time past, future time) in a bounded in-memory
// session, until the branch has more work than our head. Only then are the
// blocks fetched, and the chain stores the first of them, which have less
// work than our head, because their headers were proven (see
// chain.HeaderBranch). A peer that claims more work than its headers show,
// or sends more headers than a session holds, is penalised, and nothing of
// its branch is stored.

const (
	// reqHeaders: locator, max → one frame of up to maxHeadersPerReply
	// main-chain headers after the fork point.
	reqHeaders byte = 4

	maxHeadersPerReply = 2000
	maxHeadersFrame    = binary.MaxVarintLen64 + maxHeadersPerReply*chain.HeaderSize
	// headersProbe is the first request's size: on the usual sync, a peer
	// a few blocks ahead on our own chain, a handful of headers prove it.
	headersProbe = 16
	// maxHeaderSessions is how many headers-first sessions run at once;
	// a sync that finds none free gives up until the next status poll.
	maxHeaderSessions = 2
)

var errHeaderSessionsBusy = errors.New("headers-first sessions all busy")

func encodeHeadersRequest(locator []chain.Hash, max int) []byte {
	b := encodeBlocksRequest(locator, max)
	b[0] = reqHeaders
	return b
}

// A headers frame: uvarint count, then count × 92-byte headers.
func encodeHeaders(hs []chain.Header) []byte {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(hs)*chain.HeaderSize), uint64(len(hs)))
	for i := range hs {
		b = append(b, hs[i].Bytes()...)
	}
	return b
}

func decodeHeaders(b []byte, max int) ([]chain.Header, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(max) {
		return nil, fmt.Errorf("headers reply of %d (limit %d): %w", n, max, errBadMessage)
	}
	b = b[k:]
	if uint64(len(b)) != n*chain.HeaderSize {
		return nil, fmt.Errorf("headers reply: %d bytes for %d headers: %w", len(b), n, errBadMessage)
	}
	hs := make([]chain.Header, n)
	for i := range hs {
		h, err := chain.DecodeHeader(b[i*chain.HeaderSize : (i+1)*chain.HeaderSize])
		if err != nil {
			return nil, err
		}
		hs[i] = h
	}
	return hs, nil
}

// serveHeaders answers a headers request: one frame.
func (n *Node) serveHeaders(w *bufio.Writer, req []byte) error {
	loc, max, err := decodeBlocksRequest(req)
	if err != nil {
		return err
	}
	return writeFrame(w, encodeHeaders(n.chain.MainHeadersAfter(loc, min(max, maxHeadersPerReply))))
}

// requestHeaders asks p for up to max headers after loc. The reply's frame
// length is checked against the limit before it is read.
func (n *Node) requestHeaders(ctx context.Context, p peer.ID, loc []chain.Hash, max int) ([]chain.Header, error) {
	_, r, release, err := n.request(ctx, p, encodeHeadersRequest(loc, max))
	if err != nil {
		return nil, err
	}
	defer release()
	frame, err := readFrame(r, maxHeadersFrame)
	err = ctxErr(ctx, err)
	var hs []chain.Header
	if err == nil {
		hs, err = decodeHeaders(frame, max)
	}
	if isProtocolViolation(err) {
		err = fmt.Errorf("%w: %w", errPeerMisbehaved, err)
	}
	return hs, err
}

// proveBranch is the headers-first step of a sync: it asks p for its status
// and, if p claims more work than we have, for its headers, until they show
// a branch with more work than our head; the chain then accepts that
// branch's blocks. It reports whether p's branch was proven. A peer whose
// headers break a rule, overrun the session or end short of the work its
// status claimed has misbehaved.
func (n *Node) proveBranch(ctx context.Context, p peer.ID) (bool, error) {
	hb, err := n.headerBranch(ctx, p, false)
	return hb != nil, err
}

// headerBranch is proveBranch returning the proven branch (nil if not
// proven). With full, it goes on asking for headers once the branch is
// proven, until the peer has no more or the session's limit is near, so
// that the download knows every block it will fetch (node/download.go).
func (n *Node) headerBranch(ctx context.Context, p peer.ID, full bool) (*chain.HeaderBranch, error) {
	st, ahead, err := n.askStatus(ctx, p)
	if err != nil || !ahead {
		return nil, err
	}
	select {
	case n.headerSlots <- struct{}{}:
		defer func() { <-n.headerSlots }()
	default:
		return nil, errHeaderSessionsBusy
	}
	hb := n.chain.NewHeaderBranch(n.cfg.HeaderSessionMax)
	max := headersProbe
	if st.Index > n.chain.Tip().Index+headersProbe {
		// Far behind (a fresh node): a probe would only cost a round
		// trip. The reply is bounded either way.
		max = maxHeadersPerReply
	}
	// With full, the next reply is asked for before this one is checked
	// (its locator starts at this reply's last header), so the round trip
	// and the peer's work overlap our checks: a fresh node's 3,000
	// headers were two replies, each checked only after it came.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next chan headersReply
	for ctx.Err() == nil {
		var hs []chain.Header
		var err error
		if next != nil {
			r := <-next
			hs, err, next = r.hs, r.err, nil
		} else {
			loc := n.chain.Locator()
			if last, ok := hb.Last(); ok {
				loc = append([]chain.Hash{last}, loc[:min(len(loc), maxLocatorLen-1)]...)
			}
			hs, err = n.requestHeaders(ctx, p, loc, max)
		}
		if err != nil {
			return nil, err
		}
		if full && len(hs) == max && hb.Received()+len(hs)+maxHeadersPerReply <= n.cfg.HeaderSessionMax {
			next = n.prefetchHeaders(ctx, p, hs[len(hs)-1].Hash())
		}
		if err := hb.Add(hs); err != nil {
			if errors.Is(err, chain.ErrTimeTooNew) {
				return nil, err // maybe our clock: not the peer's fault
			}
			return nil, fmt.Errorf("%w: headers: %w", errPeerMisbehaved, err)
		}
		more := len(hs) == max // the peer may have more
		if hb.Prove() && (!full || !more || hb.Received()+maxHeadersPerReply > n.cfg.HeaderSessionMax) {
			return hb, nil
		}
		if !more {
			if w := hb.Work(); w == nil || w.Cmp(st.Work) < 0 {
				return nil, fmt.Errorf("%w: status claims work %s, headers show %v", errPeerMisbehaved, st.Work, w)
			}
			return nil, nil // our head moved past it meanwhile
		}
		max = maxHeadersPerReply
	}
	return nil, ctx.Err()
}

type headersReply struct {
	hs  []chain.Header
	err error
}

// prefetchHeaders asks p for the headers after last (then our locator, in
// case p's chain changed) on its own goroutine; the reply comes on the
// channel. Cancelling ctx abandons it.
func (n *Node) prefetchHeaders(ctx context.Context, p peer.ID, last chain.Hash) chan headersReply {
	loc := n.chain.Locator()
	loc = append([]chain.Hash{last}, loc[:min(len(loc), maxLocatorLen-1)]...)
	ch := make(chan headersReply, 1)
	go func() {
		hs, err := n.requestHeaders(ctx, p, loc, maxHeadersPerReply)
		ch <- headersReply{hs, err}
	}()
	return ch
}
