package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Compact block relay (issue 12, after BIP152). A block is gossiped on its
// own topic, …/cblocks/1, as its header, the coinbase and a 6-byte short id
// for each other transaction (compactwire.go). A receiver checks the header
// first (proof of work, context, the low-work rule: no transaction work for
// a bad header), rebuilds the block from its mempool, asks the peer that
// sent the message for the transactions it lacks (/gossipchain/blocktxn/1.0.0),
// and falls back to fetching the whole block by hash when the rebuild fails
// (a short-id collision, a Merkle mismatch, a peer that sends wrong
// transactions or does not answer). The message is Accepted, so relayed,
// once the rebuilt block matches its Merkle root and passes the checks of
// its shape; signatures, state and the store commit follow off the relay
// path (earlyrelay.go). The full-block topic stays: nodes validate and
// relay whole blocks there as before, after adding them (older nodes,
// Config.FullBlockRelay).

// Limits and deadlines of the blocktxn protocol.
const (
	txnRequestTimeout   = 5 * time.Second  // one request of ours, dial included
	txnServeTimeout     = 10 * time.Second // one stream we serve
	txnServeConcurrency = 16               // streams served at once; more are reset
	fullFetchPeers      = 4                // peers asked for a whole block, at most
)

// CompactTopicName is the network's compact-block topic.
func CompactTopicName(genesisHash []byte) string {
	return "/gossipchain/" + genesisTag(genesisHash) + "/cblocks/1"
}

// CompactStats counts compact relay's work, for tests and the bench.
type CompactStats struct {
	Received     uint64 // compact blocks from peers whose header passed
	Rebuilt      uint64 // of those, rebuilt from the mempool alone
	TxnRequests  uint64 // blocktxn requests we sent for missing txs
	TxsRequested uint64 // transactions asked for in them
	FullFetches  uint64 // whole blocks fetched after a rebuild failed
	Collisions   uint64 // rebuilds abandoned: repeated short id or Merkle mismatch
	Served       uint64 // blocktxn requests we answered
	GossipBytes  uint64 // block messages' data received, both topics
	TxnBytes     uint64 // blocktxn bytes we sent and received as a client

	// Relay before commit (earlyrelay.go).
	Relayed          uint64        // compact blocks relayed before their commit
	Committed        uint64        // of those, added to the chain afterwards
	FailedAfterRelay uint64        // of those, found invalid afterwards
	RelayTime        time.Duration // summed: message at our validator → relayed
	QueueTime        time.Duration // summed: relayed → commit started
	AddTime          time.Duration // summed: AddBlock of relayed blocks
}

type compactRelay struct {
	topic   *pubsub.Topic
	sub     *pubsub.Subscription
	serving chan struct{}
	full    atomic.Bool // SetFullBlockRelay
	early   *earlyRelay

	received, rebuilt, txnRequests, txsRequested, fullFetches, collisions, served, gossipBytes, txnBytes atomic.Uint64
}

// CompactStats reports compact relay's counters.
func (n *Node) CompactStats() CompactStats {
	c := n.compact
	if c == nil {
		return CompactStats{}
	}
	return CompactStats{
		Received: c.received.Load(), Rebuilt: c.rebuilt.Load(), TxnRequests: c.txnRequests.Load(),
		TxsRequested: c.txsRequested.Load(), FullFetches: c.fullFetches.Load(), Collisions: c.collisions.Load(),
		Served: c.served.Load(), GossipBytes: c.gossipBytes.Load(), TxnBytes: c.txnBytes.Load(),
		Relayed: c.early.relayed.Load(), Committed: c.early.committed.Load(), FailedAfterRelay: c.early.failedN.Load(),
		RelayTime: time.Duration(c.early.relayNanos.Load()), QueueTime: time.Duration(c.early.waitNanos.Load()),
		AddTime: time.Duration(c.early.addNanos.Load()),
	}
}

