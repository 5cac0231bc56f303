package chain

import (
	"math/big"
	"time"

	"github.com/gossipchain/gossipchain/pow"
)

// blockNode is a block in the tree: every stored block, on the main chain or
// a side branch. Bodies stay on disk; the tree holds headers only.
type blockNode struct {
	hash   Hash
	header Header
	parent *blockNode
	work   *big.Int // cumulative work from the genesis up to and including this block
	status byte
}

func newBlockNode(h Hash, header Header, parent *blockNode) *blockNode {
	// One allocation for the node, its work and the work's words, not
	// three: headers first makes a node per header, opening a store one
	// per stored block.
	nw := new(nodeWithWork)
	nw.w.SetBits(nw.words[:0])
	n := &nw.n
	*n = blockNode{hash: h, header: header, parent: parent, work: &nw.w}
	if parent != nil {
		nw.w.Add(workOf(header.Bits), parent.work)
	} else {
		nw.w.Set(workOf(header.Bits))
	}
	return n
}

// nodeWithWork is a blockNode with room for its work.
type nodeWithWork struct {
	n     blockNode
	w     big.Int
	words [slabWords]big.Word
}

// nodeSlab hands out tree nodes, with their work's big.Int and its words,
// from chunks: a sync adds thousands of nodes that live as long as the
// tree, and three allocations each (node, big.Int, words) were a third of
// a coinbase-only sync's allocations. Write lock held.
type nodeSlab struct {
	nodes []blockNode
	ints  []big.Int
	words []big.Word
}

const (
	slabNodes = 256
	// slabWords is the words each node's work may use before big.Int
	// allocates its own: 256-bit work summed over any real chain fits.
	slabWords = 6
)

// newNode is newBlockNode from the chain's slab.
func (c *Chain) newNode(h Hash, header Header, parent *blockNode) *blockNode {
	return c.slab.newNode(h, header, parent)
}

// newNode is newBlockNode from s.
func (s *nodeSlab) newNode(h Hash, header Header, parent *blockNode) *blockNode {
	if len(s.nodes) == 0 {
		s.nodes = make([]blockNode, slabNodes)
		s.ints = make([]big.Int, slabNodes)
		s.words = make([]big.Word, slabNodes*slabWords)
	}
	n, w := &s.nodes[0], &s.ints[0]
	w.SetBits(s.words[:0:slabWords])
	s.nodes, s.ints, s.words = s.nodes[1:], s.ints[1:], s.words[slabWords:]
	*n = blockNode{hash: h, header: header, parent: parent, work: w}
	if parent != nil {
		w.Add(workOf(header.Bits), parent.work)
	} else {
		w.Set(workOf(header.Bits))
	}
	return n
}

// ancestor walks back to the node at index i (i <= n's index).
func (n *blockNode) ancestor(i uint64) *blockNode {
	for n != nil && n.header.Index > i {
		n = n.parent
	}
	return n
}

// expectedBits is the difficulty a child of parent must carry. Every
// RetargetInterval blocks the target is scaled by how long the last window
// took against how long it should have, clamped ×4/÷4 (Bitcoin's rule).
//
// A window of n blocks is measured over n intervals, from the last block of
// the previous window to the last block of this one: windows overlap by one
// block, so the time between two windows is never left out. (Bitcoin
// measures n−1 intervals from the window's first block, which lets a miner
// set each window's last timestamp late and the next window's first early,
// easing difficulty every period while the clock stands still: the
// time-warp.) The first window has no previous one; it is measured from
// block 2, not from the genesis, whose timestamp is fixed in the params and
// says nothing about when mining started.
func expectedBits(parent *blockNode, p Params) uint32 {
	next := parent.header.Index + 1
	n := p.RetargetInterval
	if n < 2 || (next-1)%n != 0 {
		return parent.header.Bits
	}
	from := max(parent.header.Index-n, 2)
	intervals := parent.header.Index - from
	if intervals == 0 {
		return parent.header.Bits
	}
	first := parent.ancestor(from)
	actual := time.Duration(parent.header.Timestamp-first.header.Timestamp) * time.Millisecond
	expected := time.Duration(intervals) * p.TargetSpacing
	return pow.Retarget(parent.header.Bits, actual, expected, p.LimitBits)
}
