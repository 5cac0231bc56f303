package node

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gossipchain/gossipchain/chain"
)

// Admission in groups. Concurrent local submissions (SubmitTx, so the
// API's POST /transactions/new) are admitted to the pool in groups: one
// chain.SubmitTxs call checks a group's signatures as one batch
// (chain/batchverify.go), which costs about half as much a signature as
// checking them one by one. Each transaction still gets the answer
// chain.SubmitTx would give it.
//
// Up to one group a core is admitted at a time (a group of 64 or more
// is also spread over the cores by the batch check). A submitter that
// finds a slot free leads: it yields the processor once, so that
// submitters ready to run queue behind it, then admits itself with the
// queue; a lone submitter's yield returns at once, so it is admitted as
// before. A submitter that finds every slot taken queues; a leader, once
// done, hands the whole queue to its first, who admits it as the next
// group. Groups therefore grow with the load, the shape of the log's
// group commit (chain/txlog.go), and the queue is bounded by the
// submitters waiting in it.
//
// The yield is what makes groups: the Go scheduler runs a woken
// submitter until it blocks, so without it every submitter found a free
// slot and groups stayed at one transaction. One slot in all, rather than
// one a core, left a core idle under load (docs/BENCHMARKS.md).

// maxAdmitGroup bounds a group: a few chunks of the batch verifier, so
// the first submitter of a huge queue does not answer last by much.
const maxAdmitGroup = 256

type admitter struct {
	submit func([]*chain.Tx) []error // chain.SubmitTxs

	mu      sync.Mutex
	queue   []*admission
	leading int // groups being admitted
	leaders int // groups at once: one a core

	groups, txs atomic.Int64
}

// AdmissionStats counts local submissions admitted (Txs) in how many
// groups (Groups) since start.
type AdmissionStats struct {
	Groups, Txs int64
}

// AdmissionStats reports how local submissions were grouped (admit.go).
func (n *Node) AdmissionStats() AdmissionStats {
	return AdmissionStats{Groups: n.admission.groups.Load(), Txs: n.admission.txs.Load()}
}

// An admission is one submitter's transaction and, once done is closed,
// its answer, unless lead was set: then it is to admit lead (itself
// first) and answer the others.
type admission struct {
	tx   *chain.Tx
	err  error
	lead []*admission
	done chan struct{}
}

func newAdmitter(submit func([]*chain.Tx) []error) *admitter {
	return &admitter{submit: submit, leaders: runtime.GOMAXPROCS(0)}
}

// admit admits tx to the pool, alone or in a group, and returns what
// chain.SubmitTx would.
func (a *admitter) admit(tx *chain.Tx) error {
	me := &admission{tx: tx}
	a.mu.Lock()
	if a.leading < a.leaders {
		a.leading++
		a.mu.Unlock()
		runtime.Gosched() // let the submitters ready to run queue
		a.mu.Lock()
		group := append(make([]*admission, 0, 1+min(len(a.queue), maxAdmitGroup-1)), me)
		group = append(group, a.takeQueue(maxAdmitGroup-1)...)
		a.mu.Unlock()
		a.admitGroup(group)
		return me.err
	}
	me.done = make(chan struct{})
	a.queue = append(a.queue, me)
	a.mu.Unlock()
	<-me.done
	if me.lead != nil {
		a.admitGroup(me.lead)
	}
	return me.err
}

// admitGroup admits group (its leader first), hands the queue on as the
// next group, then answers the others.
func (a *admitter) admitGroup(group []*admission) {
	txs := make([]*chain.Tx, len(group))
	for i, ad := range group {
		txs[i] = ad.tx
	}
	errs := a.submit(txs)
	a.groups.Add(1)
	a.txs.Add(int64(len(txs)))

	a.mu.Lock()
	next := a.takeQueue(maxAdmitGroup)
	if next == nil {
		a.leading--
	}
	a.mu.Unlock()
	if next != nil {
		next[0].lead = next
		close(next[0].done)
	}

	for i, ad := range group {
		ad.err = errs[i]
		if i > 0 { // the leader's done is closed already, or it has none
			close(ad.done)
		}
	}
}

// takeQueue removes and returns up to max queued admissions, oldest
// first; nil when none. a.mu is held.
func (a *admitter) takeQueue(max int) []*admission {
	n := min(len(a.queue), max)
	if n == 0 {
		return nil
	}
	taken := a.queue[:n:n]
	if n == len(a.queue) {
		a.queue = nil
	} else {
		a.queue = append([]*admission(nil), a.queue[n:]...)
	}
	return taken
}
