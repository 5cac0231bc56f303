package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Parallel, pipelined block download (issue 12). Headers come first from
// one peer (headerBranch); the proven branch's blocks are then split into
// units of consecutive hashes and fetched by "blocks by hashes" requests
// from the header peer and up to 7 others whose status says they have them
// (each joining when it answers), two requests in flight
// per peer, while the blocks already received are validated and committed
// in chain order. The window of blocks received but not committed is
// bounded in blocks and bytes.
//
// A stall detector moves work away from a slow peer: a request that
// delivers nothing for Config.SyncStallTimeout, or holds the block the
// commits wait for that long while another peer could take it, is
// cancelled, its undelivered blocks go back to the queue, and the peer gets
// no more work in this download (it is not penalised: slow is not
// malicious). A peer that answers with fewer blocks than asked (it is
// behind, or on another branch) is not asked past what it sent again.

const (
	// dlUnit is how many blocks one request asks for.
	dlUnit = 256
	// dlInFlight is how many requests run at once to one peer: while one
	// reply is read and decoded, the peer is already reading the next
	// blocks from its store.
	dlInFlight = 2
	// dlReplyBytes is the byte budget a request gives the server.
	dlReplyBytes = 8 << 20
	// dlCommitBlocks caps a download's commits (see commitBlocks);
	// small blocks go on to dlSmallCommitBlocks while the commit stays
	// under dlSmallCommitBytes: each commit syncs the file, and a chain
	// of coinbase-only blocks was paying three fsyncs for 3,000 blocks
	// of 245 bytes.
	dlCommitBlocks      = 1024
	dlSmallCommitBlocks = 4096
	dlSmallCommitBytes  = 1 << 20
	// dlMaxPeers bounds the peers one download uses (and asks for their
	// status first).
	dlMaxPeers = 8
	// dlWindowBytes bounds the bytes of blocks received and not yet
	// committed (the commit in progress included).
	dlWindowBytes = 48 << 20
)

// dlPeer is one peer's part in a download.
type dlPeer struct {
	id       peer.ID
	name     string // id.String(), once: its base58 cost a fifth of a coinbase-only commit when taken per block
	has      uint64 // the last index it is believed to hold
	inFlight int
	out      bool // stalled or failed: no more work
	stalled  bool // dropped by the stall detector
	served   int  // blocks it delivered
}

// dlRange is a run of hashes [lo, hi) still to fetch.
type dlRange struct{ lo, hi int }

// dlRequest is a request in flight.
type dlRequest struct {
	p       *dlPeer
	r       dlRange
	next    int // the next position expected
	last    time.Time
	started time.Time
	cancel  context.CancelFunc
	stalled bool
}

type downloader struct {
	n      *Node
	first  uint64 // index of hashes[0]
	hashes []chain.Hash
	clock  *syncClock // where the sync's time goes; calls with mu held

	mu       sync.Mutex
	wake     chan struct{} // a delivery, a finished request, a commit
	queue    []dlRange     // sorted by lo
	blocks   []*chain.Block
	from     []*dlPeer // who delivered each block
	bytes    int       // of received blocks not yet committed
	next     int       // the first position not committed
	taken    int       // the first position not taken for a commit (prechecked or being so)
	peers    []*dlPeer
	inflight map[*dlRequest]struct{}
	asking   int   // status requests not yet answered
	failed   error // a misbehaving peer's error ends the download

	// A batch is prechecked (chain.PrecheckBlocks: stateless checks and
	// signatures, all cores) and then committed (context, state, store:
	// one core); the next batch is prechecked while one commits.
	checking   bool                   // a precheck runs (on its own goroutine)
	checked    chan *chain.Prechecked // its result
	ready      *chain.Prechecked      // prechecked, waiting for the commit
	committing bool                   // a commit runs (on its own goroutine)
	commitErr  chan error             // its result
}

// DownloadStats reports a download: blocks delivered by each peer, the
// peers the stall detector dropped, and those whose requests failed.
type DownloadStats struct {
	Served  map[peer.ID]int
	Stalled []peer.ID
	Failed  []peer.ID
	Phases  SyncPhases // where the time went (syncParallel's, all sessions)
}

