package chain

import (
	"fmt"
	"math/big"
)

// The low-work rule and headers-first sync.
//
// A block is stored (and so relayed) only if its branch has, with it, at
// least the work of our head minus LowWorkMargin blocks at the head's
// difficulty: it extends the best chain, races it (a competing block at the
// same height), or is close to overtaking it. Anything below would cost
// every node storage for work nobody has to spend: a branch forking at the
// genesis eases to the difficulty floor after a few retargets. Such a block
// is refused with ErrLowWorkBranch, unless it is on a branch whose headers
// were proven to carry more work than our head (HeaderBranch.Prove), which
// is how a node that was partitioned for long fetches the heavier side.

// LowWorkMargin is how many blocks at the head's difficulty a branch may be
// behind the head and still be stored.
const LowWorkMargin = 6

func workAfter(parent *blockNode, bits uint32) *big.Int {
	return new(big.Int).Add(parent.work, workOf(bits))
}

// checkWork applies the low-work rule to a block whose branch would have
// cumulative work w, against tip. Blocks of a proven branch pass.
func (c *Chain) checkWork(h Hash, w *big.Int, tip *blockNode) error {
	if _, ok := c.proven[h]; ok {
		return nil
	}
	floor := new(big.Int).Mul(workOf(tip.header.Bits), big.NewInt(LowWorkMargin))
	floor.Sub(tip.work, floor)
	if w.Cmp(floor) < 0 {
		return fmt.Errorf("block %s: branch work %s, head %s: %w", h, w, tip.work, ErrLowWorkBranch)
	}
	return nil
}

// maxProven bounds the set of hashes proven by header chains.
const maxProven = 200_000

// MainHeadersAfter lists up to limit main-chain headers that follow the
// first locator hash found on our main chain (the genesis if none is).
func (c *Chain) MainHeadersAfter(locator []Hash, limit int) []Header {
	c.mu.RLock()
	defer c.mu.RUnlock()
	start := uint64(1)
	for _, h := range locator {
		if n, ok := c.nodes[h]; ok && c.onMain(n) {
			start = n.header.Index
			break
		}
	}
	if limit <= 0 || start >= uint64(len(c.main)) {
		return nil
	}
	end := min(uint64(len(c.main)), start+uint64(limit))
	hs := make([]Header, 0, end-start)
	for _, n := range c.main[start:end] {
		hs = append(hs, n.header)
	}
	return hs
}

// HeaderBranch is a chain of headers, not yet blocks, checked against the
// tree as they arrive: each links to the one before (the first to a stored
// block), meets its own bits, carries the bits its parent requires, and has
// a timestamp after the median time past and not too far ahead. It lives in
// memory, bounded by its limit, for one sync session: once its work beats
// our head's, Prove lets the chain store its blocks though the first of
// them have less work than the head. It is not safe for concurrent use.
type HeaderBranch struct {
	c        *Chain
	limit    int
	base     *blockNode   // the stored block the branch starts from
	nodes    []*blockNode // checked headers after base, not in the tree
	received int
}

// NewHeaderBranch starts a session that accepts at most limit headers.
func (c *Chain) NewHeaderBranch(limit int) *HeaderBranch {
	// Blocks a failed commit left in memory only would look held, and
	// never be asked for again (recover.go).
	c.recoverIfBroken()
	return &HeaderBranch{c: c, limit: limit}
}

// Len is the number of checked headers not yet stored as blocks.
func (hb *HeaderBranch) Len() int { return len(hb.nodes) }

// Last is the hash of the branch's last header (or of its base block).
func (hb *HeaderBranch) Last() (Hash, bool) {
	if n := hb.last(); n != nil {
		return n.hash, true
	}
	return Hash{}, false
}

func (hb *HeaderBranch) last() *blockNode {
	if len(hb.nodes) > 0 {
		return hb.nodes[len(hb.nodes)-1]
	}
	return hb.base
}

// Work is the cumulative work of the branch's last header (nil before any).
func (hb *HeaderBranch) Work() *big.Int {
	if n := hb.last(); n != nil {
		return new(big.Int).Set(n.work)
	}
	return nil
}

// Add checks headers that continue the branch. A header whose parent is a
// stored block starts the branch again from there (the first of a session,
// or a peer whose chain changed); headers of blocks we hold are skipped
// while the branch is empty. It stops at the first bad header and returns its
// error; the headers before it stay.
func (hb *HeaderBranch) Add(headers []Header) error {
	c := hb.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, hd := range headers {
		hb.received++
		if hb.received > hb.limit {
			return fmt.Errorf("more than %d headers: %w", hb.limit, ErrTooManyHeaders)
		}
		h := hd.Hash()
		if err := checkProofOfWork(h, hd.Bits, c.p); err != nil {
			return fmt.Errorf("header %s: %w", h, err)
		}
		if n, ok := c.nodes[h]; ok && len(hb.nodes) == 0 {
			// A block we hold: the branch starts after it.
			if n.status == statusInvalid {
				return fmt.Errorf("header %s: known to be invalid: %w", h, ErrInvalidAncestor)
			}
			hb.base = n
			continue
		}
		if last := hb.last(); last == nil || hd.PrevHash != last.hash {
			// A new start on the tree: the first header of a session, or
			// the peer's chain changed between two replies (the
			// headers received so far still count against the limit).
			parent, ok := c.nodes[hd.PrevHash]
			if !ok {
				return fmt.Errorf("header %s: parent %s: %w", h, hd.PrevHash, ErrUnknownParent)
			}
			if parent.status == statusInvalid {
				return fmt.Errorf("header %s: parent %s: %w", h, parent.hash, ErrInvalidAncestor)
			}
			hb.base, hb.nodes = parent, nil
		}
		parent := hb.last()
		if err := c.checkContext(&hd, h, parent); err != nil {
			return err
		}
		hb.nodes = append(hb.nodes, newBlockNode(h, hd, parent))
	}
	return nil
}

// Prove reports whether the branch has more work than our head and, if so,
// lets the chain store the blocks of its headers (AddBlocks and AddBlock
// then skip the low-work rule for them). Each hash is forgotten once its
// block is stored.
func (hb *HeaderBranch) Prove() bool {
	c := hb.c
	c.mu.Lock()
	defer c.mu.Unlock()
	last := hb.last()
	if last == nil || last.work.Cmp(c.main[len(c.main)-1].work) <= 0 {
		return false
	}
	if len(c.proven)+len(hb.nodes) > maxProven {
		clear(c.proven)
	}
	for _, n := range hb.nodes {
		c.proven[n.hash] = struct{}{}
	}
	return true
}
