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
	n := &blockNode{hash: h, header: header, parent: parent, work: pow.Work(header.Bits)}
	if parent != nil {
		n.work.Add(n.work, parent.work)
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
// RetargetInterval blocks the target is scaled by how long the last interval
// took against how long it should have, clamped ×4/÷4 (Bitcoin's rule).
func expectedBits(parent *blockNode, p Params) uint32 {
	next := parent.header.Index + 1
	n := p.RetargetInterval
	if n < 2 || (next-1)%n != 0 {
		return parent.header.Bits
	}
	first := parent.ancestor(next - n)
	actual := time.Duration(parent.header.Timestamp-first.header.Timestamp) * time.Millisecond
	expected := time.Duration(n-1) * p.TargetSpacing
	return pow.Retarget(parent.header.Bits, actual, expected, p.LimitBits)
}