// downloadBlocks fetches and adds the blocks of hashes (index first on)
// from primary and every other connected peer that has them.
func (n *Node) downloadBlocks(ctx context.Context, clock *syncClock, primary peer.ID, first uint64, hashes []chain.Hash) (DownloadStats, error) {
	d := &downloader{
		n: n, first: first, hashes: hashes, clock: clock,
		wake:      make(chan struct{}, 1),
		commitErr: make(chan error, 1),
		checked:   make(chan *chain.Prechecked, 1),
		blocks:    make([]*chain.Block, len(hashes)),
		from:      make([]*dlPeer, len(hashes)),
		inflight:  make(map[*dlRequest]struct{}),
	}
	for lo := 0; lo < len(hashes); lo += dlUnit {
		d.queue = append(d.queue, dlRange{lo, min(len(hashes), lo+dlUnit)})
	}
	d.peers = []*dlPeer{{id: primary, name: primary.String(), has: ^uint64(0)}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if len(hashes) > dlUnit {
		// The others join as their status answers; a catch-up of a few
		// blocks asks only the peer that has them.
		d.askPeers(ctx, &wg, primary)
	}
	err := d.run(ctx, &wg)
	cancel()
	wg.Wait()
	d.mu.Lock() // the last status answers may still be filed
	defer d.mu.Unlock()
	st := DownloadStats{Served: make(map[peer.ID]int)}
	for _, p := range d.peers {
		st.Served[p.id] = p.served
		if p.stalled {
			st.Stalled = append(st.Stalled, p.id)
		} else if p.out {
			st.Failed = append(st.Failed, p.id)
		}
	}
	return st, err
}

// askPeers asks up to dlMaxPeers-1 connected peers besides primary for
// their status, at once; each of our network that holds the first block
// joins the download when it answers (within statusTimeout), so a peer
// that is slow to answer delays nobody.
func (d *downloader) askPeers(ctx context.Context, wg *sync.WaitGroup, primary peer.ID) {
	n := d.n
	asked := 0
	for _, p := range n.host.Network().Peers() {
		if p == primary || n.bans.banned(p) {
			continue
		}
		if asked++; asked > dlMaxPeers-1 {
			break
		}
		d.mu.Lock()
		d.asking++
		d.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			st, err := n.RequestStatus(sctx, p)
			ok := err == nil && st.Genesis == n.chain.GenesisHash() && st.Index >= d.first
			if ok {
				n.setPeerStatus(p, st)
			}
			d.mu.Lock()
			d.asking--
			if ok {
				d.peers = append(d.peers, &dlPeer{id: p, name: p.String(), has: st.Index})
			}
			d.mu.Unlock()
			d.signal()
		}()
	}
}