// startCompact joins the compact-block topic and serves blocktxn.
func (n *Node) startCompact() error {
	genesis := n.chain.GenesisHash()
	c := &compactRelay{serving: make(chan struct{}, txnServeConcurrency), early: newEarlyRelay()}
	var err error
	c.topic, err = JoinTopic(n.ps, CompactTopicName(genesis[:]), TopicConfig{Validator: n.validateCompactBlock, ValidatorTimeout: 30 * time.Second, ValidatorConcurrency: 64})
	if err != nil {
		return err
	}
	if c.sub, err = c.topic.Subscribe(); err != nil {
		return err
	}
	n.compact = c
	n.host.SetStreamHandler(BlockTxnProtocol, n.handleBlockTxnStream)
	n.spawn(n.commitRelayed)
	n.spawn(func() {
		defer c.sub.Cancel()
		for {
			if _, err := c.sub.Next(n.ctx); err != nil {
				return
			}
		}
	})
	return nil
}

// SetFullBlockRelay switches what publishBlock sends from now on: whole
// blocks on the full-block topic (true) or compact blocks (false), as
// Config.FullBlockRelay does at start. The bench compares the two in one
// network.
func (n *Node) SetFullBlockRelay(full bool) { n.compact.full.Store(full) }

func (n *Node) fullBlockRelay() bool { return n.cfg.FullBlockRelay || n.compact.full.Load() }

// publishCompact gossips b in compact form, with a fresh nonce for its
// short-id key.
func (n *Node) publishCompact(b *chain.Block) error {
	return n.publishCompactIDs(b, nil)
}

// publishCompactIDs is publishCompact with b's transaction ids known
// (the miner's template: chain.NewBlockTemplateIDs).
func (n *Node) publishCompactIDs(b *chain.Block, ids []chain.Hash) error {
	return n.compact.topic.Publish(n.ctx, newCompactBlockIDs(b, rand.Uint64(), ids).Bytes())
}

// validateCompactBlock checks a compact block cheapest first: decoding,
// known, the header on its own (CheckHeader), and only then the rebuild and
// the block's shape; a block that passes is relayed, and added to the chain
// afterwards (earlyrelay.go). The verdicts and penalties of what fails
// here are validateBlock's (judgeBlock), against the peer that sent it.
func (n *Node) validateCompactBlock(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == n.host.ID() {
		return pubsub.ValidationAccept // ours: mined or added here
	}
	start := time.Now()
	defer func() { n.observe("gossip_block", time.Since(start).Seconds()) }()
	n.compact.gossipBytes.Add(uint64(len(msg.Data)))
	cb, err := decodeCompactBlock(msg.Data, n.cfg.Params.MaxBlockTxs)
	if err != nil {
		n.metrics.BlocksRejected.Add(1)
		n.Penalize(from, SeverityMedium, err.Error())
		return pubsub.ValidationReject
	}
	early := n.compact.early
	if pending, failed := early.state(cb.hash); pending || failed || n.chain.HasBlock(cb.hash) {
		// A block that failed after we relayed it is Ignored, not
		// Rejected: an honest relay may have forwarded it (in another
		// message) before its own validation ended. Its author was
		// penalised when it failed.
		return pubsub.ValidationIgnore
	}
	// A parent relayed but not yet added: its header's context needs it
	// in the tree, so wait for its commit.
	parentFailed, err := early.wait(ctx, cb.Header.PrevHash)
	if err != nil {
		return pubsub.ValidationIgnore
	}
	if parentFailed {
		// An honest relay waits for the parent as we did, and then
		// refuses the child: medium, as any block on an invalid
		// ancestor.
		return n.judgeBlock(from, cb.hash, nil, fmt.Errorf("block %s: parent %s failed validation: %w", cb.hash, cb.Header.PrevHash, chain.ErrInvalidAncestor))
	}
	if err := n.chain.CheckHeader(cb.Header); err != nil {
		return n.judgeBlock(from, cb.hash, nil, err)
	}
	n.compact.received.Add(1)
	sb, err := n.rebuild(ctx, from, cb)
	var invalid *invalidBlockError
	if errors.As(err, &invalid) {
		return n.judgeBlock(from, cb.hash, nil, invalid.err)
	}
	if err != nil {
		// Nobody could give us the block (or the peers that tried have
		// been penalised): a sync from the sender may still get it.
		n.log.Debug("compact block not rebuilt", "block", cb.hash, "from", from, "err", err)
		n.syncAsync(from)
		return pubsub.ValidationIgnore
	}
	e := &earlyBlock{block: sb.Block, shaped: sb, hash: cb.hash, from: from, author: msg.GetFrom(), start: start, relayedAt: time.Now(), done: make(chan struct{})}
	if err := early.enqueue(ctx, e); err != nil {
		return pubsub.ValidationIgnore
	}
	early.relayed.Add(1)
	early.relayNanos.Add(int64(e.relayedAt.Sub(start)))
	return pubsub.ValidationAccept
}

