package chain

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"
)

// Options configure a Chain.
type Options struct {
	Params          Params
	Now             func() time.Time // clock for the future-timestamp rule; time.Now if nil
	Logger          *slog.Logger
	MempoolMaxTxs   int // default 10,000
	MempoolMaxBytes int // default 10,000 transactions' worth
	MaxOrphans      int // default 256
}

// Chain is the ledger: the block tree with its main chain, the head state,
// the orphan pool and the mempool, backed by a Store. It is safe for
// concurrent use.
type Chain struct {
	p     Params
	store *Store
	now   func() time.Time
	log   *slog.Logger

	mu       sync.RWMutex
	nodes    map[Hash]*blockNode
	main     []*blockNode // main[i] has index i+1
	state    map[Address]Account
	orphans  *orphanPool
	pool     *Mempool
	broken   error     // a failed disk commit: memory and disk may differ, refuse writes
	brokenAt time.Time // when broken was set or a recovery last tried (recover.go)
	// writeFailed is set with broken and cleared only by a commit that
	// succeeds: a reload clears broken while the disk may still be full.
	writeFailed bool
	network     Hash              // the genesis hash, which signatures commit to
	proven      map[Hash]struct{} // blocks of header chains proven heavier than our head
	sigs        *sigCache         // transfers verified ahead of their block (sigcache.go)
	slab        nodeSlab          // where processBlock's tree nodes come from (tree.go)
	// encBuf is the buffer AddBlock encodes its block into for the
	// store, kept for the next AddBlock once the commit is over (bbolt
	// holds a Put value only until its transaction ends). A 2,000-tx
	// block is 300 KB: allocated and zeroed per block at every node,
	// it was a fifth of what a relayed block's commit allocates.
	encBuf []byte
}

// Open opens the ledger stored at path, creating it with the genesis block of
// opts.Params if the file is new. A store of another network is refused.
// Opening reads the stored tree and state; it does not re-validate blocks.
func Open(path string, opts Options) (*Chain, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MempoolMaxTxs <= 0 {
		opts.MempoolMaxTxs = 10000
	}
	if opts.MempoolMaxBytes <= 0 {
		opts.MempoolMaxBytes = opts.MempoolMaxTxs * TxSize
	}
	if opts.MaxOrphans <= 0 {
		opts.MaxOrphans = 256
	}
	store, err := OpenStore(path)
	if err != nil {
		return nil, err
	}
	c := &Chain{
		p:       opts.Params,
		store:   store,
		now:     opts.Now,
		log:     opts.Logger,
		nodes:   make(map[Hash]*blockNode),
		state:   make(map[Address]Account),
		orphans: newOrphanPool(opts.MaxOrphans, opts.MaxOrphans*opts.Params.MaxBlockBytes/8),
		pool:    NewMempool(opts.MempoolMaxTxs, opts.MempoolMaxBytes),
		network: NetworkID(opts.Params),
		proven:  make(map[Hash]struct{}),
		sigs:    newSigCache(),
	}
	if err := c.load(); err != nil {
		store.Close()
		return nil, store.asDamage(err)
	}
	store.setLogger(opts.Logger) // damage found from now on is logged where found
	return c, nil
}

