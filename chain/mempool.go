package chain

import (
	"bytes"
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"sync"
)

// Mempool holds transactions waiting for a block. Every transaction in it is
// valid on top of the head state together with the sender's earlier pending
// transactions: per sender, nonces run without gaps from the account's nonce,
// and the balance covers them all. It is bounded by count and bytes; when
// full, a better-paying transaction evicts the lowest-fee one that no other
// pending transaction depends on.
type Mempool struct {
	maxCount, maxBytes int

	mu       sync.Mutex
	byID     map[Hash]*Tx
	bySender map[Address][]*Tx // nonce order, contiguous
	bytes    int
	rejected idCache // recently refused by verifyTx

	onDrop func([]*Tx) // see OnDrop; set before use, called unlocked
}

// NewMempool makes an empty pool with the given caps.
func NewMempool(maxCount, maxBytes int) *Mempool {
	return &Mempool{
		maxCount: maxCount, maxBytes: maxBytes,
		byID: make(map[Hash]*Tx), bySender: make(map[Address][]*Tx),
		rejected: newIDCache(max(maxCount, 1024)),
	}
}

// Len is the number of pending transactions.
func (m *Mempool) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}

// Has reports whether the transaction is pending.
func (m *Mempool) Has(id Hash) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.byID[id]
	return ok
}

// Pending lists pending transactions, best fee first, each sender's in nonce order.
func (m *Mempool) Pending() []*Tx {
	return m.selectTxs(-1, -1)
}

// PendingNonce is the nonce the sender's next transaction must carry.
func (m *Mempool) PendingNonce(a Address, acct Account) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return acct.Nonce + uint64(len(m.bySender[a]))
}

// known answers, for the cost of map lookups, whether a transaction is
// pending (ErrKnownTx) or recently failed verifyTx (that error again: the id
// covers the signature, so the answer cannot change). A transaction of a
// recent block needs no entry: its stale nonce refuses it as cheaply.
func (m *Mempool) known(id Hash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.knownLocked(id)
}

func (m *Mempool) knownLocked(id Hash) error {
	if _, ok := m.byID[id]; ok {
		return fmt.Errorf("tx %s: %w", id, ErrKnownTx)
	}
	return m.rejected.get(id)
}

// check is admission without the signature: everything add checks, against
// head state (get) and the pending transactions, but nothing is changed.
// SubmitTx runs it before verifyTx, so a transaction that would be refused
// anyway costs no signature check.
func (m *Mempool) check(tx *Tx, id Hash, get accountGetter) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.knownLocked(id); err != nil {
		return err
	}
	if _, err := m.fits(tx, id, get); err != nil {
		return err
	}
	if m.full() {
		if victim := m.evictionCandidate(tx.Sender); victim == nil || victim.Fee >= tx.Fee {
			return fmt.Errorf("tx %s: fee %d: %w", id, tx.Fee, ErrMempoolFull)
		}
	}
	return nil
}

// fits checks tx's nonce and balance against head state and the sender's
// pending transactions, and returns that queue. m.mu is held.
func (m *Mempool) fits(tx *Tx, id Hash, get accountGetter) ([]*Tx, error) {
	acct := get(tx.Sender)
	queue := m.bySender[tx.Sender]
	want := acct.Nonce + uint64(len(queue))
	if tx.Nonce != want {
		return nil, fmt.Errorf("tx %s: nonce %d, want %d: %w", id, tx.Nonce, want, ErrBadNonce)
	}
	var spent uint64
	for _, q := range queue {
		spent += q.Amount + q.Fee
	}
	if cost := tx.Amount + tx.Fee; acct.Balance < spent || acct.Balance-spent < cost {
		return nil, fmt.Errorf("tx %s: spends %d with %d available: %w", id, cost, acct.Balance-min(spent, acct.Balance), ErrInsufficientBalance)
	}
	return queue, nil
}

func (m *Mempool) full() bool {
	return len(m.byID)+1 > m.maxCount || m.bytes+TxSize > m.maxBytes
}

// reject remembers that tx id failed verifyTx with err.
func (m *Mempool) reject(id Hash, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejected.put(id, err)
}

// add admits a verified transaction. get reads head state. Everything check
// looked at may have changed since (another submit of the same sender, a new
// head), so add checks it all again under the lock. The transactions it
// evicts to make room go to the OnDrop hook.
func (m *Mempool) add(tx *Tx, get accountGetter) error {
	evicted, err := m.addLocked(tx, get)
	m.dropped(evicted)
	return err
}

