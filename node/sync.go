package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Server side of the sync protocol: one request per stream.

func (n *Node) batchLimit() int {
	// A server packs blocks into a frame until batchBytes, but always at
	// least one block, which may be MaxBlockBytes on its own; plus the
	// length prefixes.
	return max(batchBytes, n.cfg.Params.MaxBlockBytes) + n.cfg.SyncBatchBlocks*binary.MaxVarintLen64 + 16
}

// batchBytes caps what the server packs into one frame, so that big blocks
// make smaller batches rather than huge frames.
const batchBytes = 4 << 20

func (n *Node) handleSyncStream(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(n.cfg.SyncStreamTimeout))
	r := bufio.NewReader(s)
	req, err := readFrame(r, maxRequestBytes)
	if err != nil || len(req) == 0 {
		s.Reset()
		return
	}
	n.serveSyncRequest(s, req)
}

// serveSyncRequest answers one request read from s.
func (n *Node) serveSyncRequest(s network.Stream, req []byte) {
	w := bufio.NewWriter(s)
	var err error
	switch req[0] {
	case reqStatus:
		err = writeFrame(w, encodeStatus(n.localStatus()))
	case reqBlocks:
		var loc []chain.Hash
		var max int
		if loc, max, err = decodeBlocksRequest(req[1:]); err == nil {
			err = n.writeBatches(w, n.chain.MainHashesAfter(loc, min(max, n.cfg.SyncRequestMax)))
		}
	case reqHeaders:
		err = n.serveHeaders(w, req[1:])
	case reqBlocksByHash:
		err = n.serveBlocksByHash(w, req[1:])
	case reqChain:
		var from uint64
		var max int
		if from, max, err = decodeChainRequest(req[1:]); err == nil {
			err = n.writeBatches(w, n.chain.MainHashes(from, min(max, n.cfg.SyncRequestMax)))
		}
	default:
		err = fmt.Errorf("request type %d: %w", req[0], errBadMessage)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		n.log.Debug("sync request failed", "peer", s.Conn().RemotePeer(), "err", err)
		s.Reset()
	}
}

// writeBatches sends the blocks of a reply, reading them from the store a
// batch at a time: a reply of 2,000 large blocks is never all in memory.
// The hashes are a snapshot of one main chain, so the reply links up even
// if our head moves meanwhile.
func (n *Node) writeBatches(w *bufio.Writer, hashes []chain.Hash) error {
	buf := getSendBuf()
	defer func() { putFrameBuf(buf) }()
	for len(hashes) > 0 {
		k, _, err := n.writeStoredBatch(w, hashes[:min(len(hashes), n.cfg.SyncBatchBlocks)], batchBytes, &buf)
		if err != nil {
			return err
		}
		hashes = hashes[k:]
	}
	return writeFrame(w, encodeBatch(nil)) // end of reply
}

func (n *Node) localStatus() PeerStatus {
	tip := n.chain.Tip()
	return PeerStatus{Genesis: tip.Genesis, Head: tip.Hash, Index: tip.Index, Work: tip.Work}
}

// Client side.

// request opens a sync stream to p and sends req. The stream is reset as
// soon as ctx ends, so a peer that never answers costs the caller its own
// deadline rather than SyncStreamTimeout; the caller must call release
// (which also closes the stream) when done with it.
func (n *Node) request(ctx context.Context, p peer.ID, req []byte) (s network.Stream, r *bufio.Reader, release func(), err error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err = n.host.NewStream(network.WithAllowLimitedConn(dctx, "sync"), p, SyncProtocol)
	if err != nil {
		return nil, nil, nil, ctxErr(ctx, err)
	}
	// The closure keeps its own copy: the error returns below set the
	// named result s to nil while the AfterFunc may be running.
	stream := s
	stop := context.AfterFunc(ctx, func() { stream.Reset() })
	release = func() {
		stop()
		s.Close()
	}
	s.SetDeadline(time.Now().Add(n.cfg.SyncStreamTimeout))
	if err := writeFrame(s, req); err != nil {
		release()
		s.Reset()
		return nil, nil, nil, ctxErr(ctx, err)
	}
	if err := s.CloseWrite(); err != nil {
		release()
		s.Reset()
		return nil, nil, nil, ctxErr(ctx, err)
	}
	return s, bufio.NewReader(s), release, nil
}