func (c *Chain) load() error {
	g := Genesis(c.p)
	gh := g.Hash()
	t, err := c.store.load()
	if err != nil {
		return fmt.Errorf("load store: %w", err)
	}
	if t.genesis.IsZero() {
		node := newBlockNode(gh, g.Header, nil)
		node.status = statusValid
		c.nodes[gh] = node
		c.main = []*blockNode{node}
		ws := newWriteSet()
		ws.blocks.put(keyOf(1, gh), g.Bytes())
		ws.headers.put(keyOf(1, gh), headerRecord(&g.Header, statusValid))
		ws.main[1] = gh
		ws.head, ws.genesis = &gh, &gh
		return c.store.commit(ws)
	}
	if t.genesis != gh {
		e := &GenesisMismatchError{Stored: t.genesis, Ours: gh, OursBits: g.Header.Bits}
		for _, rec := range t.headers {
			if rec.hash == t.genesis {
				e.StoredBits = rec.header.Bits
			}
		}
		return e
	}
	// The store keeps headers in index order, so every parent comes before
	// its children.
	for _, rec := range t.headers {
		var parent *blockNode
		if rec.hash != gh {
			parent = c.nodes[rec.header.PrevHash]
			if parent == nil {
				return fmt.Errorf("stored block %s has no stored parent: %w", rec.hash, ErrMalformed)
			}
		}
		n := newBlockNode(rec.hash, rec.header, parent)
		n.status = rec.status
		c.nodes[rec.hash] = n
	}
	c.main = make([]*blockNode, len(t.main))
	for i, h := range t.main {
		n := c.nodes[h]
		if n == nil || n.header.Index != uint64(i+1) || (i > 0 && n.parent != c.main[i-1]) {
			return fmt.Errorf("main chain entry %d (%s) does not link: %w", i+1, h, ErrMalformed)
		}
		c.main[i] = n
	}
	if len(c.main) == 0 || c.main[len(c.main)-1].hash != t.head {
		return fmt.Errorf("stored head %s is not the main chain's tip: %w", t.head, ErrMalformed)
	}
	c.state = t.state
	return nil
}

// Close closes the store.
func (c *Chain) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.store.Close()
}

// Params returns the network parameters.
func (c *Chain) Params() Params { return c.p }

// Genesis is the hash of the network's first block.
func (c *Chain) GenesisHash() Hash {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.main[0].hash
}

// Mempool is the chain's pool of pending transactions.
func (c *Chain) Mempool() *Mempool { return c.pool }

// Tip describes the head of the main chain.
type Tip struct {
	Genesis Hash
	Hash    Hash
	Index   uint64
	Work    *big.Int // cumulative
	Bits    uint32   // of the head
	Time    time.Time
}

// Tip returns the head of the main chain.
func (c *Chain) Tip() Tip {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t := c.main[len(c.main)-1]
	return Tip{Genesis: c.main[0].hash, Hash: t.hash, Index: t.header.Index, Work: new(big.Int).Set(t.work), Bits: t.header.Bits, Time: t.header.Time()}
}

// Account returns an address's state at the head.
func (c *Chain) Account(a Address) Account {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state[a]
}

func (c *Chain) account(a Address) Account { return c.state[a] }

// HasBlock reports whether the block is stored (valid or not) or an orphan.
func (c *Chain) HasBlock(h Hash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.nodes[h]
	return ok || c.orphans.has(h)
}

// IsInvalid reports whether the block is known to break a rule.
func (c *Chain) IsInvalid(h Hash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.nodes[h]
	return ok && n.status == statusInvalid
}

// BlockByHash reads a stored block.
func (c *Chain) BlockByHash(h Hash) (*Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.nodes[h]
	if !ok {
		return nil, fmt.Errorf("block %s: %w", h, ErrNotFound)
	}
	return c.store.block(keyOf(n.header.Index, h))
}

// BlockByIndex reads the main chain's block at index i (1 = genesis).
func (c *Chain) BlockByIndex(i uint64) (*Block, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if i < 1 || i > uint64(len(c.main)) {
		return nil, fmt.Errorf("block index %d of %d: %w", i, len(c.main), ErrNotFound)
	}
	n := c.main[i-1]
	return c.store.block(keyOf(i, n.hash))
}

// MainBlocks returns up to max main-chain blocks starting at index from.
func (c *Chain) MainBlocks(from uint64, limit int) ([]*Block, error) {
	return c.BlocksByHash(c.MainHashes(from, limit))
}

// Locator lists main-chain hashes from the head back to the genesis, dense
// at first and then doubling the step, so a peer can find our fork point
// with O(log n) hashes.
func (c *Chain) Locator() []Hash {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var loc []Hash
	step := 1
	for i := len(c.main) - 1; i > 0; i -= step {
		loc = append(loc, c.main[i].hash)
		if len(loc) >= 10 {
			step *= 2
		}
	}
	return append(loc, c.main[0].hash)
}