func (d *downloader) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run schedules requests, watches for stalls and commits in order (one
// commit at a time, on its own goroutine, so requests go on meanwhile),
// until every block is added, a block is invalid, or no peer can go on.
func (d *downloader) run(ctx context.Context, wg *sync.WaitGroup) error {
	stall := d.n.cfg.SyncStallTimeout
	tick := time.NewTicker(max(stall/4, 10*time.Millisecond))
	defer tick.Stop()
	defer func() {
		if d.checking {
			<-d.checked
		}
		if d.committing {
			<-d.commitErr
		}
	}()
	for {
		d.mu.Lock()
		if d.failed != nil {
			err := d.failed
			d.mu.Unlock()
			return err
		}
		if d.next == len(d.hashes) && !d.committing {
			d.mu.Unlock()
			return nil
		}
		d.checkStalls(stall)
		d.schedule(ctx, wg)
		if !d.committing && d.ready != nil {
			pc := d.ready
			d.ready, d.committing = nil, true
			go func() { d.commitErr <- d.commit(pc) }()
		}
		var batch []*chain.Block
		if !d.checking && d.ready == nil {
			batch = d.takeCommit()
		}
		if batch != nil {
			d.checking = true
			d.taken += len(batch)
			d.clock.precheckStarted()
			go func() {
				t0 := time.Now()
				pc := d.n.chain.PrecheckBlocks(batch)
				d.mu.Lock()
				d.clock.prechecked(time.Since(t0))
				d.mu.Unlock()
				d.checked <- pc
			}()
		}
		idle := !d.checking && !d.committing && d.ready == nil
		if idle && len(d.inflight) == 0 && d.asking == 0 && !d.canSchedule() {
			d.mu.Unlock()
			return fmt.Errorf("download: %d of %d blocks left and no peer has them", len(d.hashes)-d.next, len(d.hashes))
		}
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-d.commitErr:
			d.mu.Lock()
			d.committing = false
			d.mu.Unlock()
			if err != nil {
				return err
			}
		case pc := <-d.checked:
			d.mu.Lock()
			d.checking, d.ready = false, pc
			d.mu.Unlock()
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// takeCommit returns the run of received blocks at d.taken to precheck
// and commit next: a full commit's worth, or whatever is there when the
// rest is not (the end of the download, a full window, or nothing
// arriving right after it), or, since it is called only when the precheck
// stage is idle, a run of at least dlUnit blocks carrying at least dlUnit
// signatures: their verification starts now rather than when a whole
// commit's worth has arrived (a 10-transaction sync's cores waited for the
// first 1,024 blocks). Coinbase-only blocks carry none and wait, as each
// commit pays its fsyncs. d.mu held.
func (d *downloader) takeCommit() []*chain.Block {
	end := d.taken
	size, sigs := 0, 0
	for end < len(d.hashes) && d.blocks[end] != nil && !d.commitFull(end-d.taken, size) {
		size += d.blocks[end].Size()
		sigs += max(len(d.blocks[end].Txs)-1, 0)
		end++
	}
	if end == d.taken {
		return nil
	}
	full := d.commitFull(end-d.taken, size)
	// The block after the run is neither received nor in flight: waiting
	// would gain nothing.
	waiting := end < len(d.hashes) && d.covered(end)
	worth := end-d.taken >= dlUnit && sigs >= dlUnit
	if !full && end < len(d.hashes) && waiting && !d.windowFull() && !worth {
		return nil
	}
	return slices.Clone(d.blocks[d.taken:end]) // commit clears d.blocks' entries
}

// covered reports whether position i is in flight. d.mu held.
func (d *downloader) covered(i int) bool {
	for r := range d.inflight {
		if i >= r.next && i < r.r.hi {
			return true
		}
	}
	return false
}

// commitBlocks is how many blocks one commit of the download takes:
// Config.SyncCommitBlocks, at most dlCommitBlocks (more if they are small:
// commitFull). The window holds about three commits (schedule): one
// committing, one prechecked, one arriving; all count against the peak
// RSS.
func (d *downloader) commitBlocks() int {
	return min(d.n.cfg.SyncCommitBlocks, dlCommitBlocks)
}

// smallCommitBlocks is the cap for small blocks (a smaller
// Config.SyncCommitBlocks keeps its own).
func (d *downloader) smallCommitBlocks() int {
	if d.n.cfg.SyncCommitBlocks < dlCommitBlocks {
		return d.commitBlocks()
	}
	return dlSmallCommitBlocks
}

// commitFull reports whether a commit of n blocks of size bytes in all
// is as big as one may be.
func (d *downloader) commitFull(n, size int) bool {
	if size >= syncCommitBytes {
		return true
	}
	if n < d.commitBlocks() {
		return false
	}
	return n >= d.smallCommitBlocks() || size >= dlSmallCommitBytes
}

func (d *downloader) windowFull() bool {
	return d.bytes >= dlWindowBytes
}

// commit adds a prechecked run of blocks (the next to commit); a block
// that breaks a rule is the fault of the peer that sent it.
func (d *downloader) commit(pc *chain.Prechecked) error {
	t0 := time.Now()
	k, res, err := d.n.chain.AddPrechecked(pc)
	took := time.Since(t0)
	d.n.metrics.BlocksSynced.Add(uint64(k))
	d.mu.Lock()
	d.clock.committed(took)
	start := d.next
	var bad *dlPeer
	if err != nil && k < pc.Len() {
		bad = d.from[start+k]
	}
	// The source the events and the dashboard show: the peer that served
	// the last block this commit connected (it was empty: "from ").
	src := ""
	if k > 0 && d.from[start+k-1] != nil {
		src = d.from[start+k-1].name
	}
	now := time.Now()
	for i := start; i < start+pc.Len(); i++ {
		if i < start+k && d.from[i] != nil {
			d.n.arrivals.note(d.hashes[i], d.from[i].name, now)
		}
		d.bytes -= d.blocks[i].Size()
		d.blocks[i], d.from[i] = nil, nil
	}
	d.next = start + pc.Len()
	d.mu.Unlock()
	d.n.added(res, src)
	switch {
	case err == nil:
		return nil
	case ourStoreFault(err), errors.Is(err, chain.ErrUnknownParent):
		// Our disk; or our chain lost the parent since the headers
		// connected to it (a failed commit reloads the chain from the
		// store): the blocks match the headers we checked, so the peer
		// sent what we asked.
		return fmt.Errorf("block %d of batch: %w", k, err)
	default:
		d.n.metrics.BlocksRejected.Add(1)
		err = fmt.Errorf("%w: block %d of batch: %w", errPeerMisbehaved, k, err)
		if bad != nil {
			d.n.syncFailed(bad.id, err)
		}
		return err
	}
}

// canSchedule reports whether some queued range has a peer that could
// take it. d.mu held.
func (d *downloader) canSchedule() bool {
	for _, r := range d.queue {
		for _, p := range d.peers {
			if !p.out && p.has >= d.first+uint64(r.lo) {
				return true
			}
		}
	}
	return false
}

// schedule starts requests: each peer with room takes the first queued
// range it holds, within the window. d.mu held.
func (d *downloader) schedule(ctx context.Context, wg *sync.WaitGroup) {
	// Three commits' worth of positions past the first not committed
	// (and dlWindowBytes); small blocks, while what waits stays small, three
	// small commits'.
	span := 3 * d.commitBlocks()
	if d.bytes < dlSmallCommitBytes {
		span = 3 * d.smallCommitBlocks()
	}
	windowEnd := d.next + span
	for progress := true; progress; {
		progress = false
		for _, p := range d.peers {
			if p.out || p.inFlight >= dlInFlight || d.windowFull() {
				continue
			}
			qi := slices.IndexFunc(d.queue, func(r dlRange) bool { return p.has >= d.first+uint64(r.lo) })
			if qi < 0 || d.queue[qi].lo >= windowEnd {
				continue
			}
			r := d.queue[qi]
			d.queue = slices.Delete(d.queue, qi, qi+1)
			if last := int(p.has - d.first); p.has < d.first+uint64(r.hi-1) {
				// The peer holds only part of it: the rest stays queued.
				d.requeue(dlRange{last + 1, r.hi})
				r.hi = last + 1
			}
			rctx, cancel := context.WithCancel(ctx)
			now := time.Now()
			req := &dlRequest{p: p, r: r, next: r.lo, last: now, started: now, cancel: cancel}
			d.inflight[req] = struct{}{}
			p.inFlight++
			progress = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				d.fetchRange(rctx, req)
			}()
		}
	}
}

// requeue puts a range back, in order. d.mu held.
func (d *downloader) requeue(r dlRange) {
	if r.lo >= r.hi {
		return
	}
	i, _ := slices.BinarySearchFunc(d.queue, r.lo, func(q dlRange, lo int) int { return q.lo - lo })
	d.queue = slices.Insert(d.queue, i, r)
}

// checkStalls cancels requests that delivered nothing for stall, and the
// one holding the next block to commit once it has run that long while a
// peer is free to take it. d.mu held.
func (d *downloader) checkStalls(stall time.Duration) {
	now := time.Now()
	free := false
	for _, p := range d.peers {
		if !p.out && p.inFlight < dlInFlight {
			free = true
		}
	}
	// The head of the line: the first block not received, which the
	// commits wait for.
	hol := d.next
	for hol < len(d.blocks) && d.blocks[hol] != nil {
		hol++
	}
	for r := range d.inflight {
		if r.stalled {
			continue
		}
		silent := now.Sub(r.last) > stall
		holding := free && hol >= r.next && hol < r.r.hi && now.Sub(r.started) > stall && d.others(r.p)
		if silent || holding {
			r.stalled = true
			r.p.out, r.p.stalled = true, true
			d.n.log.Debug("sync: peer stalled, moving its blocks", "peer", r.p.id, "from", d.first+uint64(r.next), "silent", silent)
			r.cancel()
		}
	}
}

// others reports whether a peer other than p can still work. d.mu held.
func (d *downloader) others(p *dlPeer) bool {
	for _, q := range d.peers {
		if q != p && !q.out {
			return true
		}
	}
	return false
}

// fetchRange runs one request and files its blocks; whatever it did not
// deliver goes back to the queue.
func (d *downloader) fetchRange(ctx context.Context, req *dlRequest) {
	err := d.fetchRangeErr(ctx, req)
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.inflight, req)
	req.p.inFlight--
	d.requeue(dlRange{req.next, req.r.hi})
	switch {
	case err == nil && req.next < req.r.hi:
		// A short reply: the peer does not hold the rest (or the budget
		// ran out, which the next request picks up).
		if req.next == req.r.lo {
			req.p.has = min(req.p.has, d.first+uint64(req.r.lo)-1)
		}
	case err == nil:
	case errors.Is(err, errPeerMisbehaved):
		req.p.out = true
		d.n.syncFailed(req.p.id, err)
	case ctx.Err() != nil && req.stalled:
		// Moved away by the stall detector.
	case ctx.Err() != nil:
		// The download is over.
	default:
		req.p.out = true // a failed stream: not its fault as far as we know
		d.n.log.Debug("sync: download request failed", "peer", req.p.id, "err", err)
	}
	d.signal()
}

func (d *downloader) fetchRangeErr(ctx context.Context, req *dlRequest) error {
	n := d.n
	_, r, release, err := n.request(ctx, req.p.id, encodeHashesRequest(d.hashes[req.r.lo:req.r.hi], dlReplyBytes))
	if err != nil {
		return err
	}
	defer release()
	var buf []byte
	defer func() { putFrameBuf(buf) }()
	for {
		frame, err := readFrameInto(r, n.batchLimit(), &buf)
		var blocks []*chain.Block
		if err == nil {
			blocks, err = decodeBatch(frame, n.cfg.SyncBatchBlocks, n.cfg.Params.MaxBlockBytes)
		}
		if isProtocolViolation(err) {
			return fmt.Errorf("%w: %w", errPeerMisbehaved, err)
		}
		if err != nil {
			return ctxErr(ctx, err)
		}
		if len(blocks) == 0 {
			return nil
		}
		// With SyncPreverify, check the signatures now, on all cores,
		// while earlier blocks are being stored: the commit then finds
		// them verified (chain/sigcache.go) and its serial part overlaps
		// this.
		if n.cfg.SyncPreverify {
			n.chain.PreverifyBlocks(blocks)
		}
		d.mu.Lock()
		if req.next+len(blocks) > req.r.hi {
			d.mu.Unlock()
			return fmt.Errorf("%w: %d blocks for %d asked", errPeerMisbehaved, req.next+len(blocks)-req.r.lo, req.r.hi-req.r.lo)
		}
		kept := 0
		for _, b := range blocks {
			if b.Hash() != d.hashes[req.next] {
				d.mu.Unlock()
				return fmt.Errorf("%w: block %s where %s was asked", errPeerMisbehaved, b.Hash(), d.hashes[req.next])
			}
			if d.blocks[req.next] == nil && req.next >= d.next {
				d.blocks[req.next], d.from[req.next] = b, req.p
				d.bytes += b.Size()
				req.p.served++
				kept++
			}
			req.next++
		}
		d.clock.received(kept)
		req.last = time.Now()
		d.mu.Unlock()
		d.signal()
	}
}

// frameBufs holds the download's frame buffers: a frame is garbage once
// decoded (the blocks copy what they keep), and a fresh one per frame of
// up to 4 MiB, zeroed, was most of the bytes a sync allocated.
var frameBufs sync.Pool

// readFrameInto is readFrame reading into *buf, grown as needed (from
// frameBufs at first); the frame is valid until the next call.
func readFrameInto(r *bufio.Reader, limit int, buf *[]byte) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("frame of %d bytes, limit %d: %w", n, limit, errFrameTooBig)
	}
	if *buf == nil {
		if b, ok := frameBufs.Get().(*[]byte); ok {
			*buf = *b
		}
	}
	if uint64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	frame := (*buf)[:n]
	if _, err := io.ReadFull(r, frame); err != nil {
		return nil, err
	}
	return frame, nil
}

