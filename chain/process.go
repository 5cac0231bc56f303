package chain

import (
	"fmt"
	"slices"
	"time"
)

// pending is one commit under construction: the blocks added, the state
// changes and the main-chain changes, all in memory until finish writes them
// in one store transaction and only then makes them visible.
type pending struct {
	ws           *writeSet
	state        *overlay              // account changes over c.state
	main         map[uint64]*blockNode // main-chain entries that differ from c.main
	height       uint64                // main-chain height in this view
	blocks       map[Hash]*Block       // blocks added in this commit
	undo         map[Hash][]undoEntry  // undo records written in this commit
	connected    []*Block
	disconnected []*Block
	// scratch is the overlay extend applies one block to, emptied and
	// reused: a map allocated per block was a sixth of a coinbase-only
	// sync's allocations.
	scratch *overlay
	// shaped is AddShapedBlock's block, whose ids the pool's reset uses.
	shaped *ShapedBlock
	// reuseEnc: the first block processBlock encodes goes into encBuf
	// (grown if need be), which AddBlock keeps for its next block once
	// the commit is over. Later blocks of the same commit (orphans
	// connected after it) are encoded into their own allocations, since
	// the store holds every record until the commit.
	reuseEnc bool
	encBuf   []byte
}

// encBufMax is the largest encoding buffer a Chain keeps between blocks.
const encBufMax = 2 << 20

// scratchMax is the most accounts a block may touch for extend to keep
// its scratch map for the next block.
const scratchMax = 256

// blockEnc is a block's two records as processBlock stores them: its
// encoding and its header record (status stored).
type blockEnc struct{ block, header []byte }

func encodeForStore(b *Block) blockEnc {
	return blockEnc{b.Bytes(), headerRecord(&b.Header, statusStored)}
}

// encodeAllForStore is encodeForStore for a batch, the blocks' encodings
// in one allocation. PrecheckBlocks makes them, so that the serial commit
// does not.
func encodeAllForStore(blocks []*Block) []blockEnc {
	size := 0
	for _, b := range blocks {
		size += b.Size()
	}
	buf := make([]byte, 0, size)
	out := make([]blockEnc, len(blocks))
	for i, b := range blocks {
		n := len(buf)
		buf = b.appendTo(buf)
		out[i] = blockEnc{buf[n:len(buf):len(buf)], headerRecord(&b.Header, statusStored)}
	}
	return out
}

func (c *Chain) begin() *pending { return c.beginSized(0) }

// beginSized is begin for a commit of about n blocks: its maps and record
// lists made that big at once (growing them block by block, rehashing and
// copying, was a fifth of a sync commit's own work).
func (c *Chain) beginSized(n int) *pending {
	ws := newWriteSet()
	ws.oldHeight = uint64(len(c.main))
	if n > 0 {
		ws.main = make(map[uint64]Hash, n)
		ws.blocks = make(records, 0, n)
		ws.headers = make(records, 0, n)
		ws.undo = make(records, 0, n)
	}
	return &pending{
		ws:     ws,
		state:  newOverlay(c.account),
		main:   make(map[uint64]*blockNode, n),
		height: uint64(len(c.main)),
		blocks: make(map[Hash]*Block, n),
		undo:   make(map[Hash][]undoEntry, n),
	}
}

func (c *Chain) mainAt(p *pending, i uint64) *blockNode {
	if i < 1 || i > p.height {
		return nil
	}
	if n, ok := p.main[i]; ok {
		return n
	}
	return c.main[i-1]
}

func (c *Chain) tipOf(p *pending) *blockNode { return c.mainAt(p, p.height) }

func (c *Chain) blockOf(p *pending, h Hash) (*Block, error) {
	if b, ok := p.blocks[h]; ok {
		return b, nil
	}
	return c.store.block(keyOf(c.nodes[h].header.Index, h))
}

func (c *Chain) undoOf(p *pending, h Hash) ([]undoEntry, error) {
	if u, ok := p.undo[h]; ok {
		return u, nil
	}
	return c.store.undoRecord(keyOf(c.nodes[h].header.Index, h))
}

