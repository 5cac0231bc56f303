package node

import "sync/atomic"

// Metrics are the node's counters. The API exports them to Prometheus; the
// node only counts. Timings go through Config.Observe.
type Metrics struct {
	BlocksReceived atomic.Uint64 // blocks from gossip that were new
	BlocksRejected atomic.Uint64 // blocks from gossip or sync that broke a rule
	BlocksLowWork  atomic.Uint64 // gossiped blocks ignored by the low-work rule (not penalised)
	BlocksSynced   atomic.Uint64 // blocks accepted through the sync protocol
	BlocksMined    atomic.Uint64
	BlocksServed   atomic.Uint64 // blocks sent in replies to blocks-by-hash requests
	TxsReceived    atomic.Uint64 // transactions from gossip accepted into the mempool
	TxsRejected    atomic.Uint64 // transactions from gossip that broke a rule
	TxsAccepted    atomic.Uint64 // local submissions accepted
	TxsNotDurable  atomic.Uint64 // local submissions refused: the pending-tx log could not write
	TxsParked      atomic.Uint64 // acknowledged transactions the pool let go, parked (acked.go)
	Reorgs         atomic.Uint64
	PeersPenalised atomic.Uint64
}

// Metrics returns the node's live counters.
func (n *Node) Metrics() *Metrics { return &n.metrics }

func (n *Node) observe(name string, seconds float64) {
	if n.cfg.Observe != nil {
		n.cfg.Observe(name, seconds)
	}
}