func (m *Mempool) addLocked(tx *Tx, get accountGetter) (evicted []*Tx, err error) {
	id := tx.ID()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.knownLocked(id); err != nil {
		return nil, err
	}
	queue, err := m.fits(tx, id, get)
	if err != nil {
		return nil, err
	}
	for m.full() {
		victim := m.evictionCandidate(tx.Sender)
		if victim == nil || victim.Fee >= tx.Fee {
			// Nothing was removed unless room was found: put back what was.
			for _, v := range slices.Backward(evicted) {
				m.byID[v.ID()] = v
				m.bySender[v.Sender] = append(m.bySender[v.Sender], v)
				m.bytes += TxSize
			}
			return nil, fmt.Errorf("tx %s: fee %d: %w", id, tx.Fee, ErrMempoolFull)
		}
		m.removeLast(victim.Sender)
		evicted = append(evicted, victim)
	}
	m.byID[id] = tx
	m.bySender[tx.Sender] = append(queue, tx)
	m.bytes += TxSize
	return evicted, nil
}

// evictionCandidate is the lowest-fee transaction at the end of some other
// sender's queue: removing it leaves no nonce gap.
func (m *Mempool) evictionCandidate(except Address) *Tx {
	var victim *Tx
	for s, q := range m.bySender {
		if s == except || len(q) == 0 {
			continue
		}
		last := q[len(q)-1]
		if victim == nil || last.Fee < victim.Fee {
			victim = last
		}
	}
	return victim
}

func (m *Mempool) removeLast(s Address) {
	q := m.bySender[s]
	last := q[len(q)-1]
	delete(m.byID, last.ID())
	m.bytes -= TxSize
	if len(q) == 1 {
		delete(m.bySender, s)
	} else {
		m.bySender[s] = q[:len(q)-1]
	}
}

// selectTxs picks up to maxCount transactions (maxBytes of encoding; -1 for
// no limit) by fee, never a sender's transaction before its lower nonces: a
// heap holds each sender's next transaction, best fee on top.
func (m *Mempool) selectTxs(maxCount, maxBytes int) []*Tx {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := make(senderHeap, 0, len(m.bySender))
	for _, q := range m.bySender {
		h = append(h, q)
	}
	heap.Init(&h)
	var out []*Tx
	bytes := 0
	for h.Len() > 0 && (maxCount < 0 || len(out) < maxCount) && (maxBytes < 0 || bytes+TxSize <= maxBytes) {
		q := h[0]
		out = append(out, q[0])
		bytes += TxSize
		if len(q) == 1 {
			heap.Pop(&h)
		} else {
			h[0] = q[1:]
			heap.Fix(&h, 0)
		}
	}
	return out
}

type senderHeap [][]*Tx