// addMode says what processBlock may assume of a block and what it allows.
type addMode struct {
	orphanOK bool // an unknown parent sends the block to the orphan pool (else: error)
	checked  bool // body and signatures already checked (outside the lock)
	allowLow bool // a low-work block is on a branch already proven to have more work
	// context checked (AddBlocks' checkBatchContext) against the same
	// ancestors' headers, which never change: not checked again.
	contextChecked bool
	// enc: the block's records, made ahead (nil: made here).
	enc *blockEnc
}

// processBlock adds a block that passed checkBlockCheap to p. The checks
// run cheapest first: known or invalid, parent (an orphan goes to the pool,
// if mode allows, with no more checks), context, the low-work rule, and
// only then, unless mode.checked, the body and the signatures.
//
// The result is a value (its Connected and Disconnected are left empty):
// a result allocated per block was one allocation in four of a sync.
func (c *Chain) processBlock(p *pending, b *Block, h Hash, mode addMode) (AddResult, error) {
	parent, err := c.place(b, h, c.tipOf(p), mode.allowLow, mode.contextChecked)
	if err != nil {
		return AddResult{}, err
	}
	if parent == nil {
		if !mode.orphanOK {
			return AddResult{}, fmt.Errorf("block %s: parent %s: %w", h, b.PrevHash, ErrUnknownParent)
		}
		if c.orphans.has(h) {
			return AddResult{}, fmt.Errorf("block %s: %w", h, ErrKnownBlock)
		}
		c.orphans.add(b)
		return AddResult{Status: StatusOrphan, MissingParent: b.PrevHash}, nil
	}
	if !mode.checked {
		if err := checkBlockBody(b, h); err != nil {
			return AddResult{}, err
		}
		if err := verifyBlockTxs(b, h, c.network, c.sigs); err != nil {
			return AddResult{}, err
		}
	}
	node := c.newNode(h, b.Header, parent)
	c.nodes[h] = node
	delete(c.proven, h)
	p.blocks[h] = b
	k := keyOf(b.Index, h)
	e := mode.enc
	if e == nil {
		var enc blockEnc
		if p.reuseEnc {
			p.reuseEnc = false
			if size := b.Size(); cap(p.encBuf) < size {
				p.encBuf = make([]byte, 0, size)
			}
			p.encBuf = b.appendTo(p.encBuf[:0])
			enc = blockEnc{p.encBuf, headerRecord(&b.Header, statusStored)}
		} else {
			enc = encodeForStore(b)
		}
		e = &enc
	}
	p.ws.blocks.put(k, e.block)
	p.ws.headers.put(k, e.header)

	tip := c.tipOf(p)
	if node.work.Cmp(tip.work) <= 0 {
		// Less or equal work: a side branch. Ties keep the first seen.
		return AddResult{Status: StatusSide}, nil
	}
	if err := c.reorganize(p, node); err != nil {
		return AddResult{}, err
	}
	if c.tipOf(p) == node {
		return AddResult{Status: StatusMain}, nil
	}
	return AddResult{Status: StatusSide}, nil
}

// place runs the checks of a block that need the tree but not its body:
// known or invalid, parent (nil, no error: an orphan), context, and the
// low-work rule against tip. It reads the tree only, so AddBlock runs it
// under the read lock before the costly checks, and processBlock again
// under the write lock.
func (c *Chain) place(b *Block, h Hash, tip *blockNode, allowLow, contextChecked bool) (*blockNode, error) {
	if n, ok := c.nodes[h]; ok {
		if n.status == statusInvalid {
			return nil, fmt.Errorf("block %s: known to be invalid: %w", h, ErrInvalidAncestor)
		}
		return nil, fmt.Errorf("block %s: %w", h, ErrKnownBlock)
	}
	parent := c.nodes[b.PrevHash]
	if parent == nil {
		return nil, nil
	}
	if parent.status == statusInvalid {
		return nil, fmt.Errorf("block %s: parent %s: %w", h, parent.hash, ErrInvalidAncestor)
	}
	if !contextChecked {
		if err := c.checkContext(&b.Header, h, parent); err != nil {
			return nil, err
		}
	}
	if !allowLow {
		if err := c.checkWork(h, workAfter(parent, b.Bits), tip); err != nil {
			return nil, err
		}
	}
	return parent, nil
}