// invalidBlockError is a rebuilt block (its body matching the header's
// Merkle root) that breaks a rule of its shape: invalid whoever sends it.
type invalidBlockError struct{ err error }

func (e *invalidBlockError) Error() string { return e.err.Error() }
func (e *invalidBlockError) Unwrap() error { return e.err }

// checkShape checks a block whose body is settled, rebuilt or fetched
// whole: a Merkle mismatch or a repeated transaction is returned as is
// (the body is not the header's: a collision, or a lying peer); any other
// failure is an invalidBlockError. ids, when not nil, are the
// transactions' ids as rebuild had them (the mempool's keys, or hashed
// here from the very transaction): see chain.CheckBlockShapeIDs.
func (n *Node) checkShape(b *chain.Block, ids []chain.Hash) (*chain.ShapedBlock, error) {
	sb, err := chain.CheckBlockShapeIDs(b, ids, n.cfg.Params)
	if err == nil || errors.Is(err, chain.ErrBadMerkleRoot) || errors.Is(err, chain.ErrDuplicateTx) {
		return sb, err
	}
	return nil, &invalidBlockError{err}
}

// rebuildFromMempool fills txs, and their ids, from the mempool: one pass
// hashing each pending id with the block's key. Two pending transactions
// matching one short id leave its slot empty, to be asked for.
func (n *Node) rebuildFromMempool(cb *compactBlock, index map[uint64]int, slots []int, txs []*chain.Tx, ids []chain.Hash) {
	n.chain.Mempool().Each(func(id chain.Hash, tx *chain.Tx) {
		s := shortID(cb.key, id)
		k, ok := index[s]
		if !ok {
			return
		}
		if slot := slots[k]; txs[slot] == nil {
			txs[slot], ids[slot] = tx, id
		} else {
			txs[slot] = nil
			delete(index, s)
		}
	})
}

// errCollision marks a rebuild that short ids cannot settle.
var errCollision = errors.New("short-id collision")