// BlocksAfter returns up to max main-chain blocks that follow the first
// locator hash on our main chain (the fork point with the asker).
func (c *Chain) BlocksAfter(locator []Hash, limit int) ([]*Block, error) {
	return c.BlocksByHash(c.MainHashesAfter(locator, limit))
}

// MainHashesAfter is BlocksAfter's list of hashes: a consistent snapshot of
// the main chain that a server can then read and send a batch at a time,
// never holding a whole reply of blocks in memory.
func (c *Chain) MainHashesAfter(locator []Hash, limit int) []Hash {
	c.mu.RLock()
	start := uint64(1) // the genesis is shared by every node of the network
	for _, h := range locator {
		if n, ok := c.nodes[h]; ok && c.onMain(n) {
			start = n.header.Index
			break
		}
	}
	c.mu.RUnlock()
	return c.MainHashes(start+1, limit)
}

// MainHashes lists up to max main-chain block hashes from index from.
func (c *Chain) MainHashes(from uint64, limit int) []Hash {
	c.mu.RLock()
	defer c.mu.RUnlock()
	from = max(from, 1)
	if from > uint64(len(c.main)) || limit <= 0 {
		return nil
	}
	end := min(uint64(len(c.main)), from-1+uint64(limit))
	hs := make([]Hash, 0, end-from+1)
	for _, n := range c.main[from-1 : end] {
		hs = append(hs, n.hash)
	}
	return hs
}

// BlocksByHash reads stored blocks (main chain or not) in one read
// transaction.
func (c *Chain) BlocksByHash(hs []Hash) ([]*Block, error) {
	return c.BlocksByHashUpTo(hs, -1)
}

// BlocksByHashUpTo reads blocks in order until their encoded size would
// pass maxBytes (at least one block; -1 for no limit): a reply's next frame.
func (c *Chain) BlocksByHashUpTo(hs []Hash, maxBytes int) ([]*Block, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	ks, err := c.recordKeys(hs)
	if err != nil {
		return nil, err
	}
	return c.store.blocksUpTo(ks, maxBytes)
}

func (c *Chain) recordKeys(hs []Hash) ([]recordKey, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ks := make([]recordKey, len(hs))
	for i, h := range hs {
		n, ok := c.nodes[h]
		if !ok {
			return nil, fmt.Errorf("block %s: %w", h, ErrNotFound)
		}
		ks[i] = keyOf(n.header.Index, h)
	}
	return ks, nil
}

func (c *Chain) onMain(n *blockNode) bool {
	i := n.header.Index
	return i >= 1 && i <= uint64(len(c.main)) && c.main[i-1] == n
}

// IsMain reports whether the block is on the main chain.
func (c *Chain) IsMain(h Hash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.nodes[h]
	return ok && c.onMain(n)
}

// NewBlockTemplate builds the next block for miner on top of the head: the
// right difficulty, a timestamp after the median of the last blocks, the
// best-paying pending transactions and the coinbase. Only the nonce is left
// to find.
func (c *Chain) NewBlockTemplate(miner Address) *Block {
	b, _ := c.NewBlockTemplateIDs(miner)
	return b
}