// checkContext checks the rules that need the parent: index, difficulty and
// timestamp.
func (c *Chain) checkContext(b *Header, h Hash, parent *blockNode) error {
	if b.Index != parent.header.Index+1 {
		return fmt.Errorf("block %s: index %d after %d: %w", h, b.Index, parent.header.Index, ErrBadIndex)
	}
	if want := expectedBits(parent, c.p); b.Bits != want {
		return fmt.Errorf("block %s: bits %08x, want %08x: %w", h, b.Bits, want, ErrBadDifficulty)
	}
	if mtp := medianTimePast(parent); b.Timestamp <= mtp {
		return fmt.Errorf("block %s: timestamp %d not after median %d: %w", h, b.Timestamp, mtp, ErrTimeTooOld)
	}
	if limit := c.now().Add(c.p.MaxFutureDrift).UnixMilli(); b.Timestamp > limit {
		return fmt.Errorf("block %s: timestamp %d beyond %d: %w", h, b.Timestamp, limit, ErrTimeTooNew)
	}
	return nil
}

// reorganize makes target the head if its branch's transactions are valid.
// It undoes the main chain back to the fork point and applies the branch on
// a scratch overlay; nothing in p changes unless every block applies. When a
// block fails, it and the rest of the branch are marked invalid, and the
// valid part of the branch is tried instead if it still has more work.
func (c *Chain) reorganize(p *pending, target *blockNode) error {
	var firstErr error
	for target != nil && target.work.Cmp(c.tipOf(p).work) > 0 {
		bad, err := c.tryReorganize(p, target)
		if err == nil {
			return firstErr
		}
		if bad == nil { // not a rule break: a read error
			return err
		}
		if firstErr == nil {
			firstErr = err
		}
		for n := target; n != bad.parent; n = n.parent {
			n.status = statusInvalid
			p.ws.headers.put(keyOf(n.header.Index, n.hash), headerRecord(&n.header, statusInvalid))
		}
		target = bad.parent
	}
	return firstErr
}

// tryReorganize returns the block that broke a rule, if one did.
func (c *Chain) tryReorganize(p *pending, target *blockNode) (*blockNode, error) {
	if target.parent != nil && target.parent == c.tipOf(p) {
		return c.extend(p, target)
	}
	// The branch from the fork point (exclusive) to target, oldest first.
	var attach []*blockNode
	fork := target
	for ; c.mainAt(p, fork.header.Index) != fork; fork = fork.parent {
		attach = append(attach, fork)
	}
	slices.Reverse(attach)

	scratch := newOverlay(p.state.get)
	var detached []*Block
	for i := p.height; i > fork.header.Index; i-- {
		n := c.mainAt(p, i)
		undo, err := c.undoOf(p, n.hash)
		if err != nil {
			return nil, err
		}
		blk, err := c.blockOf(p, n.hash)
		if err != nil {
			return nil, err
		}
		disconnectBlock(scratch, undo)
		detached = append(detached, blk)
	}
	attached := make([]*Block, 0, len(attach))
	undos := make([][]undoEntry, 0, len(attach))
	for _, n := range attach {
		blk, err := c.blockOf(p, n.hash)
		if err != nil {
			return nil, err
		}
		child := newOverlay(scratch.get)
		undo, err := applyBlock(child, blk, c.p.BlockReward)
		if err != nil {
			return n, err
		}
		for a, acct := range child.accts {
			scratch.accts[a] = acct
		}
		attached = append(attached, blk)
		undos = append(undos, undo)
	}

	// Every block applied: make it p's view.
	for a, acct := range scratch.accts {
		p.state.accts[a] = acct
	}
	for i, n := range attach {
		p.main[n.header.Index] = n
		p.undo[n.hash] = undos[i]
		p.ws.undo.put(keyOf(n.header.Index, n.hash), encodeUndo(undos[i]))
		p.ws.main[n.header.Index] = n.hash
		if n.status != statusValid {
			n.status = statusValid
			p.ws.headers.put(keyOf(n.header.Index, n.hash), headerRecord(&n.header, statusValid))
		}
	}
	for i := target.header.Index + 1; i <= p.height; i++ {
		delete(p.main, i)
		delete(p.ws.main, i)
	}
	p.height = target.header.Index
	p.ws.head = &target.hash
	p.disconnected = append(p.disconnected, detached...)
	p.connected = append(p.connected, attached...)
	return nil, nil
}