// rebuild makes the block of cb from the mempool and, for what it lacks,
// from the peer that sent cb; when that fails it fetches the whole block.
//
// The lookup index is built per block, since the short-id key is: a map
// from short id to position, at most MaxBlockTxs entries, then one pass
// over the mempool (bounded by its cap) hashing each pending id once with
// SipHash. Nothing is kept between blocks.
//
// Each transaction's id comes with it (the mempool's key, or hashed here
// for the prefilled ones and those a peer sent), so the shape check and
// the commit's signature cache hash none again.
func (n *Node) rebuild(ctx context.Context, from peer.ID, cb *compactBlock) (*chain.ShapedBlock, error) {
	txs := make([]*chain.Tx, cb.Count)
	ids := make([]chain.Hash, cb.Count)
	for _, p := range cb.Prefilled {
		txs[p.Index], ids[p.Index] = p.Tx, p.Tx.ID()
	}
	slots := make([]int, 0, len(cb.ShortIDs)) // slot k: the index of short id k
	for i := range txs {
		if txs[i] == nil {
			slots = append(slots, i)
		}
	}
	index := make(map[uint64]int, len(cb.ShortIDs))
	for k, s := range cb.ShortIDs {
		if _, dup := index[s]; dup {
			// Two of the block's transactions share a short id: which
			// is which cannot be told. Honest, if rare (or a miner
			// grinding its own nonce): fetch the block.
			n.compact.collisions.Add(1)
			return n.fetchFullBlock(ctx, cb.hash, from, false)
		}
		index[s] = k
	}
	if len(index) > 0 { // an empty block needs no pass over the mempool
		n.rebuildFromMempool(cb, index, slots, txs, ids)
	}
	var missing []int
	for i, tx := range txs {
		if tx == nil {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		n.compact.rebuilt.Add(1)
	} else {
		got, err := n.requestTxs(ctx, from, cb.hash, missing)
		if err == nil {
			shortOf := make(map[int]uint64, len(slots))
			for k, slot := range slots {
				shortOf[slot] = cb.ShortIDs[k]
			}
			for k, tx := range got {
				id := tx.ID()
				if want, ok := shortOf[missing[k]]; !ok || shortID(cb.key, id) != want {
					err = fmt.Errorf("%w: blocktxn: tx %d of block %s does not match its short id", errPeerMisbehaved, missing[k], cb.hash)
					break
				}
				txs[missing[k]], ids[missing[k]] = tx, id
			}
		}
		if err != nil {
			bad := errors.Is(err, errPeerMisbehaved)
			if bad {
				n.Penalize(from, SeveritySevere, err.Error())
			}
			n.log.Debug("blocktxn failed, fetching the block", "block", cb.hash, "peer", from, "err", err)
			return n.fetchFullBlock(ctx, cb.hash, from, bad)
		}
	}
	sb, err := n.checkShape(&chain.Block{Header: cb.Header, Txs: txs}, ids)
	if err != nil {
		var invalid *invalidBlockError
		if errors.As(err, &invalid) {
			return nil, err
		}
		// A pending transaction took the short id of one of the block's
		// (or the sender lied, which the whole block settles as well).
		n.compact.collisions.Add(1)
		return n.fetchFullBlock(ctx, cb.hash, from, false)
	}
	return sb, nil
}

// txnRequest sends one blocktxn request to p and returns the reply frame
// (nil: p does not have the block).
func (n *Node) txnRequest(ctx context.Context, p peer.ID, req []byte, limit int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, txnRequestTimeout)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "blocktxn"), p, BlockTxnProtocol)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	defer s.Close()
	deadline, _ := ctx.Deadline()
	s.SetDeadline(deadline)
	if err := writeFrame(s, req); err != nil {
		s.Reset()
		return nil, ctxErr(ctx, err)
	}
	if err := s.CloseWrite(); err != nil {
		s.Reset()
		return nil, ctxErr(ctx, err)
	}
	reply, err := readFrame(bufio.NewReader(s), limit)
	n.compact.txnBytes.Add(uint64(len(req) + len(reply) + 2*uvarintSize(uint64(len(reply)))))
	if err != nil {
		s.Reset()
		if errors.Is(err, errFrameTooBig) {
			return nil, fmt.Errorf("%w: %w", errPeerMisbehaved, err)
		}
		return nil, ctxErr(ctx, err)
	}
	return reply, nil
}

var errNoBlock = errors.New("peer does not have the block")

// requestTxs asks p for the transactions at indexes of block h.
func (n *Node) requestTxs(ctx context.Context, p peer.ID, h chain.Hash, indexes []int) ([]*chain.Tx, error) {
	n.compact.txnRequests.Add(1)
	n.compact.txsRequested.Add(uint64(len(indexes)))
	reply, err := n.txnRequest(ctx, p, encodeTxnRequest(h, indexes), txnReplyLimit(len(indexes)))
	if err != nil {
		return nil, err
	}
	if len(reply) == 0 {
		return nil, errNoBlock
	}
	txs, err := decodeTxnReply(reply, len(indexes))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errPeerMisbehaved, err)
	}
	return txs, nil
}

