package node

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Relay before commit (issue 12; BIP152's high-bandwidth mode, Bitcoin
// Core's NewPoWValidBlock). A compact block is forwarded as soon as
//
//   - its header passed chain.CheckHeader: proof of work at the bits its
//     parent requires, a known parent not known invalid, index, timestamp,
//     the low-work rule;
//   - the block rebuilt from it matches the header's Merkle root and passes
//     chain.CheckBlockShape (coinbase, duplicates, amounts, limits);
//
// and the rest — signatures of transactions our mempool did not hold,
// state, the store commit with its fsync — runs afterwards on one goroutine
// per node, in arrival order, so a block is added after its parent. Until
// then the block is *pending*: blocktxn requests from the peers we relayed
// it to are served from here, and a child waits for it.
//
// Penalties. A block that fails after we relayed it was relayed by honest
// peers too, who checked what we checked: BIP152 says a node SHOULD NOT ban
// a peer for announcing a block with a valid header that turns out invalid,
// and Bitcoin Core does not punish compact-block relays for
// BLOCK_CONSENSUS or BLOCK_MUTATED failures (MaybePunishNodeForBlock,
// via_compact_block). So the relay that sent it is not penalised; the
// block's author (the gossip message's signed origin: honest nodes publish
// only blocks they mined or connected) is, as judgeBlock would penalise a
// sender, and the block is remembered as failed so that the same block in
// another message costs a map lookup. Everything an honest relay checks
// first — encoding, proof of work, context, Merkle root, body shape — is
// still judged at once against the peer that sent it (judgeBlock).
//
// Cost to an attacker. Every block that reaches the pending stage carries
// a proof of work at the network's current difficulty on a known valid
// parent, within the low-work margin of our head: each costs the attacker a
// real block, and costs every node one full validation, once (the failed
// set, then the tree, refuse it again for a lookup). A child of a failed
// block is refused by its header.

// Bounds of the pending queue and of the failed set.
const (
	earlyQueueLen  = 64   // blocks relayed and waiting for their commit
	earlyFailedLen = 4096 // hashes of blocks that failed after relay
)

type earlyRelay struct {
	mu      sync.Mutex
	pending map[chain.Hash]*earlyBlock
	failed  map[chain.Hash]struct{}
	order   []chain.Hash // failed, oldest first, for eviction
	queue   chan *earlyBlock

	relayed, committed, failedN     atomic.Uint64
	relayNanos, waitNanos, addNanos atomic.Int64 // summed over blocks: see CompactStats

	// gate, when a test sets it (holdCommits), holds every commit until
	// it is closed: a commit made slow for real, whatever it locks.
	gate atomic.Pointer[chan struct{}]
}

// holdCommits holds this node's commits of relayed blocks until release
// is called. For tests.
func (n *Node) holdCommits() (release func()) {
	ch := make(chan struct{})
	n.compact.early.gate.Store(&ch)
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// earlyBlock is a block relayed before its commit.
type earlyBlock struct {
	block        *chain.Block
	shaped       *chain.ShapedBlock // block's shape check (nil for the miner's own, held)
	hash         chain.Hash
	from, author peer.ID   // the peer that delivered it, the message's origin
	start        time.Time // when its message reached our validator
	relayedAt    time.Time
	done         chan struct{} // closed once added or refused
	err          error         // AddBlock's, set before done closes
}

func newEarlyRelay() *earlyRelay {
	return &earlyRelay{
		pending: make(map[chain.Hash]*earlyBlock),
		failed:  make(map[chain.Hash]struct{}),
		queue:   make(chan *earlyBlock, earlyQueueLen),
	}
}

// errPending means the block is already pending here.
var errPending = errors.New("block already pending")

// enqueue makes e pending and queues its commit; it blocks while the queue
// is full (a backlog of blocks with proofs of work: pubsub's validation
// queue then holds the rest).
func (r *earlyRelay) enqueue(ctx context.Context, e *earlyBlock) error {
	r.mu.Lock()
	if _, ok := r.pending[e.hash]; ok {
		r.mu.Unlock()
		return errPending
	}
	r.pending[e.hash] = e
	r.mu.Unlock()
	select {
	case r.queue <- e:
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		delete(r.pending, e.hash)
		r.mu.Unlock()
		return ctx.Err()
	}
}

// hold makes b pending without queueing it: the miner's block, published
// before the miner's own AddBlock, which the returned func ends.
func (r *earlyRelay) hold(b *chain.Block) (release func()) {
	e := &earlyBlock{block: b, hash: b.Hash(), done: make(chan struct{})}
	r.mu.Lock()
	if _, ok := r.pending[e.hash]; ok {
		r.mu.Unlock()
		return func() {}
	}
	r.pending[e.hash] = e
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.pending, e.hash)
		r.mu.Unlock()
		close(e.done)
	}
}

// block returns a pending block, for blocktxn requests.
func (r *earlyRelay) block(h chain.Hash) *chain.Block {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.pending[h]; e != nil {
		return e.block
	}
	return nil
}

// state reports whether h is pending, or failed after relay.
func (r *earlyRelay) state(h chain.Hash) (pending, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, pending = r.pending[h]
	_, failed = r.failed[h]
	return pending, failed
}