// extend is tryReorganize for a block on the tip, a sync's every block:
// nothing to disconnect, one block to apply, without the reorg's scratch
// state and branch lists.
func (c *Chain) extend(p *pending, target *blockNode) (*blockNode, error) {
	blk, err := c.blockOf(p, target.hash)
	if err != nil {
		return nil, err
	}
	if p.scratch == nil {
		p.scratch = newOverlay(p.state.get)
	}
	child := p.scratch
	clear(child.accts)
	undo, err := applyBlock(child, blk, c.p.BlockReward)
	if err != nil {
		return target, err
	}
	// The undo record names every account the block wrote, once: walked
	// instead of the map, whose walk (and clear) costs its capacity.
	for _, u := range undo {
		p.state.accts[u.addr] = child.accts[u.addr]
	}
	if len(undo) > scratchMax {
		p.scratch = nil // a big block's map: not kept for small ones
	}
	i, k := target.header.Index, keyOf(target.header.Index, target.hash)
	p.main[i] = target
	p.undo[target.hash] = undo
	p.ws.undo.put(k, encodeUndo(undo))
	p.ws.main[i] = target.hash
	if target.status != statusValid {
		target.status = statusValid
		p.ws.headers.put(k, headerRecord(&target.header, statusValid))
	}
	p.height = i
	p.ws.head = &target.hash
	p.connected = append(p.connected, blk)
	return nil, nil
}

// connectOrphans adds the orphans waiting for parent, and theirs in turn.
func (c *Chain) connectOrphans(p *pending, parent Hash) {
	queue := []Hash{parent}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		for _, b := range c.orphans.takeChildren(h) {
			// Orphans were checked for their header only: they get
			// every other check here.
			bh := b.Hash()
			if _, err := c.processBlock(p, b, bh, addMode{}); err != nil {
				c.log.Debug("orphan rejected", "block", bh, "err", err)
				continue
			}
			queue = append(queue, bh)
		}
	}
}

// finish writes p in one store transaction, then makes it visible: head
// state, main chain and mempool. If the write fails the chain refuses
// further writes (memory may be ahead of disk) until reopened.
func (c *Chain) finish(p *pending) error {
	for a, acct := range p.state.accts {
		p.ws.state[a] = acct
	}
	p.ws.mainHeight = p.height
	if err := c.store.commit(p.ws); err != nil {
		c.broken = fmt.Errorf("%w (retried once a second): %w", ErrStoreFailed, err)
		c.brokenAt = time.Now()
		c.writeFailed = true
		return c.broken
	}
	c.writeFailed = false
	for a, acct := range p.state.accts {
		if acct.isZero() {
			delete(c.state, a)
		} else {
			c.state[a] = acct
		}
	}
	if len(p.main) > 0 {
		low := p.height
		for i := range p.main {
			low = min(low, i)
		}
		if low <= uint64(len(c.main)) {
			c.main = slices.Clone(c.main[:low-1])
		}
		for i := low; i <= p.height; i++ {
			c.main = append(c.main, p.main[i])
		}
	}
	// A disconnected block's transfers were verified when it was
	// connected; those that come back to the pool or into another block
	// need no check again.
	for _, b := range p.disconnected {
		for _, tx := range b.Txs[min(1, len(b.Txs)):] {
			c.sigs.put(tx.ID())
		}
	}
	if len(p.connected) > 0 || len(p.disconnected) > 0 {
		var ids func(*Block) []Hash
		if p.shaped != nil {
			ids = p.shaped.idsOf
		}
		c.pool.resetIDs(c.account, p.connected, p.disconnected, ids)
	}
	return nil
}