func (h senderHeap) Len() int { return len(h) }
func (h senderHeap) Less(i, j int) bool {
	if h[i][0].Fee != h[j][0].Fee {
		return h[i][0].Fee > h[j][0].Fee
	}
	// Equal fees: a deterministic order that costs no hashing (each heap
	// entry is a different sender).
	return bytes.Compare(h[i][0].Sender[:], h[j][0].Sender[:]) < 0
}
func (h senderHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *senderHeap) Push(x any)   { *h = append(*h, x.([]*Tx)) }
func (h *senderHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// reset re-checks the pool against a new head state. Transactions of
// disconnected blocks come back (a reorg loses nothing a user submitted);
// those now in the chain, or no longer valid, leave. Over the caps, the
// pool refills by fee as selectTxs picks (a heap of each sender's next
// valid transaction, best fee first), so what is left out is the
// lowest-paying, not the last senders in address order. What is left out
// and may still be valid later (its nonce not yet taken at the head) goes
// to the OnDrop hook.
func (m *Mempool) reset(get accountGetter, connected, disconnected []*Block) {
	m.resetIDs(get, connected, disconnected, nil)
}

// resetIDs is reset with, when ids is not nil, a connected block's
// transaction ids where they are known already (nil: hashed as needed).
// Blocks that only extend the head take the fast path (mempool_connect.go).
func (m *Mempool) resetIDs(get accountGetter, connected, disconnected []*Block, ids func(*Block) []Hash) {
	if len(disconnected) == 0 && len(connected) > 0 {
		m.mu.Lock()
		dropped := m.connectLocked(get, connected, ids)
		m.mu.Unlock()
		m.dropped(dropped)
		return
	}
	m.dropped(m.resetLocked(get, connected, disconnected))
}

// resetLocked rebuilds the pool: reset's general case (a reorg, a
// recovery), and what connectLocked must agree with.
func (m *Mempool) resetLocked(get accountGetter, connected, disconnected []*Block) (dropped []*Tx) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.byID) == 0 && len(m.bySender) == 0 && !holdsTransfers(disconnected) {
		return // nothing to keep or drop: a sync into an empty pool hashes no ids
	}
	// Ids of pending transactions are the pool's keys, and a block rebuilt
	// from a compact one holds the pool's own *Tx: hashing each id again
	// cost three SHA-256 passes over a 2,000-tx block at every node.
	known := make(map[*Tx]Hash, len(m.byID))
	for id, tx := range m.byID {
		known[tx] = id
	}
	idOf := func(tx *Tx) Hash {
		if id, ok := known[tx]; ok {
			return id
		}
		return tx.ID()
	}
	n := 0
	for _, b := range connected {
		n += len(b.Txs) - 1
	}
	inChain := make(map[Hash]bool, n)
	for _, b := range connected {
		for _, tx := range b.Txs[1:] {
			inChain[idOf(tx)] = true
		}
	}
	bySender := make(map[Address][]*Tx)
	add := func(tx *Tx) {
		if !inChain[idOf(tx)] {
			bySender[tx.Sender] = append(bySender[tx.Sender], tx)
		}
	}
	for _, b := range disconnected {
		for _, tx := range b.Txs[1:] {
			add(tx)
		}
	}
	for _, tx := range m.byID {
		add(tx)
	}
	// Each sender's valid queue: nonces without a gap from the account's,
	// within its balance; of two with one nonce, the better fee.
	h := make(senderHeap, 0, len(bySender))
	nonces := make(map[Address]uint64, len(bySender))
	for s, txs := range bySender {
		slices.SortFunc(txs, func(a, b *Tx) int {
			if c := cmp.Compare(a.Nonce, b.Nonce); c != 0 {
				return c
			}
			if c := cmp.Compare(b.Fee, a.Fee); c != 0 {
				return c
			}
			return bytes.Compare(a.Signature[:], b.Signature[:])
		})
		acct := get(s)
		nonces[s] = acct.Nonce
		var q []*Tx
		var spent uint64
		for _, tx := range txs {
			if tx.Nonce != acct.Nonce+uint64(len(q)) {
				continue // mined already (stale nonce), a duplicate, or behind a gap
			}
			if acct.Balance < spent || acct.Balance-spent < tx.Amount+tx.Fee {
				continue
			}
			spent += tx.Amount + tx.Fee
			q = append(q, tx)
		}
		if len(q) > 0 {
			h = append(h, q)
		}
	}
	heap.Init(&h)
	m.byID = make(map[Hash]*Tx, min(len(m.byID)+len(disconnected), m.maxCount))
	m.bySender = make(map[Address][]*Tx)
	m.bytes = 0
	for h.Len() > 0 && len(m.byID) < m.maxCount && m.bytes+TxSize <= m.maxBytes {
		q := h[0]
		tx := q[0]
		m.byID[idOf(tx)] = tx
		m.bySender[tx.Sender] = append(m.bySender[tx.Sender], tx)
		m.bytes += TxSize
		if len(q) == 1 {
			heap.Pop(&h)
		} else {
			h[0] = q[1:]
			heap.Fix(&h, 0)
		}
	}
	seen := make(map[Hash]bool)
	for s, txs := range bySender {
		for _, tx := range txs {
			id := idOf(tx)
			if _, kept := m.byID[id]; kept || seen[id] || tx.Nonce < nonces[s] {
				continue // kept, reported already (a block's copy), or stale
			}
			seen[id] = true
			dropped = append(dropped, tx)
		}
	}
	return dropped
}

// idCache is a bounded map from transaction id to the error a submission
// of it gets, the oldest entry dropped first. Entries are never removed
// otherwise, so each id has one slot.
type idCache struct {
	m    map[Hash]error
	ring []Hash // insertion order; ring[next] is the oldest
	next int
}

func newIDCache(size int) idCache {
	return idCache{m: make(map[Hash]error, size), ring: make([]Hash, 0, size)}
}

func (c *idCache) get(id Hash) error {
	return c.m[id]
}

func (c *idCache) put(id Hash, err error) {
	if _, ok := c.m[id]; ok {
		c.m[id] = err
		return
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, id)
	} else {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = id
		c.next = (c.next + 1) % len(c.ring)
	}
	c.m[id] = err
}

// holdsTransfers reports whether any of blocks has a transaction besides
// its coinbase.
func holdsTransfers(blocks []*Block) bool {
	for _, b := range blocks {
		if len(b.Txs) > 1 {
			return true
		}
	}
	return false
}