// fetchFullBlock asks for block h whole: first the peer that sent the
// compact block (unless skipFirst: it misbehaved), then a few other peers,
// until one sends a block with that hash whose body matches its Merkle root
// (checkShape). A peer that sends something else is penalised. A body that
// matches but breaks a rule is returned as an invalidBlockError.
func (n *Node) fetchFullBlock(ctx context.Context, h chain.Hash, first peer.ID, skipFirst bool) (*chain.ShapedBlock, error) {
	n.compact.fullFetches.Add(1)
	var peers []peer.ID
	if !skipFirst {
		peers = append(peers, first)
	}
	others := n.host.Network().Peers()
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	for _, p := range others {
		if p != first && len(peers) < fullFetchPeers {
			peers = append(peers, p)
		}
	}
	var errs []error
	for _, p := range peers {
		if ctx.Err() != nil {
			break
		}
		reply, err := n.txnRequest(ctx, p, encodeBlockRequest(h), n.cfg.Params.MaxBlockBytes)
		if err == nil && len(reply) == 0 {
			err = errNoBlock
		}
		var sb *chain.ShapedBlock
		if err == nil {
			var b *chain.Block
			b, err = chain.DecodeBlock(reply, n.cfg.Params.MaxBlockBytes)
			if err == nil && b.Hash() != h {
				err = fmt.Errorf("asked for block %s, got %s", h, b.Hash())
			}
			if err == nil {
				if sb, err = n.checkShape(b, nil); err != nil {
					var invalid *invalidBlockError
					if errors.As(err, &invalid) {
						return nil, err
					}
				}
			}
			if err != nil {
				err = fmt.Errorf("%w: %w", errPeerMisbehaved, err)
			}
		}
		if err == nil {
			return sb, nil
		}
		if errors.Is(err, errPeerMisbehaved) {
			n.Penalize(p, SeveritySevere, err.Error())
		}
		errs = append(errs, fmt.Errorf("%s: %w", p, err))
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no peer to ask"))
	}
	return nil, fmt.Errorf("block %s: %w", h, errors.Join(errs...))
}

// handleBlockTxnStream serves one blocktxn request: transactions of a
// stored block by index, or the whole block. A malformed request resets
// the stream; an unknown block gets an empty frame.
func (n *Node) handleBlockTxnStream(s network.Stream) {
	select {
	case n.compact.serving <- struct{}{}:
		defer func() { <-n.compact.serving }()
	default:
		s.Reset()
		return
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(txnServeTimeout))
	req, err := readFrame(bufio.NewReader(s), maxTxnRequestBytes)
	if err != nil {
		s.Reset()
		return
	}
	typ, h, indexes, err := decodeTxnRequest(req, n.cfg.Params.MaxBlockTxs)
	if err != nil {
		s.Reset()
		return
	}
	var reply []byte
	b, err := n.chain.BlockByHash(h)
	if err != nil {
		// Relayed, its commit still to come (earlyrelay.go): the peers we
		// relayed it to ask us first.
		if pb := n.compact.early.block(h); pb != nil {
			b, err = pb, nil
		}
	}
	if err == nil {
		switch typ {
		case txnReqBlock:
			reply = b.Bytes()
		case txnReqTxs:
			txs := make([]*chain.Tx, len(indexes))
			for k, i := range indexes {
				if i >= len(b.Txs) {
					s.Reset()
					return
				}
				txs[k] = b.Txs[i]
			}
			reply = encodeTxnReply(txs)
		}
	}
	n.compact.served.Add(1)
	w := bufio.NewWriter(s)
	if err := writeFrame(w, reply); err != nil || w.Flush() != nil {
		s.Reset()
	}
}