// ctxErr prefers the context's error: a stream reset because the caller's
// deadline passed is a timeout, not a network failure (nor the peer's
// fault).
func ctxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// RequestStatus asks a peer for its chain status. It returns when ctx ends
// even if the peer never answers.
func (n *Node) RequestStatus(ctx context.Context, p peer.ID) (PeerStatus, error) {
	_, r, release, err := n.request(ctx, p, []byte{reqStatus})
	if err != nil {
		return PeerStatus{}, err
	}
	defer release()
	b, err := readFrame(r, maxStatusBytes)
	if err != nil {
		return PeerStatus{}, ctxErr(ctx, err)
	}
	return decodeStatus(b)
}

// errPeerMisbehaved marks failures that are the peer's fault.
var errPeerMisbehaved = errors.New("peer misbehaved")

// ourStoreFault says whether adding blocks failed on our own disk (full,
// damaged) rather than on the blocks: nobody is to blame. Blaming the peer
// banned every peer of a node whose disk filled, which then never synced
// again (the chaos test found it on both sync paths).
func ourStoreFault(err error) bool {
	return errors.Is(err, chain.ErrStoreFailed) || errors.Is(err, chain.ErrStoreDamaged)
}

// fetch sends one block request and feeds the reply, batch by batch, into
// the chain. A reader goroutine decodes the next batch while the chain
// validates the current one. It returns how many blocks arrived.
func (n *Node) fetch(ctx context.Context, p peer.ID, req []byte, sink func([]*chain.Block) error) (int, error) {
	s, r, release, err := n.request(ctx, p, req)
	if err != nil {
		return 0, err
	}
	defer release()
	type batch struct {
		blocks []*chain.Block
		err    error
	}
	ch := make(chan batch, 2)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		defer close(ch)
		got := 0
		for {
			frame, err := readFrame(r, n.batchLimit())
			var blocks []*chain.Block
			if err == nil {
				blocks, err = decodeBatch(frame, n.cfg.SyncBatchBlocks, n.cfg.Params.MaxBlockBytes)
			}
			if err == nil && got+len(blocks) > n.cfg.SyncRequestMax {
				err = fmt.Errorf("peer sent more than %d blocks: %w", n.cfg.SyncRequestMax, errBadMessage)
			}
			if isProtocolViolation(err) {
				err = fmt.Errorf("%w: %w", errPeerMisbehaved, err)
			} else {
				err = ctxErr(ctx, err)
			}
			select {
			case ch <- batch{blocks, err}:
			case <-stop:
				return
			}
			if err != nil || len(blocks) == 0 {
				return
			}
			got += len(blocks)
		}
	}()
	// Frames are joined into commits of up to SyncCommitBlocks blocks
	// (and syncCommitBytes): each store commit rewrites the B-tree pages
	// it touches and syncs the file, so fewer, bigger commits sync
	// faster.
	total := 0
	var pending []*chain.Block
	pendingBytes := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := sink(pending)
		if err == nil {
			total += len(pending)
		}
		pending, pendingBytes = nil, 0
		return err
	}
	for b := range ch {
		if b.err != nil {
			if err := flush(); err != nil {
				b.err = err
			}
			s.Reset()
			return total, b.err
		}
		if len(b.blocks) == 0 {
			if err := flush(); err != nil {
				s.Reset()
				return total, err
			}
			return total, nil
		}
		s.SetDeadline(time.Now().Add(n.cfg.SyncStreamTimeout))
		pending = append(pending, b.blocks...)
		for _, blk := range b.blocks {
			pendingBytes += blk.Size()
		}
		if len(pending) >= n.cfg.SyncCommitBlocks || pendingBytes >= syncCommitBytes {
			if err := flush(); err != nil {
				s.Reset()
				return total, err
			}
		}
	}
	if err := flush(); err != nil {
		return total, err
	}
	return total, ctx.Err()
}

// syncCommitBytes caps the encoded size of the blocks held for one commit.
const syncCommitBytes = 16 << 20