// NewBlockTemplateIDs is NewBlockTemplate with the ids of the block's
// transactions, hashed once from the very transactions (ids[i] is
// b.Txs[i].ID()). The miner hands them to CheckBlockShapeIDs, to its
// compact block's short ids and, through the ShapedBlock, to
// AddShapedBlock, so that none of them hashes the ids again.
func (c *Chain) NewBlockTemplateIDs(miner Address) (*Block, []Hash) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	tip := c.main[len(c.main)-1]
	ts := c.now().UnixMilli()
	if mtp := medianTimePast(tip); ts <= mtp {
		ts = mtp + 1
	}
	txs := c.pool.selectTxs(c.p.MaxBlockTxs-1, c.p.MaxBlockBytes-HeaderSize-maxTxCountPrefix-TxSize)
	var fees uint64
	for _, tx := range txs {
		fees += tx.Fee
	}
	index := tip.header.Index + 1
	cb := &Tx{Recipient: miner, Amount: c.p.BlockReward + fees, Nonce: index}
	b := &Block{
		Header: Header{Index: index, Timestamp: ts, PrevHash: tip.hash, Bits: expectedBits(tip, c.p)},
		Txs:    append([]*Tx{cb}, txs...),
	}
	ids := make([]Hash, len(b.Txs), len(b.Txs)+1)
	for i, tx := range b.Txs {
		ids[i] = tx.ID()
	}
	// The Merkle root overwrites its input (and may append one entry).
	level := make([]Hash, len(ids), len(ids)+1)
	copy(level, ids)
	b.MerkleRoot = merkleRootOfIDs(level)
	return b, ids
}

// BlockStatus says where an added block ended up.
type BlockStatus int

const (
	StatusMain   BlockStatus = iota // on the main chain (extended it, or won a reorg)
	StatusSide                      // stored on a side branch with less work
	StatusOrphan                    // parent unknown: kept in the orphan pool
)

func (s BlockStatus) String() string {
	return [...]string{"main", "side", "orphan"}[s]
}

// AddResult reports what adding blocks changed.
type AddResult struct {
	Status        BlockStatus // of the block added (the last one for a batch)
	MissingParent Hash        // for an orphan: the block sync must fetch
	Connected     []*Block    // blocks that joined the main chain, in order
	Disconnected  []*Block    // blocks that left it (a reorg), tip first
	Reorg         bool
}

// AddBlock validates a block and adds it to the tree. A block on the best
// branch changes the head (possibly by a reorg); a block with less work is
// kept on a side branch; a block whose parent is unknown goes to the orphan
// pool and the result names the missing parent. Once AddBlock returns
// without error the block is on disk.
func (c *Chain) AddBlock(b *Block) (*AddResult, error) { return c.addBlock(b, nil) }

// AddShapedBlock is AddBlock for a block that passed CheckBlockShape and
// has not changed since: compact relay checks a rebuilt block's shape
// before forwarding it (node/earlyrelay.go), and hashing its 2,000 ids
// and Merkle root again was a fifth of its AddBlock. The signature cache
// is asked with the ids the shape check had. Everything else (header,
// context, signatures, state) is checked as by AddBlock.
func (c *Chain) AddShapedBlock(s *ShapedBlock) (*AddResult, error) { return c.addBlock(s.Block, s) }

// addBlock adds b; shaped, when not nil, is b's CheckBlockShape.
func (c *Chain) addBlock(b *Block, shaped *ShapedBlock) (*AddResult, error) {
	c.recoverIfBroken()
	// The checks run cheapest first (see processBlock); the costly ones,
	// body and signatures, run without the lock, after every check that
	// needs the tree passed under the read lock. processBlock repeats
	// those under the write lock, since the tree may have changed.
	h := b.Hash()
	if err := checkBlockCheap(b, h, c.p); err != nil {
		return nil, err
	}
	c.mu.RLock()
	parent, err := c.place(b, h, c.main[len(c.main)-1], false, false)
	if err == nil && parent == nil && c.orphans.has(h) {
		err = fmt.Errorf("block %s: %w", h, ErrKnownBlock)
	}
	c.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	mode := addMode{orphanOK: true}
	if parent != nil {
		var ids []Hash
		if shaped == nil {
			if err := checkBlockBody(b, h); err != nil {
				return nil, err
			}
		} else {
			ids = shaped.ids
		}
		// Transfers admitted to our mempool were verified then (same id,
		// same signed bytes: the verified-signature cache): a block of
		// gossiped transactions, rebuilt from a compact block or mined
		// here, re-verifies none.
		if err := verifyBlockTxsIDs(b, ids, c.network, c.sigs); err != nil {
			return nil, err
		}
		mode.checked = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.recoverLocked(); err != nil {
		return nil, err
	}
	p := c.begin()
	p.shaped = shaped
	p.encBuf, c.encBuf = c.encBuf[:0], nil
	p.reuseEnc = true
	r, err := c.processBlock(p, b, h, mode)
	res := &r
	if err == nil && res.Status != StatusOrphan {
		// Not for an orphan: its waiting children would be taken out of
		// the pool and fail for want of a parent.
		c.connectOrphans(p, h)
	}
	cerr := c.finish(p)
	// The commit is over, whether it succeeded or not: nothing refers to
	// the buffer any more.
	if cap(p.encBuf) <= encBufMax {
		c.encBuf = p.encBuf[:0]
	}
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, err
	}
	res.Connected, res.Disconnected, res.Reorg = p.connected, p.disconnected, len(p.disconnected) > 0
	return res, nil
}