// wait waits for the commit of h if it is pending (a compact block's
// parent: its header's context needs the parent in the tree). It reports
// whether h failed after relay.
func (r *earlyRelay) wait(ctx context.Context, h chain.Hash) (failed bool, err error) {
	r.mu.Lock()
	e := r.pending[h]
	_, failed = r.failed[h]
	r.mu.Unlock()
	if e == nil {
		return failed, nil
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	_, failed = r.state(h)
	return failed, nil
}

// finish ends e's pending time with AddBlock's outcome; a block that broke
// a rule joins the failed set (bounded: the oldest goes).
func (r *earlyRelay) finish(e *earlyBlock, err error, broke bool) {
	r.mu.Lock()
	delete(r.pending, e.hash)
	if broke {
		if _, ok := r.failed[e.hash]; !ok {
			if len(r.order) >= earlyFailedLen {
				delete(r.failed, r.order[0])
				r.order = r.order[1:]
			}
			r.failed[e.hash] = struct{}{}
			r.order = append(r.order, e.hash)
		}
	}
	r.mu.Unlock()
	e.err = err
	close(e.done)
}

// commitRelayed adds relayed blocks to the chain, one at a time in the
// order they were relayed, until the node stops.
func (n *Node) commitRelayed() {
	r := n.compact.early
	for {
		select {
		case e := <-r.queue:
			n.commitOne(e)
		case <-n.ctx.Done():
			return
		}
	}
}

func (n *Node) commitOne(e *earlyBlock) {
	r := n.compact.early
	if g := r.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-n.ctx.Done():
		}
	}
	t0 := time.Now()
	r.waitNanos.Add(int64(t0.Sub(e.relayedAt)))
	// Every relayed block passed checkShape in rebuild (the body as
	// rebuilt or as fetched whole), and nothing changes it since.
	res, err := n.chain.AddShapedBlock(e.shaped)
	r.addNanos.Add(int64(time.Since(t0)))
	broke := err != nil && brokeRule(err)
	r.finish(e, err, broke)
	switch {
	case err == nil:
		r.committed.Add(1)
		n.noteArrival(e.from.String(), e.start, e.block)
		if res.Status == chain.StatusOrphan { // cannot happen: its parent was in the tree
			n.syncAsync(e.from)
			return
		}
		n.metrics.BlocksReceived.Add(1)
		n.log.Debug("relayed block added", "block", e.hash, "status", res.Status, "from", e.from)
		n.added(res, e.from.String())
	case !broke:
		// Known by now (sync, the full-block topic), a head that moved
		// on, or our own store: nobody's fault.
		if errors.Is(err, chain.ErrStoreFailed) || errors.Is(err, chain.ErrStoreDamaged) {
			n.log.Error("relayed block not stored", "block", e.hash, "err", err)
		} else {
			n.log.Debug("relayed block not added", "block", e.hash, "err", err)
		}
	default:
		r.failedN.Add(1)
		n.metrics.BlocksRejected.Add(1)
		n.log.Info("relayed block failed validation", "block", e.hash, "from", e.from, "author", e.author, "err", err)
		// The author, not the relay (see the top of this file). A state
		// error is medium, as judgeBlock has it: a side-branch block is
		// stored without its state applied.
		sev := SeveritySevere
		if stateError(err) {
			sev = SeverityMedium
		}
		n.Penalize(e.author, sev, "authored an invalid block: "+err.Error())
	}
}

// brokeRule reports whether AddBlock's error says the block itself is
// invalid, as opposed to known, stale, too new, or our store failing.
func brokeRule(err error) bool {
	switch {
	case errors.Is(err, chain.ErrKnownBlock), errors.Is(err, chain.ErrTimeTooNew),
		errors.Is(err, chain.ErrLowWorkBranch), errors.Is(err, chain.ErrUnknownParent),
		errors.Is(err, chain.ErrStoreFailed), errors.Is(err, chain.ErrStoreDamaged):
		return false
	}
	return true
}

// stateError: broken against state, or an ancestor's, which a node can
// store on a side branch without applying.
func stateError(err error) bool {
	return errors.Is(err, chain.ErrInsufficientBalance) || errors.Is(err, chain.ErrBadNonce) || errors.Is(err, chain.ErrInvalidAncestor)
}

// publishMinedEarly publishes a block we just mined in compact form before
// our own AddBlock, as Bitcoin Core relays a block once its proof of work
// and header are checked: the template was built on our head from our
// mempool, so it is valid unless the head moved (then the header check
// fails, or the block is a valid competitor). The block is pending until
// release is called, so that peers asking for its transactions are served.
// Whole-block relay publishes after AddBlock, as before (published false).
// So does a node whose last commit failed (a full disk): its head cannot
// move, so it would publish a block on the same stale head every attempt,
// and once the network is LowWorkMargin blocks ahead, each is low work.
// ids are b's transaction ids (chain.NewBlockTemplateIDs).
func (n *Node) publishMinedEarly(b *chain.Block, ids []chain.Hash) (release func(), published bool) {
	if n.fullBlockRelay() || n.chain.StoreFailing() || n.chain.Tip().Hash != b.PrevHash || n.chain.CheckHeader(b.Header) != nil {
		return func() {}, false
	}
	release = n.compact.early.hold(b)
	if err := n.publishCompactIDs(b, ids); err != nil && n.ctx.Err() == nil {
		n.log.Warn("publish block", "block", b.Hash(), "err", err)
	}
	return release, true
}