// addSynced is the sink for synced blocks: one batch, one commit. A block
// that breaks a rule is the peer's fault.
func (n *Node) addSynced(p peer.ID) func([]*chain.Block) error {
	return func(blocks []*chain.Block) error {
		got := time.Now()
		k, res, err := n.chain.AddBlocks(blocks)
		n.noteArrival(p.String(), got, blocks[:k]...)
		n.metrics.BlocksSynced.Add(uint64(k))
		n.added(res, p.String())
		if ourStoreFault(err) {
			return fmt.Errorf("block %d of batch: %w", k, err)
		}
		if err != nil {
			n.metrics.BlocksRejected.Add(1)
			return fmt.Errorf("%w: block %d of batch: %w", errPeerMisbehaved, k, err)
		}
		return nil
	}
}

// SyncFrom catches up with a peer: headers first, then the blocks, from
// that peer and every other that has them at once (node/download.go), or
// with Config.SyncSerial by block locator requests to the one peer;
// repeated until the peer has no more work than we do. It returns whether
// our head changed.
func (n *Node) SyncFrom(ctx context.Context, p peer.ID) (bool, error) {
	start := time.Now()
	before := n.chain.Tip().Hash
	defer func() { n.observe("sync", time.Since(start).Seconds()) }()
	if !n.cfg.SyncSerial {
		_, err := n.syncParallel(ctx, p)
		return n.chain.Tip().Hash != before, err
	}
	var last *chain.Hash // the last block of the previous round
	for ctx.Err() == nil {
		// Headers first: blocks are fetched only once the peer's
		// headers show more work than our head.
		if proven, err := n.proveBranch(ctx, p); err != nil || !proven {
			n.syncFailed(p, err)
			return n.chain.Tip().Hash != before, err
		}
		// After the first round, ask for what follows the last block we
		// got: on a fork longer than one reply, those blocks are on a side
		// branch that our own locator does not describe yet.
		loc := n.chain.Locator()
		if last != nil {
			loc = append([]chain.Hash{*last}, loc[:min(len(loc), maxLocatorLen-1)]...)
		}
		fresh := 0
		sink := n.addSynced(p)
		got, err := n.fetch(ctx, p, encodeBlocksRequest(loc, n.cfg.SyncRequestMax), func(blocks []*chain.Block) error {
			for _, b := range blocks {
				if !n.chain.HasBlock(b.Hash()) {
					fresh++
				}
			}
			h := blocks[len(blocks)-1].Hash()
			last = &h
			return sink(blocks)
		})
		if err != nil {
			n.syncFailed(p, err)
			return n.chain.Tip().Hash != before, err
		}
		if got == 0 || fresh == 0 {
			break // nothing new: done (or a peer repeating itself)
		}
	}
	return n.chain.Tip().Hash != before, ctx.Err()
}

// SyncWholeChain is the tutorial's resolve: ask the peer for its whole main
// chain, streamed in batches and validated as it arrives; the longest (most
// work) valid chain wins. Blocks we already have are skipped.
func (n *Node) SyncWholeChain(ctx context.Context, p peer.ID) (bool, error) {
	start := time.Now()
	before := n.chain.Tip().Hash
	defer func() { n.observe("sync", time.Since(start).Seconds()) }()
	// The same rule as SyncFrom: the peer's headers must first show more
	// work than our head.
	if proven, err := n.proveBranch(ctx, p); err != nil || !proven {
		n.syncFailed(p, err)
		return false, err
	}
	from := uint64(1)
	for ctx.Err() == nil {
		got, err := n.fetch(ctx, p, encodeChainRequest(from, n.cfg.SyncRequestMax), n.addSynced(p))
		if err != nil {
			n.syncFailed(p, err)
			return n.chain.Tip().Hash != before, err
		}
		if got < n.cfg.SyncRequestMax {
			break
		}
		from += uint64(got)
	}
	return n.chain.Tip().Hash != before, ctx.Err()
}

// isProtocolViolation tells garbage from a peer (penalised) from a dropped
// connection or a timeout (not its fault, as far as we can tell).
func isProtocolViolation(err error) bool {
	return errors.Is(err, errBadMessage) || errors.Is(err, errFrameTooBig) ||
		errors.Is(err, chain.ErrMalformed) || errors.Is(err, chain.ErrBlockTooBig)
}