// AddBlocks is the sync path: blocks that should extend each other, written
// in one commit. The checks run by cost over the whole batch: the cheap
// ones of every block, then the context of every block (linking, index,
// difficulty, time, the low-work rule) against the tree, then the bodies,
// and only then the signatures, on all cores. It stops at the first invalid
// block, keeps the valid ones before it, and returns how many were accepted
// with the error. Blocks already known are skipped.
//
// Blocks of a branch with less work than the head are stored only if a
// later block of the same batch, or a proven header chain
// (HeaderBranch.Prove), shows that the branch is heavy enough.
func (c *Chain) AddBlocks(blocks []*Block) (int, *AddResult, error) {
	return c.addBlocks(blocks, nil)
}

// addBlocks is AddBlocks; with pre, the stateless checks of blocks
// (pre.blocks) were done by PrecheckBlocks and are not repeated.
func (c *Chain) addBlocks(blocks []*Block, pre *Prechecked) (int, *AddResult, error) {
	c.recoverIfBroken()
	// A leading run of blocks we already hold (the whole-chain request
	// sends them all, from the genesis, which has no coinbase) is skipped
	// before the checks: they cost no signature checks, as a known block
	// from gossip costs none.
	var all []Hash
	if pre != nil {
		all = pre.hashes
	}
	known := c.knownPrefix(blocks, all)
	if pre != nil && pre.ok < known {
		known = pre.ok // a block we hold sent with a bad body: the sender's fault
	}
	good := blocks[known:]
	bad, badErr := len(good), error(nil)
	cut := func(i int, err error) {
		if i < bad {
			bad, badErr = i, err
			good = good[:i]
		}
	}
	var hashes []Hash
	if pre != nil {
		hashes = all[known:]
		if pre.ok < len(blocks) {
			cut(max(pre.ok-known, 0), pre.err)
		}
	} else {
		hashes = make([]Hash, len(good))
		prev := Hash{}
		if known > 0 {
			prev = blocks[known-1].Hash()
		}
		for i, b := range good {
			hashes[i] = b.Hash()
			// A batch is one branch: each block extends the one before it. A
			// batch that does not is cut at the break.
			if i+known > 0 && b.PrevHash != prev {
				cut(i, fmt.Errorf("block %d of batch (%s) does not extend block %d: %w", i+known, hashes[i], i+known-1, ErrBadPrevHash))
				break
			}
			if err := checkBlockCheap(b, hashes[i], c.p); err != nil {
				cut(i, err)
				break
			}
			prev = hashes[i]
		}
	}
	c.mu.RLock()
	ctxBad, ctxErr := c.checkBatchContext(good, hashes)
	c.mu.RUnlock()
	if ctxBad >= 0 {
		cut(ctxBad, ctxErr)
	}
	if pre == nil {
		for i, b := range good {
			if err := checkBlockBody(b, hashes[i]); err != nil {
				cut(i, err)
				break
			}
		}
		if i, err := verifyBlocksTxs(good, c.network, c.sigs); i >= 0 {
			cut(i, err)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.recoverLocked(); err != nil {
		return 0, nil, err
	}
	p := c.beginSized(len(good))
	res := &AddResult{}
	n := known
	var err error
	var added []Hash
	for i, b := range good {
		var r AddResult
		// The batch's context was checked above, so the low-work rule
		// has passed for the branch as a whole.
		mode := addMode{checked: true, allowLow: true, contextChecked: true}
		if pre != nil && known+i < len(pre.enc) {
			mode.enc = &pre.enc[known+i]
		}
		r, err = c.processBlock(p, b, hashes[i], mode)
		if errors.Is(err, ErrKnownBlock) {
			err = nil
			n++
			continue
		}
		if err != nil {
			break
		}
		res.Status = r.Status
		added = append(added, hashes[i])
		n++
	}
	// Orphans may wait for any block of the batch, not only the last.
	for _, h := range added {
		c.connectOrphans(p, h)
	}
	if cerr := c.finish(p); cerr != nil {
		return 0, nil, cerr
	}
	if err == nil && badErr != nil {
		err = badErr
	}
	res.Connected, res.Disconnected, res.Reorg = p.connected, p.disconnected, len(p.disconnected) > 0
	return n, res, err
}

// checkBatchContext checks the context of a linked batch against the tree
// and the batch's own earlier blocks (as nodes outside the tree), and the
// low-work rule for the batch as one branch: a block passes if it, a later
// block of the batch, or a proven header chain has enough work. It returns
// the index of the first block that fails, or -1. Read lock held.
func (c *Chain) checkBatchContext(blocks []*Block, hashes []Hash) (int, error) {
	if len(blocks) == 0 {
		return -1, nil
	}
	tip := c.main[len(c.main)-1]
	parent := c.nodes[blocks[0].PrevHash]
	if parent == nil {
		return 0, fmt.Errorf("block %s: parent %s: %w", hashes[0], blocks[0].PrevHash, ErrUnknownParent)
	}
	heavy := -1 // the last block whose branch has enough work
	bad, badErr := -1, error(nil)
	work := make([]*big.Int, len(blocks))
	// The batch's nodes live for this check only: from a slab of their
	// own, and the low-work floor computed once (checkWork's rule).
	var slab nodeSlab
	floor := new(big.Int).Mul(workOf(tip.header.Bits), big.NewInt(LowWorkMargin))
	floor.Sub(tip.work, floor)
	for i, b := range blocks {
		h := hashes[i]
		if n, ok := c.nodes[h]; ok && n.status != statusInvalid {
			parent = n // known (a repeat in the batch): processBlock skips it
			heavy, work[i] = i, n.work
			continue
		}
		if _, ok := c.nodes[h]; ok {
			bad, badErr = i, fmt.Errorf("block %s: known to be invalid: %w", h, ErrInvalidAncestor)
			break
		}
		if parent.status == statusInvalid {
			bad, badErr = i, fmt.Errorf("block %s: parent %s: %w", h, parent.hash, ErrInvalidAncestor)
			break
		}
		if err := c.checkContext(&b.Header, h, parent); err != nil {
			bad, badErr = i, err
			break
		}
		parent = slab.newNode(h, b.Header, parent)
		work[i] = parent.work
		if _, ok := c.proven[h]; ok || parent.work.Cmp(floor) >= 0 {
			heavy = i
		}
	}
	end := len(blocks)
	if bad >= 0 {
		end = bad
	}
	if heavy < end-1 {
		return heavy + 1, c.checkWork(hashes[heavy+1], work[heavy+1], tip)
	}
	return bad, badErr
}

// knownPrefix is how many of the first blocks are in the tree and not known
// to be invalid.
// hashes, if not nil, are the blocks' hashes.
func (c *Chain) knownPrefix(blocks []*Block, hashes []Hash) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k := 0
	for i, b := range blocks {
		var h Hash
		if hashes != nil {
			h = hashes[i]
		} else {
			h = b.Hash()
		}
		n, ok := c.nodes[h]
		if !ok || n.status == statusInvalid {
			break
		}
		k++
	}
	return k
}
