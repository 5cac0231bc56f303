package node

import (
	"sync/atomic"
	"time"
)

// SyncPhases is where one parallel sync's time went, each instant counted
// from the sync's start (SyncFrom's; its status and header requests are
// the first phase): the headers, the blocks arriving, and the two
// stages that store them (download.go). The bench prints it for every
// sync it times, so a reader sees what bounds that sync (the head before
// the first precheck, the commit after the last block) without a
// temporary trace.
type SyncPhases struct {
	Total time.Duration // the sync's start → its end
	// Headers is the time spent getting and checking header branches,
	// summed over the sync's sessions; the last one, which finds nothing
	// more, comes after the download.
	Headers    time.Duration
	Download   time.Duration // the first download started (its headers checked)
	Blocks     int           // blocks received (a block delivered twice counts once)
	FirstBlock time.Duration // the first block received
	LastBlock  time.Duration // the last block received
	FirstCheck time.Duration // the first precheck started
	// Prechecks (signatures and stateless checks, on all cores) and
	// commits (state and store, one core): how many, their time summed,
	// and the last commit's time (it runs after the last block arrived).
	Prechecks    int
	PrecheckBusy time.Duration
	Commits      int
	CommitBusy   time.Duration
	LastCommit   time.Duration
}

// syncClock records a sync's phases. The download's calls are made with
// its lock held; the sessions of one sync run one after another.
type syncClock struct {
	start time.Time
	ph    SyncPhases
}

func newSyncClock() *syncClock { return &syncClock{start: time.Now()} }

func (c *syncClock) since() time.Duration { return time.Since(c.start) }

// headers adds a header session's time (no download runs meanwhile).
func (c *syncClock) headers(d time.Duration) { c.ph.Headers += d }

// downloading marks a download's start; the first is the end of the
// sync's head, which no block can shorten.
func (c *syncClock) downloading() {
	if c.ph.Download == 0 {
		c.ph.Download = c.since()
	}
}

func (c *syncClock) received(k int) {
	if k == 0 {
		return
	}
	now := c.since()
	if c.ph.Blocks == 0 {
		c.ph.FirstBlock = now
	}
	c.ph.LastBlock = now
	c.ph.Blocks += k
}

func (c *syncClock) precheckStarted() {
	if c.ph.Prechecks == 0 {
		c.ph.FirstCheck = c.since()
	}
	c.ph.Prechecks++
}

func (c *syncClock) prechecked(d time.Duration) { c.ph.PrecheckBusy += d }

func (c *syncClock) committed(d time.Duration) {
	c.ph.Commits++
	c.ph.CommitBusy += d
	c.ph.LastCommit = d
}

// finish returns the phases with the total taken now.
func (c *syncClock) finish() SyncPhases {
	ph := c.ph
	ph.Total = c.since()
	return ph
}

// lastSync holds the phases of the parallel sync that ended last.
type lastSync struct{ p atomic.Pointer[SyncPhases] }

// LastSyncPhases returns the phases of the last parallel sync (SyncFrom
// without Config.SyncSerial) to end, and false if none has: with several
// syncs at once (status polls), whichever ended last.
func (n *Node) LastSyncPhases() (SyncPhases, bool) {
	if p := n.lastSync.p.Load(); p != nil {
		return *p, true
	}
	return SyncPhases{}, false
}
