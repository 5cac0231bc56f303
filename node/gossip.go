package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// gossipOverhead is room for pubsub's own framing around a block.
const gossipOverhead = 64 << 10

func (n *Node) startGossip() error {
	var err error
	genesis := n.chain.GenesisHash()
	n.ps, err = NewGossipSub(n.ctx, n.host, PubSubConfig{
		MaxMessageSize: n.cfg.Params.MaxBlockBytes + gossipOverhead,
		AppScore:       n.appScore,
		ScoreBook:      n.scores,
		Options:        append([]pubsub.Option{pubsub.WithRawTracer(n.mesh)}, n.cfg.PubSubOptions...),
	})
	if err != nil {
		return err
	}
	txName, blockName := TopicNames(genesis[:])
	n.txTopic, err = JoinTopic(n.ps, txName, TopicConfig{Validator: n.validateTx, ValidatorTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	n.blockTopic, err = JoinTopic(n.ps, blockName, TopicConfig{Validator: n.validateBlock, ValidatorTimeout: 30 * time.Second, ValidatorConcurrency: 64})
	if err != nil {
		return err
	}
	if err := n.startCompact(); err != nil {
		return err
	}
	if n.txSub, err = n.txTopic.Subscribe(); err != nil {
		return err
	}
	if n.blockSub, err = n.blockTopic.Subscribe(); err != nil {
		return err
	}
	if err := n.startStats(); err != nil { // stats.go
		return err
	}
	joins, err := n.txTopic.EventHandler()
	if err != nil {
		return err
	}
	n.spawn(func() { n.announceToNewPeers(joins) })
	// Validators do the work (mempool, chain); the subscriptions only
	// need draining so pubsub keeps delivering.
	for _, sub := range []*pubsub.Subscription{n.txSub, n.blockSub} {
		n.spawn(func() {
			for {
				if _, err := sub.Next(n.ctx); err != nil {
					return
				}
			}
		})
	}
	return nil
}

// announceToNewPeers re-announces the mempool when a peer joins the tx
// topic (at most once a second): a peer that just connected, or came back
// from a partition, has not heard of what is pending here. It is the reason
// a transaction returned by a reorg reaches the other side of a healed
// partition without waiting for the periodic rebroadcast. Peers that know
// the transactions Ignore the message.
func (n *Node) announceToNewPeers(joins *pubsub.TopicEventHandler) {
	defer joins.Cancel()
	var last time.Time
	for {
		ev, err := joins.NextPeerEvent(n.ctx)
		if err != nil {
			return
		}
		if ev.Type != pubsub.PeerJoin || time.Since(last) < time.Second {
			continue
		}
		last = time.Now()
		n.rebroadcastPending()
	}
}

// validateTx admits a gossiped announcement's transactions into the
// mempool before it is forwarded. An announcement over the sender's rate
// limit (txlimit.go) is Ignored unread, and a peer that keeps sending them
// is penalised. Any invalid transaction (malformed, bad address, bad
// signature: what no honest node forwards, since it validates first) makes
// the message Reject and penalises the peer that sent it; an announcement
// with nothing new for us (known, stale, or not yet valid because we may be
// behind) is Ignore.
func (n *Node) validateTx(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == n.host.ID() {
		return pubsub.ValidationAccept // our own: SubmitTx already validated it
	}
	count, err := announcementCount(msg.Data)
	if err != nil {
		return n.rejectTxs(from, err)
	}
	if ok, abuse := n.txq.limit.allow(from, count); !ok {
		if abuse {
			// Light: an honest relay under heavy load can overrun the
			// limit too; only a sustained flood adds up to a ban.
			n.Penalize(from, SeverityLight, fmt.Sprintf("tx gossip over %d announcements or %d txs a second", annInRate, txInRate))
		}
		return pubsub.ValidationIgnore
	}
	start := time.Now()
	defer func() { n.observe("gossip_tx", time.Since(start).Seconds()) }()
	txs, err := decodeTxAnnouncement(msg.Data)
	if err != nil {
		return n.rejectTxs(from, err)
	}
	result := pubsub.ValidationIgnore
	// One batch verification for the announcement's signatures
	// (chain.SubmitTxs), the answers SubmitTx would give one by one.
	for i, err := range n.chain.SubmitTxs(txs) {
		tx := txs[i]
		switch {
		case err == nil:
			n.metrics.TxsReceived.Add(1)
			n.events.publish(Event{Kind: EventTxReceived, Tx: tx, Source: from.String()})
			result = pubsub.ValidationAccept
		case errors.Is(err, chain.ErrKnownTx), errors.Is(err, chain.ErrBadNonce),
			errors.Is(err, chain.ErrInsufficientBalance), errors.Is(err, chain.ErrMempoolFull):
		default:
			return n.rejectTxs(from, err)
		}
	}
	return result
}

// rejectTxs refuses an announcement with an invalid transaction (or an
// invalid encoding) and penalises the peer that sent it: medium, since
// every honest peer checks encodings, addresses and signatures before it
// relays, so a few such announcements ban the sender.
func (n *Node) rejectTxs(from peer.ID, err error) pubsub.ValidationResult {
	n.metrics.TxsRejected.Add(1)
	n.log.Debug("rejected gossiped tx", "from", from, "err", err)
	n.Penalize(from, SeverityMedium, "invalid tx gossip: "+err.Error())
	return pubsub.ValidationReject
}

// validateBlock checks and adds a gossiped block before it is forwarded. A
// block whose parent we lack is kept as an orphan, not forwarded yet, and
// makes us sync from the peer that sent it.
func (n *Node) validateBlock(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == n.host.ID() {
		return pubsub.ValidationAccept // mined here: already in our chain
	}
	start := time.Now()
	defer func() { n.observe("gossip_block", time.Since(start).Seconds()) }()
	n.compact.gossipBytes.Add(uint64(len(msg.Data)))
	b, err := chain.DecodeBlock(msg.Data, n.cfg.Params.MaxBlockBytes)
	if err != nil {
		n.metrics.BlocksRejected.Add(1)
		n.Penalize(from, SeverityMedium, err.Error())
		return pubsub.ValidationReject
	}
	if pending, _ := n.compact.early.state(b.Hash()); pending || n.chain.HasBlock(b.Hash()) {
		return pubsub.ValidationIgnore
	}
	// A parent relayed compact and not yet added (earlyrelay.go) would
	// make this block an orphan: wait for it.
	if _, err := n.compact.early.wait(ctx, b.PrevHash); err != nil {
		return pubsub.ValidationIgnore
	}
	res, err := n.chain.AddBlock(b)
	if err == nil {
		n.noteArrival(from.String(), start, b)
	}
	return n.judgeBlock(from, b.Hash(), res, err)
}

// judgeBlock turns the outcome of a gossiped block's checks, whole or
// compact, into a verdict and penalties: the one place that says what a
// block error means for the peer that forwarded it. An orphan (or an
// unknown parent, from a compact block's header check) makes us sync from
// the sender.
func (n *Node) judgeBlock(from peer.ID, h chain.Hash, res *chain.AddResult, err error) pubsub.ValidationResult {
	switch {
	case err == nil && res.Status == chain.StatusOrphan, errors.Is(err, chain.ErrUnknownParent):
		n.log.Debug("orphan block, syncing", "block", h, "from", from)
		n.syncAsync(from)
		return pubsub.ValidationIgnore
	case err == nil:
		n.metrics.BlocksReceived.Add(1)
		n.log.Debug("block from gossip", "block", h, "status", res.Status, "from", from)
		n.added(res, from.String())
		return pubsub.ValidationAccept
	case errors.Is(err, chain.ErrKnownBlock), errors.Is(err, chain.ErrTimeTooNew):
		return pubsub.ValidationIgnore
	case errors.Is(err, chain.ErrLowWorkBranch):
		// Valid perhaps, but not worth storing or relaying. Not
		// penalised, as Bitcoin Core ignores unrequested low-work
		// blocks: an honest miner that is behind (partitioned, its
		// clock behind the rule, just back from a full disk) sends
		// them, one per block it mines, and banning it kept it out
		// after it recovered. The refusal costs a header check, less
		// than the block's proof of work at the difficulty floor.
		n.metrics.BlocksLowWork.Add(1)
		n.log.Debug("low-work block ignored", "block", h, "from", from, "err", err)
		return pubsub.ValidationIgnore
	case errors.Is(err, chain.ErrStoreFailed), errors.Is(err, chain.ErrStoreDamaged):
		// Our failure, not the block's: neither relay nor blame.
		n.log.Error("gossiped block not stored", "block", h, "err", err)
		return pubsub.ValidationIgnore
	case errors.Is(err, chain.ErrInsufficientBalance), errors.Is(err, chain.ErrBadNonce), errors.Is(err, chain.ErrInvalidAncestor):
		// Broken against state: a relay stores and forwards a side-branch
		// block without applying it, so an honest peer can pass this on.
		n.metrics.BlocksRejected.Add(1)
		n.log.Info("rejected gossiped block", "block", h, "from", from, "err", err)
		n.Penalize(from, SeverityMedium, err.Error())
		return pubsub.ValidationReject
	default:
		// A broken rule every peer checks before relaying.
		n.metrics.BlocksRejected.Add(1)
		n.log.Info("rejected gossiped block", "block", h, "from", from, "err", err)
		n.Penalize(from, SeveritySevere, err.Error())
		return pubsub.ValidationReject
	}
}

// publishBlock gossips a block we mined (or our new head after a sync):
// in compact form unless Config.FullBlockRelay.
func (n *Node) publishBlock(b *chain.Block) {
	publish := func() error { return n.blockTopic.Publish(n.ctx, b.Bytes()) }
	if !n.fullBlockRelay() {
		publish = func() error { return n.publishCompact(b) }
	}
	if err := publish(); err != nil && n.ctx.Err() == nil {
		n.log.Warn("publish block", "block", b.Hash(), "err", err)
	}
}