func (n *Node) syncFailed(p peer.ID, err error) {
	if err == nil {
		return
	}
	if errors.Is(err, errPeerMisbehaved) {
		n.penalize(p, err)
		return
	}
	n.log.Debug("sync failed", "peer", p, "err", err)
}

// Resolve asks every connected peer for its status (concurrently, each
// given at most statusTimeout and half the time left, so a peer that never
// answers cannot eat the deadline) and syncs from each that has more work,
// most work first, by the whole-chain request as the tutorial's
// /nodes/resolve does. It reports whether our head changed.
func (n *Node) Resolve(ctx context.Context) (bool, error) {
	before := n.chain.Tip().Hash
	timeout := statusTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d)/2)
	}
	type answer struct {
		p     peer.ID
		st    PeerStatus
		ahead bool
		err   error
	}
	peers := n.chainCandidates()
	answers := make([]answer, len(peers))
	sem := make(chan struct{}, statusConcurrency)
	var wg sync.WaitGroup
	for i, p := range peers {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st, ahead, err := n.askStatus(sctx, p)
			answers[i] = answer{p, st, ahead, err}
		}()
	}
	wg.Wait()
	var errs []error
	var ahead []answer
	for _, a := range answers {
		switch {
		case a.err != nil:
			errs = append(errs, fmt.Errorf("status of %s: %w", a.p, a.err))
		case a.ahead:
			ahead = append(ahead, a)
		}
	}
	slices.SortFunc(ahead, func(x, y answer) int { return y.st.Work.Cmp(x.st.Work) })
	for _, a := range ahead {
		if ctx.Err() != nil {
			break
		}
		if a.st.Work.Cmp(n.chain.Tip().Work) <= 0 {
			continue // a heavier peer's chain already covers it
		}
		if _, err := n.SyncWholeChain(ctx, a.p); err != nil {
			errs = append(errs, fmt.Errorf("sync from %s: %w", a.p, err))
		}
	}
	changed := n.chain.Tip().Hash != before
	if changed {
		return true, nil // some peer failing does not undo the switch
	}
	return false, errors.Join(errs...)
}

// statusTimeout bounds one status exchange of a poll, a connection or a
// resolve; statusConcurrency bounds how many run at once.
const (
	statusTimeout     = 5 * time.Second
	statusConcurrency = 16
)

// syncAsync starts a sync from p unless one is running.
func (n *Node) syncAsync(p peer.ID) {
	if n.cfg.NoAutoSync {
		return
	}
	n.peersMu.Lock()
	st := n.peers[p]
	if st == nil {
		st = &peerState{}
		n.peers[p] = st
	}
	if st.syncing {
		n.peersMu.Unlock()
		return
	}
	st.syncing = true
	n.peersMu.Unlock()
	n.spawn(func() {
		defer func() {
			n.peersMu.Lock()
			if st := n.peers[p]; st != nil {
				st.syncing = false
			}
			n.peersMu.Unlock()
		}()
		changed, err := n.SyncFrom(n.ctx, p)
		if err != nil && n.ctx.Err() == nil {
			n.log.Debug("sync", "peer", p, "err", err)
		}
		if changed {
			// Tell our other peers about the new head now rather than at
			// their next status poll: those with its parent take it, the
			// others sync from us.
			if tip, err := n.chain.BlockByHash(n.chain.Tip().Hash); err == nil {
				n.publishBlock(tip)
			}
		}
	})
}

func (n *Node) setPeerStatus(p peer.ID, s PeerStatus) {
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	st := n.peers[p]
	if st == nil {
		st = &peerState{}
		n.peers[p] = st
	}
	st.status = &s
}

// onConnected exchanges status with a new peer: another network's peer is
// dropped; one with more work is synced from.
func (n *Node) onConnected(p peer.ID) {
	n.peersMu.Lock()
	st := n.peers[p]
	if st == nil {
		st = &peerState{}
		n.peers[p] = st
	}
	already := st.connected
	st.connected = true
	n.peersMu.Unlock()
	if already {
		return // a second connection to a peer we already know
	}
	// "peer joined" waits for identify and the status exchange
	// (chainpeers.go): only a gossipchain peer of our network is one.
	n.spawn(func() { n.onConnectedChain(p) })
}