// getSendBuf is a buffer for a server's batch frames, from frameBufs:
// growing a fresh one to a batch's size each reply was about a quarter of what
// serving a coinbase-only block cost.
func getSendBuf() []byte {
	if b, ok := frameBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 64<<10)
}

func putFrameBuf(b []byte) {
	if b != nil {
		frameBufs.Put(&b)
	}
}

// syncParallel is SyncFrom's loop: headers from p, as far as a session
// goes, then their blocks from every peer that has them; again until p is
// not ahead of us. The download penalises the peers it finds at fault
// itself, so its errors are not held against p.
func (n *Node) syncParallel(ctx context.Context, p peer.ID) (DownloadStats, error) {
	clock := newSyncClock()
	total, err := n.syncSessions(ctx, p, clock)
	total.Phases = clock.finish()
	ph := total.Phases
	n.lastSync.p.Store(&ph)
	return total, err
}

// syncSessions is syncParallel's loop, its phases kept on clock.
func (n *Node) syncSessions(ctx context.Context, p peer.ID, clock *syncClock) (DownloadStats, error) {
	total := DownloadStats{Served: make(map[peer.ID]int)}
	for ctx.Err() == nil {
		t0 := time.Now()
		hb, err := n.headerBranch(ctx, p, true)
		clock.headers(time.Since(t0))
		if err != nil || hb == nil {
			n.syncFailed(p, err)
			return total, err
		}
		first, hashes := hb.Hashes()
		if len(hashes) == 0 {
			return total, nil
		}
		clock.downloading()
		st, err := n.downloadBlocks(ctx, clock, p, first, hashes)
		for id, k := range st.Served {
			total.Served[id] += k
		}
		total.Stalled = append(total.Stalled, st.Stalled...)
		total.Failed = append(total.Failed, st.Failed...)
		if err != nil {
			return total, err
		}
	}
	return total, ctx.Err()
}
