package chain

import "time"

// A failed store commit (a full disk) leaves the chain refusing writes,
// since its memory may be ahead of the disk. recoverLocked, called with
// c.mu held by the next write, reloads the tree, main chain and state from
// the store (what Open reads; bbolt rolled the failed commit back), at most
// once a second, and re-checks the mempool against the reloaded head. So a
// node whose disk filled syncs again by itself once space returns.

const recoverInterval = time.Second

func (c *Chain) recoverLocked() error {
	if c.broken == nil {
		return nil
	}
	if time.Since(c.brokenAt) < recoverInterval {
		return c.broken
	}
	c.brokenAt = time.Now()
	nodes, main, state := c.nodes, c.main, c.state
	c.nodes, c.main, c.state = make(map[Hash]*blockNode), nil, make(map[Address]Account)
	if err := c.load(); err != nil {
		c.nodes, c.main, c.state = nodes, main, state
		c.log.Warn("store still failing", "err", err)
		return c.broken
	}
	c.proven = make(map[Hash]struct{})
	c.pool.reset(c.account, nil, nil)
	c.log.Info("store writable again: reloaded the chain from disk", "index", c.main[len(c.main)-1].header.Index, "was", c.broken)
	c.broken = nil
	return nil
}

// recoverIfBroken tries recoverLocked before a write's checks: a block the
// failed commit left in memory (not on disk) would otherwise be refused as
// known and never stored.
func (c *Chain) recoverIfBroken() {
	c.mu.RLock()
	broken := c.broken != nil
	c.mu.RUnlock()
	if broken {
		c.mu.Lock()
		c.recoverLocked()
		c.mu.Unlock()
	}
}

// StoreFailing reports whether the last block commit failed (a full disk)
// and none has succeeded since. A reload after a failure does not count:
// reads work on a full disk. The miner asks it before publishing a block
// it has not stored yet.
func (c *Chain) StoreFailing() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.writeFailed
}
