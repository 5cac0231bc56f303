package chain

import (
	"sort"
	"time"
)

// TreeNode is one block of the recent block tree, for viewers (the web
// dashboard): main chain, side branches and orphans alike.
type TreeNode struct {
	Hash    Hash
	Parent  Hash
	Index   uint64
	Time    time.Time
	Bits    uint32
	Main    bool // on the main chain now
	Invalid bool // known to break a rule
	Orphan  bool // parent unknown: in the orphan pool
}

// RecentTree returns the stored blocks whose index is within depth of the
// head (index > head - depth), on every branch, and the orphans in the
// pool whose index is in that range or above, ordered by index then hash.
// It is read-only and scans the tree's index, so it costs O(stored blocks):
// call it when the tree changes, not per viewer.
func (c *Chain) RecentTree(depth int) []TreeNode {
	c.mu.RLock()
	defer c.mu.RUnlock()
	head := uint64(len(c.main))
	var lo uint64 = 1
	if depth > 0 && uint64(depth) < head {
		lo = head - uint64(depth) + 1
	}
	var out []TreeNode
	for h, n := range c.nodes {
		if n.header.Index < lo {
			continue
		}
		out = append(out, TreeNode{
			Hash: h, Parent: n.header.PrevHash, Index: n.header.Index,
			Time: n.header.Time(), Bits: n.header.Bits,
			Main: c.onMain(n), Invalid: n.status == statusInvalid,
		})
	}
	for h, b := range c.orphans.byHash {
		if b.Index < lo {
			continue
		}
		out = append(out, TreeNode{Hash: h, Parent: b.PrevHash, Index: b.Index, Time: b.Header.Time(), Bits: b.Bits, Orphan: true})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Index != out[j].Index {
			return out[i].Index < out[j].Index
		}
		return string(out[i].Hash[:]) < string(out[j].Hash[:])
	})
	return out
}