// askStatus asks p for its status, records it, and reports whether p is
// ahead of us: same network, more work.
func (n *Node) askStatus(ctx context.Context, p peer.ID) (st PeerStatus, ahead bool, err error) {
	asked := time.Now()
	st, err = n.RequestStatus(ctx, p)
	if err != nil {
		return st, false, err
	}
	// One status exchange is a round trip: the dashboard's peer latency.
	n.host.Peerstore().RecordLatency(p, time.Since(asked))
	n.setPeerStatus(p, st)
	return st, st.Genesis == n.chain.GenesisHash() && st.Work.Cmp(n.chain.Tip().Work) > 0, nil
}

// checkPeer is the status exchange of a connection and of each poll: a peer
// of another network is dropped (or kept for the DHT only), one of ours
// becomes a chain peer, one ahead of us is synced from.
func (n *Node) checkPeer(ctx context.Context, p peer.ID) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, ahead, err := n.askStatus(ctx, p)
	if err != nil {
		n.log.Debug("status", "peer", p, "err", err)
		return
	}
	if st.Genesis != n.chain.GenesisHash() {
		n.foreignPeer(p, st.Genesis) // dropped, unless the DHT needs it
		return
	}
	n.joinChainPeer(p)
	if ahead {
		n.syncAsync(p)
	}
}

// pollStatus asks every peer for its status now and then and syncs from
// those ahead of us. Gossip alone can miss a block: a message published
// before the mesh forms reaches nobody, and a healed partition announces
// nothing. Peers are asked concurrently, at most statusConcurrency at a
// time, and a peer still being asked is skipped, so one that never answers
// delays nobody else.
func (n *Node) pollStatus() {
	t := time.NewTicker(n.cfg.StatusInterval)
	defer t.Stop()
	sem := make(chan struct{}, statusConcurrency)
	var mu sync.Mutex
	asking := make(map[peer.ID]bool)
	for tick := 1; ; tick++ {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if tick%rebroadcastEvery == 0 {
			n.rebroadcastPending()
		}
		for _, p := range n.chainCandidates() {
			mu.Lock()
			busy := asking[p]
			asking[p] = true
			mu.Unlock()
			if busy {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-n.ctx.Done():
				return
			}
			n.spawn(func() {
				defer func() {
					mu.Lock()
					delete(asking, p)
					mu.Unlock()
					<-sem
				}()
				n.checkPeer(n.ctx, p)
			})
		}
	}
}

// rebroadcastEvery is how many status polls pass between re-announcements
// of the mempool.
const rebroadcastEvery = 6

// rebroadcastPending re-announces the best pending transactions now and
// then. An announcement can reach nobody (published before the mesh formed,
// or right after a partition healed, when the new peers' topics are not yet
// known); without this a transaction could wait in one mempool until that
// node mines. Peers that know them Ignore the message, so it goes one hop.
func (n *Node) rebroadcastPending() {
	txs := n.chain.Mempool().Pending()
	if len(txs) == 0 || len(n.host.Network().Peers()) == 0 {
		return
	}
	n.announceTxs(txs[:min(len(txs), maxTxsPerAnnouncement)])
}

func (n *Node) onDisconnected(p peer.ID) {
	if n.host.Network().Connectedness(p) == network.Connected {
		return // another connection to it remains
	}
	n.mesh.removePeer(p)
	n.peersMu.Lock()
	st := n.peers[p]
	delete(n.peers, p) // penalties live in the ban list, which is bounded
	n.peersMu.Unlock()
	if st != nil && st.chain {
		n.events.publish(Event{Kind: EventPeerLost, Peer: p, Source: p.String()})
	}
}

// penalize is the sync protocol's verdict on garbage or an invalid block:
// a severe offence, so a ban.
func (n *Node) penalize(p peer.ID, why error) {
	n.Penalize(p, SeveritySevere, why.Error())
}
